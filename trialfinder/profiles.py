"""Patient profiles: what matching needs to know about a person, validated.

A profile comes from a JSON or TOML file, from command-line options, or both
(options win). Every invalid field gives one message naming the field and
what is allowed. Time is reckoned from ``as_of`` (default: today), so results
are reproducible.

Facts may be imprecise: "34" years old means somewhere in [34, 35); "18
months" since injury means [18, 19) months; a phase without a date means the
whole range that phase spans. Matching works on these intervals, so a fact
the profile only roughly knows never produces a false certainty.

Only the condition terms (and, when a distance limit is asked for, the
search coordinates) are ever sent to the registry; everything else here is
matched on this machine.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import places
from .errors import InputError, ProfileError
from .models import DAYS_PER
from .seeds import Condition, knowledge

FIELDS = (
    "conditions", "age", "birth_date", "sex", "injury_date", "onset_date", "time_since_onset", "phase",
    "ais_grade", "neurological_level", "gmfcs_level", "location", "max_distance_km", "as_of",
)  # fmt: skip

# What each field allows, for error messages (the validators' own messages say it their way).
ALLOWED = {
    "conditions": "a list of conditions, e.g. ['spinal cord injury'] or ['stroke']",
    "age": "a number of years from 0 to 125",
    "birth_date": "a date as YYYY-MM-DD",
    "sex": "male or female",
    "injury_date": "a date as YYYY-MM-DD",
    "onset_date": "a date as YYYY-MM-DD",
    "time_since_onset": "a number and a unit, e.g. '18 months' or '3 days'",
    "phase": "acute, subacute or chronic",
    "ais_grade": "one of A, B, C, D, E",
    "neurological_level": "C1-C8, T1-T12, L1-L5 or S1-S5",
    "gmfcs_level": "one of I, II, III, IV, V (or 1-5)",
    "location": "a city, a US ZIP code, LAT,LON, or a table with lat (-90..90) and lon (-180..180)",
    "max_distance_km": "a number of kilometres greater than 0",
    "as_of": "a date as YYYY-MM-DD",
}

_DURATION = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(years?|yrs?|y|months?|mos?|weeks?|wks?|w|days?|d|hours?|hrs?|h)\s*$", re.IGNORECASE
)
_UNIT = {"y": "year", "m": "month", "w": "week", "d": "day", "h": "hour"}
_ROMAN = {"1": "I", "2": "II", "3": "III", "4": "IV", "5": "V"}


def parse_duration(text: str) -> tuple[float, float]:
    """``"18 months"`` → the interval of days it stands for: [18 months, 19 months)."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration; write a number and a unit, e.g. '18 months' or '3 days'")
    value = float(match.group(1))
    unit = _UNIT[match.group(2)[0].lower()]
    per = DAYS_PER[unit]
    return value * per, (value + 1) * per


class Location(BaseModel):
    model_config = ConfigDict(frozen=True)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    label: str | None = None


@functools.lru_cache(maxsize=256)
def _known_conditions(terms: tuple[str, ...]) -> tuple[Condition, ...]:
    """Resolved once per set of terms: matching asks for every trial it checks."""
    found: dict[str, Condition] = {}
    for term in terms:
        for condition in knowledge().resolve(term):
            found.setdefault(condition.id, condition)
    return tuple(found.values())


