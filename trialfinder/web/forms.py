"""The profile form: the fields people fill in, validated by the same ``Profile`` model as the CLI.

Values arrive as strings (from a query string or a posted form). They are
handed, unchanged but for blanks, to ``profiles.Profile``; each error comes
back keyed by the field it belongs to, so the page can show it beside that
field. Nothing about a profile is stored here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from pydantic import ValidationError

from ..errors import InputError
from ..profiles import FIELDS, Profile
from ..seeds import knowledge

# The fields the web form offers, in order (``as_of`` stays the CLI's: the web always reckons from today).
FORM_FIELDS = (
    "conditions", "age", "birth_date", "sex", "injury_date", "onset_date", "time_since_onset", "phase",
    "ais_grade", "neurological_level", "gmfcs_level", "location", "max_distance_km",
)  # fmt: skip
_SPLIT = re.compile(r"[;,\n]")
LABELS = {
    "conditions": "Conditions",
    "age": "Age (years)",
    "birth_date": "Date of birth",
    "sex": "Sex",
    "injury_date": "Date of injury",
    "onset_date": "Date of onset",
    "time_since_onset": "Time since injury or onset",
    "phase": "Phase",
    "ais_grade": "AIS grade",
    "neurological_level": "Neurological level",
    "gmfcs_level": "GMFCS level",
    "location": "Where you live",
    "max_distance_km": "Furthest distance (km)",
    "as_of": "today",
}


@dataclass
class ProfileForm:
    """What was typed, the profile it makes (when valid) and the errors by field."""

    values: dict[str, str] = field(default_factory=dict)
    profile: Profile | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def submitted(self) -> bool:
        return any(self.values.values())

    def query(self) -> str:
        """The profile as a query string, so a trial page can check the same profile."""
        return urlencode({k: v for k, v in self.values.items() if v})


def read(source: Mapping[str, Any]) -> ProfileForm:
    """The profile fields from a query string or form, validated if any were given."""
    values = {name: str(source.get(name) or "").strip() for name in FORM_FIELDS}
    form = ProfileForm(values)
    if form.submitted:
        form.profile, form.errors = validate(values)
    return form


def from_stored(profile: Mapping[str, Any]) -> dict[str, str]:
    """A stored patient's fields as form values (to fill the form in)."""
    values: dict[str, str] = {}
    for name in FORM_FIELDS:
        value = profile.get(name)
        if value is None:
            continue
        if name == "conditions":
            value = ", ".join(value)
        elif name == "location" and isinstance(value, Mapping):
            value = value.get("label") or f"{value.get('lat')},{value.get('lon')}"
        elif isinstance(value, float) and value.is_integer():
            value = int(value)
        values[name] = str(value)
    return values


def validate(values: Mapping[str, str]) -> tuple[Profile | None, dict[str, str]]:
    """A ``Profile`` from form values, or None and each field's error."""
    data: dict[str, Any] = {k: v for k, v in values.items() if k in FIELDS and v}
    if "conditions" in data:
        data["conditions"] = [c for c in (" ".join(p.split()) for p in _SPLIT.split(data["conditions"])) if c]
    if "location" in data and re.fullmatch(r"\s*-?\d+(\.\d+)?\s*,\s*-?\d+(\.\d+)?\s*", data["location"]):
        lat, lon = (float(x) for x in data["location"].split(","))
        data["location"] = {"lat": lat, "lon": lon}
    errors: dict[str, str] = {}
    if not data.get("conditions"):
        errors["conditions"] = "give at least one condition, e.g. spinal cord injury or stroke"
        data.pop("conditions", None)
    try:
        profile = Profile.model_validate(data)
    except InputError as exc:  # a place that can't be found, raised inside the location validator
        errors["location"] = str(exc)
        data.pop("location")
        profile = None
        try:
            Profile.model_validate(data)
        except ValidationError as more:
            errors = {**field_errors(more), **errors}
    except ValidationError as exc:
        errors = {**field_errors(exc), **errors}
        profile = None
    if errors:
        return None, errors
    return profile, {}


def field_errors(exc: ValidationError) -> dict[str, str]:
    """Each error of the model as plain words, keyed by field (checks across fields go to the field they name)."""
    found: dict[str, str] = {}
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        kind = err.get("type")
        if kind == "literal_error":
            msg = f"{err.get('input')!r} is not allowed; {msg.lower()}"
        elif kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
            msg = f"{err.get('input')!r} is not a date; use YYYY-MM-DD"
        elif kind in ("float_parsing", "float_type"):
            msg = f"{err.get('input')!r} is not a number"
        elif kind == "missing":
            msg = "is required"
        name = loc[0] if loc else _named_field(msg)
        if name == "conditions" and kind == "missing":
            continue  # said already, in the form's own words
        for field_name, label in LABELS.items():  # "injury_date" → "Date of injury": the words on the form
            msg = re.sub(rf"\b{field_name}\b", label.lower() if field_name == "as_of" else label, msg)
        found.setdefault(name or "form", msg)
    return found


def _named_field(message: str) -> str | None:
    """The first profile field a cross-field message names ("injury_date … is after as_of" → injury_date)."""
    hits = [(message.find(name), name) for name in FORM_FIELDS if re.search(rf"\b{name}\b", message)]
    return min(hits)[1] if hits else None


def condition_suggestions() -> list[str]:
    """Names to suggest while typing a condition: each known condition's label and synonyms."""
    names: list[str] = []
    for condition in knowledge().conditions.values():
        names += [condition.label, *condition.synonyms]
    return sorted(dict.fromkeys(n for n in names if len(n) > 3), key=str.lower)


def choices() -> dict[str, list[str]]:
    k = knowledge()
    return {
        "sex": ["female", "male"],
        "phase": ["acute", "subacute", "chronic"],
        "ais_grade": list(k.ais_grades),
        "gmfcs_level": list(k.gmfcs_levels),
        "neurological_level": list(k.levels),
    }