class Profile(BaseModel):
    """A patient profile. Use ``load_profile`` or ``Profile.build``; all fields are optional but conditions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    conditions: list[str] = Field(min_length=1)
    age: float | None = Field(default=None, ge=0, le=125)
    birth_date: dt.date | None = None
    sex: Literal["male", "female"] | None = None
    injury_date: dt.date | None = None
    onset_date: dt.date | None = None
    time_since_onset: str | None = None
    phase: Literal["acute", "subacute", "chronic"] | None = None
    ais_grade: Literal["A", "B", "C", "D", "E"] | None = None
    neurological_level: str | None = None
    gmfcs_level: Literal["I", "II", "III", "IV", "V"] | None = None
    location: Location | None = None
    max_distance_km: float | None = Field(default=None, gt=0)
    as_of: dt.date = Field(default_factory=dt.date.today)

    # -- field checks -------------------------------------------------------

    @field_validator("conditions", mode="before")
    @classmethod
    def _conditions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            value = [" ".join(str(v).split()) for v in value if re.search(r"\w", str(v))]  # words, not just "*"
            if not value:
                raise ValueError("give at least one condition, e.g. 'spinal cord injury' or 'stroke'")
        return value

    @field_validator("age", "max_distance_km", mode="before")
    @classmethod
    def _number(cls, value: Any, info: Any) -> Any:
        if isinstance(value, bool):  # true would otherwise count as 1
            raise ValueError(f"{value!r} is not a number; use {ALLOWED[info.field_name]}")
        return value

    @field_validator("birth_date", "injury_date", "onset_date", "as_of", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, (bool, int, float)):  # pydantic would read a number as a Unix timestamp
            raise ValueError(f"{value!r} is not a date; use YYYY-MM-DD")
        return value

    @field_validator("sex", mode="before")
    @classmethod
    def _sex(cls, value: Any) -> Any:
        if isinstance(value, str):
            v = value.strip().lower()
            value = {"m": "male", "man": "male", "f": "female", "woman": "female"}.get(v, v)
            if value not in ("male", "female"):
                raise ValueError(f"{value!r} is not allowed; use male or female (or leave it out)")
        return value

    @field_validator("ais_grade", mode="before")
    @classmethod
    def _ais(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip().upper().removeprefix("AIS").removeprefix("ASIA").strip()
            if value not in knowledge().ais_grades:
                raise ValueError(f"{value!r} is not an AIS grade; use one of A, B, C, D, E")
        return value

    @field_validator("gmfcs_level", mode="before")
    @classmethod
    def _gmfcs(cls, value: Any) -> Any:
        if value is None:
            return value
        v = str(value).strip().upper().removeprefix("GMFCS").strip().removeprefix("LEVEL").strip()
        v = _ROMAN.get(v, v)
        if v not in knowledge().gmfcs_levels:
            raise ValueError(f"{value!r} is not a GMFCS level; use one of I, II, III, IV, V (or 1-5)")
        return v

    @field_validator("neurological_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, str):
            v = value.strip().upper().replace(" ", "")
            if v not in knowledge().levels:
                raise ValueError(f"{value!r} is not a neurological level; use C1-C8, T1-T12, L1-L5 or S1-S5")
            value = v
        return value

    @field_validator("time_since_onset", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        if value is not None:
            parse_duration(str(value))
        return value

    @field_validator("location", mode="before")
    @classmethod
    def _location(cls, value: Any) -> Any:
        if isinstance(value, str):
            place = places.resolve(value)
            return {"lat": place.lat, "lon": place.lon, "label": place.label}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Profile:
        if self.birth_date and self.birth_date > self.as_of:
            raise ValueError(f"birth_date {self.birth_date} is after as_of {self.as_of}; give a date on or before it")
        for name in ("injury_date", "onset_date"):
            when = getattr(self, name)
            if when and when > self.as_of:
                raise ValueError(f"{name} {when} is after as_of {self.as_of}; give a date on or before it")
            if when and self.birth_date and when < self.birth_date:
                raise ValueError(f"{name} {when} is before birth_date {self.birth_date}")
        given = [n for n in ("injury_date", "onset_date", "time_since_onset") if getattr(self, n)]
        if len(given) > 1:
            raise ValueError(f"give only one of injury_date, onset_date and time_since_onset (got {', '.join(given)})")
        if self.age is not None and self.birth_date:
            derived = (self.as_of - self.birth_date).days / DAYS_PER["year"]
            if abs(derived - self.age) >= 1:
                raise ValueError(f"age {self.age:g} does not fit birth_date {self.birth_date} (as of {self.as_of})")
        if self.phase and self.onset_interval_from_dates() is not None:
            lo, hi = self.onset_interval_from_dates()
            windows = self.phase_windows()
            if windows and self.phase in windows:
                plo, phi = _window_span(windows[self.phase])
                if hi <= plo or lo >= phi:
                    raise ValueError(
                        f"phase {self.phase!r} does not fit the time since injury or onset; "
                        "remove phase (it is worked out from the date) or correct the date"
                    )
        if self.max_distance_km is not None and self.location is None:
            raise ValueError("max_distance_km needs a location (a city, a US ZIP code or LAT,LON)")
        return self

    # -- derived facts (intervals in days) ----------------------------------

    def age_interval(self) -> tuple[float, float] | None:
        """The patient's age in days, as [low, high)."""
        if self.birth_date:
            # Whole years by the calendar, so that an 18th birthday is exactly 18 years (leap days included).
            b, today = self.birth_date, self.as_of
            years = today.year - b.year - ((today.month, today.day) < (b.month, b.day))
            last = _anniversary(b, b.year + years)
            days = years * DAYS_PER["year"] + (today - last).days
            return days, days + 1
        if self.age is not None:
            return self.age * DAYS_PER["year"], (int(self.age) + 1) * DAYS_PER["year"]
        return None

    def onset_interval_from_dates(self) -> tuple[float, float] | None:
        when = self.injury_date or self.onset_date
        if when:
            days = float((self.as_of - when).days)
            return days, days + 1
        if self.time_since_onset:
            return parse_duration(self.time_since_onset)
        return None

    def onset_interval(self) -> tuple[float, float] | None:
        """Time since injury or onset in days, as [low, high); a phase alone gives its widest span."""
        found = self.onset_interval_from_dates()
        if found is not None:
            return found
        windows = self.phase_windows()
        if self.phase and windows and self.phase in windows:
            return _window_span(windows[self.phase])
        return None

    def known_conditions(self) -> list[Condition]:
        """The conditions from seeds/conditions.toml that the profile's terms stand for."""
        return list(_known_conditions(tuple(self.conditions)))

    def unknown_condition_terms(self) -> list[str]:
        return [t for t in self.conditions if not knowledge().resolve(t)]

    def phase_windows(self) -> dict[str, Any] | None:
        """Phase windows of the first condition that has them (the injury or onset the dates refer to)."""
        for condition in self.known_conditions():
            if condition.id in knowledge().phases:
                return knowledge().phases[condition.id]
        return None

    def derived_phase(self) -> str | None:
        """The phase all definitions agree on for this time since onset, or a range like 'subacute or chronic'."""
        windows = self.phase_windows()
        interval = self.onset_interval_from_dates()
        if self.phase:
            return self.phase
        if not windows or interval is None:
            return None
        fits = [name for name, w in windows.items() if _overlaps(interval, _window_span(w))]
        return " or ".join(fits) if fits else None

    def describe(self) -> str:
        """A one-line summary for headers (no dates of birth: age only)."""
        parts = [", ".join(self.conditions)]
        age = self.age_interval()
        if age:
            parts.append(f"{int(age[0] // DAYS_PER['year'])} years")
        if self.sex:
            parts.append(self.sex)
        phase = self.derived_phase()
        onset = self.onset_interval_from_dates()
        if onset:
            since = "injury" if self.injury_date else "onset" if self.onset_date else "injury or onset"
            parts.append(f"{_describe_days(onset[0])} since {since}" + (f" ({phase})" if phase else ""))
        elif phase:
            parts.append(phase)
        if self.ais_grade:
            parts.append(f"AIS {self.ais_grade}")
        if self.neurological_level:
            parts.append(f"level {self.neurological_level}")
        if self.gmfcs_level:
            parts.append(f"GMFCS {self.gmfcs_level}")
        if self.location:
            near = self.location.label or f"{self.location.lat:.2f},{self.location.lon:.2f}"
            parts.append(f"near {near}" + (f" (within {self.max_distance_km:g} km)" if self.max_distance_km else ""))
        return " · ".join(parts)


def _window_span(window: Any) -> tuple[float, float]:
    """The widest span a phase can cover over all definitions."""
    return window.start[0], window.end[1] if window.end else float("inf")


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _describe_days(days: float) -> str:
    if days < 14:
        return f"{days:.0f} days"
    if days < 120:
        return f"{days / 7:.0f} weeks"
    if days < 730:
        return f"{days / DAYS_PER['month']:.0f} months"
    return f"{days / DAYS_PER['year']:.1f} years"


def build(data: dict[str, Any], *, source: str = "profile") -> Profile:
    """Validate profile data; errors name the field and what is allowed."""
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ProfileError(f"{source}: unknown field {unknown[0]!r}; allowed fields are {', '.join(FIELDS)}")
    try:
        return Profile.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        raise ProfileError(f"{source}: {_describe(exc)}") from None
    except InputError as exc:  # a place that can't be resolved, raised inside the location validator
        raise ProfileError(f"{source}: field 'location': {exc}") from None


def _describe(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = err.get("loc", ())
    field = ".".join(str(p) for p in loc) or "profile"
    kind = err.get("type", "")
    msg = err.get("msg", "invalid").removeprefix("Value error, ")
    shown = repr(err.get("input"))
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    if kind.startswith("date"):
        msg = f"{shown} is not a date; use YYYY-MM-DD"
    elif kind == "missing":
        msg = "is required" + (f"; use {ALLOWED[str(loc[0])]}" if loc and str(loc[0]) in ALLOWED else "")
    elif kind != "value_error" and loc and str(loc[0]) in ALLOWED:
        # pydantic's own words ("Input should be a valid number") don't say what is allowed.
        msg = f"{shown} is not allowed; use {ALLOWED[str(loc[0])]}"
    if not field or field == "profile":
        return msg
    return f"field {field!r}: {msg}"


def read_file(path: str | Path) -> dict[str, Any]:
    """The raw fields of a profile file (TOML or JSON, chosen by extension, else by content)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ProfileError(f"can't read the profile {path}: {exc.strerror or exc}") from None
    try:
        if path.suffix.lower() == ".json" or text.lstrip().startswith("{"):
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"the profile {path} is not valid TOML or JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"the profile {path} must hold a table of fields")
    return data


def load_profile(
    path: str | Path | None = None,
    *,
    base: dict[str, Any] | None = None,
    source: str | None = None,
    **overrides: Any,
) -> Profile:
    """A profile from ``base`` (a stored patient's fields), a file over it, command-line values over both."""
    data = dict(base or {})
    if path:
        data.update(read_file(path))
    data.update({k: v for k, v in overrides.items() if v is not None})
    if "conditions" not in data:
        raise ProfileError("a profile needs conditions: give --profile FILE or --condition, e.g. --condition stroke")
    return build(data, source=str(path) if path else source or "profile")


def lasting_fields(profile: Profile) -> dict[str, Any]:
    """The fields worth keeping for a patient: facts that stay true as time passes.

    ``as_of`` is dropped (stored profiles are reckoned from the day they are
    used), and so are age and phase when a date gives them (a stored "subacute"
    would soon be wrong; the injury date keeps it right).
    """
    data = profile.model_dump(mode="json", exclude_none=True, exclude={"as_of"})
    if profile.birth_date:
        data.pop("age", None)
    if profile.injury_date or profile.onset_date:
        data.pop("phase", None)
    return data


def frozen_fields(data: dict[str, Any]) -> str | None:
    """A note on stored fields that will not advance with time, or None.

    Age without a birth date, and time since onset or a phase without a date,
    stay as given; a date keeps them current.
    """
    fixes = []
    if "age" in data and "birth_date" not in data:
        fixes.append("age (give --birth-date instead)")
    dated = data.get("injury_date") or data.get("onset_date")
    if ("time_since_onset" in data or "phase" in data) and not dated:
        fixes.append("time since injury or onset (give --injury-date or --onset-date instead)")
    if not fixes:
        return None
    return "these stay as given and will not advance with time: " + "; ".join(fixes)


def _anniversary(day: dt.date, year: int) -> dt.date:
    """The same date in another year (29 February becomes 28 February)."""
    try:
        return day.replace(year=year)
    except ValueError:
        return day.replace(year=year, day=28)
