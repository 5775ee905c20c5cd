"""Typed views of API records and of the searches we send.

The API's JSON is nested camelCase. ``Study`` flattens only the fields the
program uses, once, at the edge, with pydantic ``AliasPath``s; the untouched
record is kept in the cache, so a field we start using later never needs a
refetch. Unknown fields pass silently; an enum value the API adds later is
kept as a plain string and reported by ``Study.unknown_values()``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from typing import Any

from pydantic import AliasPath, BaseModel, ConfigDict, Field, ValidationError

from .errors import InputError

# Enumerations from the API specification (ctg-oas-v2.0.5). Values outside
# these sets are kept, never rejected, and flagged.
STATUSES = (
    "RECRUITING",
    "NOT_YET_RECRUITING",
    "ENROLLING_BY_INVITATION",
    "ACTIVE_NOT_RECRUITING",
    "SUSPENDED",
    "TERMINATED",
    "COMPLETED",
    "WITHDRAWN",
    "UNKNOWN",
    "AVAILABLE",
    "NO_LONGER_AVAILABLE",
    "TEMPORARILY_NOT_AVAILABLE",
    "APPROVED_FOR_MARKETING",
    "WITHHELD",
)
OPEN_STATUSES = ("RECRUITING", "NOT_YET_RECRUITING")
STUDY_TYPES = ("INTERVENTIONAL", "OBSERVATIONAL", "EXPANDED_ACCESS")
PHASES = ("NA", "EARLY_PHASE1", "PHASE1", "PHASE2", "PHASE3", "PHASE4")
SEXES = ("ALL", "MALE", "FEMALE")

NCT_ID = re.compile(r"^\s*NCT0*([1-9]\d{0,7})\s*$", re.IGNORECASE)

_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(year|month|week|day|hour|minute)s?\s*$", re.IGNORECASE)
# Days per unit; a month and a year are averages, which is as precise as the
# registry's own age limits are.
DAYS_PER = {
    "year": 365.25,
    "month": 30.4375,
    "week": 7.0,
    "day": 1.0,
    "hour": 1 / 24,
    "minute": 1 / 1440,
}


def normalise_nct_id(value: str) -> str:
    """``nct410`` → ``NCT00000410``; anything that isn't an NCT id raises ``InputError``."""
    match = NCT_ID.match(value or "")
    if not match:
        raise InputError(f"{value!r} is not an NCT id: expected NCT followed by up to 8 digits, e.g. NCT01234567")
    return f"NCT{int(match.group(1)):08d}"


def nct_number(nct_id: str) -> int:
    """The integer part of a normalised NCT id (its key in the cache)."""
    return int(nct_id[3:])


def criteria_digest(text: str | None) -> str:
    """A short fingerprint of eligibility criteria text, blind to whitespace: did the criteria change?"""
    return hashlib.sha256(" ".join((text or "").split()).encode()).hexdigest()[:16]


def age_in_days(text: str | None) -> float | None:
    """``"18 Years"`` → 6574.5. Returns None for no limit; raises ValueError if unreadable."""
    if text is None or not str(text).strip():
        return None
    match = _AGE.match(str(text))
    if not match:
        raise ValueError(f"unreadable age {text!r}")
    return float(match.group(1)) * DAYS_PER[match.group(2).lower()]


MAX_HUMAN_AGE_DAYS = 125 * DAYS_PER["year"]
# A minimum age of minutes or hours is real in trials of newborns ("30 Minutes" to "72 Hours"),
# which also set a child's maximum age. Under a day with no such maximum ("18 Minutes", no upper
# limit, in a trial of adults with diabetes) it is a slip for years.
MAX_CHILD_AGE_DAYS = 21 * DAYS_PER["year"]


def age_limit_problems(minimum: str | None, maximum: str | None) -> list[str]:
    """Registry age limits that are present but unreadable or implausible (no verdict should rest on them)."""
    problems = []
    days: dict[str, float | None] = {}
    for label, text in (("minimum age", minimum), ("maximum age", maximum)):
        try:
            days[label] = age_in_days(text)
        except ValueError:
            problems.append(f"{label} {text!r} is unreadable")
            continue
    low, high = days.get("minimum age"), days.get("maximum age")
    newborns = high is not None and high <= MAX_CHILD_AGE_DAYS
    if low is not None and ((0 < low < 1 and not newborns) or low > MAX_HUMAN_AGE_DAYS):
        # "18 Minutes" with no child's maximum (almost certainly meant "18 Years"), "999 Years": don't trust it.
        problems.append(f"minimum age {minimum!r} is implausible")
    elif low is not None and high is not None and low > high:
        problems.append(f"minimum age {minimum!r} is above maximum age {maximum!r}")
    return problems


def partial_date(text: str | None) -> dt.date | None:
    """Registry dates are ``YYYY``, ``YYYY-MM`` or ``YYYY-MM-DD``; the missing parts become 1."""
    if not text:
        return None
    parts = str(text).split("-")
    try:
        numbers = [int(p) for p in parts[:3]] + [1] * (3 - len(parts[:3]))
        return dt.date(*numbers)
    except ValueError:
        return None


def _path(*keys: str | int) -> Any:
    return Field(default=None, validation_alias=AliasPath(*keys))


def _list_path(*keys: str | int) -> Any:
    return Field(default_factory=list, validation_alias=AliasPath(*keys))


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Contact(_Model):
    name: str | None = None
    role: str | None = None
    phone: str | None = None
    phone_ext: str | None = Field(default=None, validation_alias="phoneExt")
    email: str | None = None


class Official(_Model):
    name: str | None = None
    affiliation: str | None = None
    role: str | None = None


class Location(_Model):
    facility: str | None = None
    status: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    lat: float | None = _path("geoPoint", "lat")
    lon: float | None = _path("geoPoint", "lon")
    contacts: list[Contact] = Field(default_factory=list)

    @property
    def place(self) -> str:
        return ", ".join(p for p in (self.city, self.state, self.country) if p)


class Sponsor(_Model):
    name: str | None = None
    sponsor_class: str | None = Field(default=None, validation_alias="class")


class Intervention(_Model):
    type: str | None = None
    name: str | None = None
    description: str | None = None
    other_names: list[str] = Field(default_factory=list, validation_alias="otherNames")


class ArmGroup(_Model):
    label: str | None = None
    type: str | None = None
    description: str | None = None


class BrowseLeaf(_Model):
    name: str | None = None
    relevance: str | None = None


_P = "protocolSection"
_ID = (_P, "identificationModule")
_ST = (_P, "statusModule")
_SP = (_P, "sponsorCollaboratorsModule")
_OV = (_P, "oversightModule")
_DE = (_P, "designModule")
_EL = (_P, "eligibilityModule")
_CL = (_P, "contactsLocationsModule")
_CB = ("derivedSection", "conditionBrowseModule")


class Study(_Model):
    """The fields of a study record that trialfinder reads.

    Build it with ``Study.from_record(raw)``; every field is optional except the
    NCT id, because real records omit whatever does not apply.
    """

    nct_id: str = Field(validation_alias=AliasPath(*_ID, "nctId"))
    brief_title: str | None = _path(*_ID, "briefTitle")
    official_title: str | None = _path(*_ID, "officialTitle")
    acronym: str | None = _path(*_ID, "acronym")
    organization: str | None = _path(*_ID, "organization", "fullName")
    organization_class: str | None = _path(*_ID, "organization", "class")

    overall_status: str | None = _path(*_ST, "overallStatus")
    last_known_status: str | None = _path(*_ST, "lastKnownStatus")
    why_stopped: str | None = _path(*_ST, "whyStopped")
    status_verified_date: str | None = _path(*_ST, "statusVerifiedDate")
    start_date: str | None = _path(*_ST, "startDateStruct", "date")
    completion_date: str | None = _path(*_ST, "completionDateStruct", "date")
    first_post_date: str | None = _path(*_ST, "studyFirstPostDateStruct", "date")
    last_update_post_date: str | None = _path(*_ST, "lastUpdatePostDateStruct", "date")
    has_expanded_access: bool | None = _path(*_ST, "expandedAccessInfo", "hasExpandedAccess")

    lead_sponsor: Sponsor | None = _path(*_SP, "leadSponsor")
    collaborators: list[Sponsor] = _list_path(*_SP, "collaborators")
    responsible_party_type: str | None = _path(*_SP, "responsibleParty", "type")

    has_dmc: bool | None = _path(*_OV, "oversightHasDmc")
    fda_regulated_drug: bool | None = _path(*_OV, "isFdaRegulatedDrug")
    fda_regulated_device: bool | None = _path(*_OV, "isFdaRegulatedDevice")

    brief_summary: str | None = _path(_P, "descriptionModule", "briefSummary")
    detailed_description: str | None = _path(_P, "descriptionModule", "detailedDescription")

    conditions: list[str] = _list_path(_P, "conditionsModule", "conditions")
    keywords: list[str] = _list_path(_P, "conditionsModule", "keywords")

    study_type: str | None = _path(*_DE, "studyType")
    phases: list[str] = _list_path(*_DE, "phases")
    allocation: str | None = _path(*_DE, "designInfo", "allocation")
    intervention_model: str | None = _path(*_DE, "designInfo", "interventionModel")
    primary_purpose: str | None = _path(*_DE, "designInfo", "primaryPurpose")
    masking: str | None = _path(*_DE, "designInfo", "maskingInfo", "masking")
    enrollment: int | None = _path(*_DE, "enrollmentInfo", "count")

    arm_groups: list[ArmGroup] = _list_path(_P, "armsInterventionsModule", "armGroups")
    interventions: list[Intervention] = _list_path(_P, "armsInterventionsModule", "interventions")

    eligibility_criteria: str | None = _path(*_EL, "eligibilityCriteria")
    healthy_volunteers: bool | None = _path(*_EL, "healthyVolunteers")
    sex: str | None = _path(*_EL, "sex")
    minimum_age: str | None = _path(*_EL, "minimumAge")
    maximum_age: str | None = _path(*_EL, "maximumAge")
    std_ages: list[str] = _list_path(*_EL, "stdAges")
    study_population: str | None = _path(*_EL, "studyPopulation")

    central_contacts: list[Contact] = _list_path(*_CL, "centralContacts")
    overall_officials: list[Official] = _list_path(*_CL, "overallOfficials")
    locations: list[Location] = _list_path(*_CL, "locations")

    mesh_terms: list[str] = Field(default_factory=list)
    mesh_ancestors: list[str] = Field(default_factory=list)
    browse_leaves: list[BrowseLeaf] = _list_path(*_CB, "browseLeaves")
    browse_branches: list[BrowseLeaf] = _list_path(*_CB, "browseBranches")
    version_holder: str | None = _path("derivedSection", "miscInfoModule", "versionHolder")
    has_results: bool | None = _path("hasResults")

    @classmethod
    def from_record(cls, raw: dict[str, Any]) -> Study:
        """Flatten a raw API record. Raises ``InputError`` naming the first bad field."""
        if not isinstance(raw, dict):
            raise InputError("a study record must be a JSON object")
        try:
            study = cls.model_validate(raw)
        except ValidationError as exc:
            raise InputError(describe_validation_error(exc)) from None
        derived = raw.get("derivedSection")
        browse = derived.get("conditionBrowseModule") if isinstance(derived, dict) else None
        if not isinstance(browse, dict):
            browse = {}
        meshes = _terms(browse.get("meshes"))
        ancestors = _terms(browse.get("ancestors"))
        return study.model_copy(
            update={
                "nct_id": normalise_nct_id(study.nct_id),
                "mesh_terms": meshes,
                "mesh_ancestors": ancestors,
            }
        )

    # -- derived views -----------------------------------------------------

    @property
    def title(self) -> str:
        return self.brief_title or self.official_title or self.nct_id

    @property
    def registry_url(self) -> str:
        return f"https://clinicaltrials.gov/study/{self.nct_id}"

    @property
    def min_age_days(self) -> float | None:
        return _safe_age(self.minimum_age)

    @property
    def max_age_days(self) -> float | None:
        return _safe_age(self.maximum_age)

    @property
    def age_problems(self) -> list[str]:
        """Age limits that are present but unreadable or implausible."""
        return age_limit_problems(self.minimum_age, self.maximum_age)

    @property
    def sites_with_coordinates(self) -> list[Location]:
        return [loc for loc in self.locations if loc.lat is not None and loc.lon is not None]

    def unknown_values(self) -> list[str]:
        """Enum values this version of trialfinder doesn't know (kept, but flagged)."""
        found = []
        if self.overall_status and self.overall_status not in STATUSES:
            found.append(f"overallStatus={self.overall_status}")
        if self.study_type and self.study_type not in STUDY_TYPES:
            found.append(f"studyType={self.study_type}")
        found += [f"phase={p}" for p in self.phases if p not in PHASES]
        if self.sex and self.sex not in SEXES:
            found.append(f"sex={self.sex}")
        return found


def _safe_age(text: str | None) -> float | None:
    try:
        return age_in_days(text)
    except ValueError:
        return None


def _terms(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [i["term"] for i in items if isinstance(i, dict) and isinstance(i.get("term"), str)]


def describe_validation_error(exc: ValidationError) -> str:
    """One line for a pydantic error: the field path and what was wrong with it."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ()))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where or 'record'}: {err.get('msg', 'invalid')}{more}"


# -- searches ---------------------------------------------------------------

_GEO_DISTANCE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km|mi)?\s*$", re.IGNORECASE)
KM_PER_MILE = 1.609344


def parse_distance_km(text: str, *, option: str = "distance") -> float:
    """``"100km"`` or ``"60mi"`` → kilometres. The unit is required: a bare ``"80"`` could mean either.

    ``option`` names what the value was given as (``"--within"``), for the error message.
    """
    match = _GEO_DISTANCE.match(text or "")
    if not match or float(match.group(1)) <= 0:
        raise InputError(
            f"{option} {text!r} is not a valid distance: use a positive number with km or mi, e.g. 100km or 60mi"
        )
    if not match.group(2):
        number = match.group(1)
        raise InputError(f"{option} {text!r} has no unit: give km or mi, e.g. {number}km or {number}mi")
    value = float(match.group(1))
    return value * KM_PER_MILE if match.group(2).lower() == "mi" else value


def parse_lat_lon(text: str) -> tuple[float, float]:
    """``"47.37,8.54"`` → (47.37, 8.54), checking the ranges."""
    parts = [p.strip() for p in (text or "").split(",")]
    try:
        lat, lon = (float(p) for p in parts)
    except ValueError:
        raise InputError(f"location {text!r} is not valid: use LAT,LON in decimal degrees, e.g. 47.37,8.54") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or math.isnan(lat) or math.isnan(lon):
        raise InputError(f"location {text!r} is out of range: latitude -90..90, longitude -180..180")
    return lat, lon


def normalise_status(value: str) -> str:
    """``recruiting`` / ``not-yet-recruiting`` → API enum; unknown values raise ``InputError``."""
    candidate = value.strip().upper().replace("-", "_").replace(" ", "_")
    if candidate not in STATUSES:
        allowed = ", ".join(s.lower().replace("_", "-") for s in STATUSES)
        raise InputError(f"unknown status {value!r}: use one of {allowed}")
    return candidate


class SearchQuery(BaseModel):
    """What to ask the registry for, normalised so equal searches have equal keys."""

    model_config = ConfigDict(frozen=True)

    condition: str | None = None
    term: str | None = None
    intervention: str | None = None
    location: str | None = None
    statuses: tuple[str, ...] = OPEN_STATUSES
    near: tuple[float, float] | None = None
    within_km: float | None = None
    advanced: str | None = None

    @classmethod
    def build(cls, **kwargs: Any) -> SearchQuery:
        """Validate and normalise user input (statuses, blanks, distance)."""
        clean = {}
        for name in ("condition", "term", "intervention", "location", "advanced"):
            value = kwargs.get(name)
            if value is not None:
                value = " ".join(str(value).split())
            clean[name] = value or None
        statuses = kwargs.get("statuses") or OPEN_STATUSES
        clean["statuses"] = tuple(sorted({normalise_status(s) for s in statuses}))
        clean["near"] = kwargs.get("near")
        clean["within_km"] = kwargs.get("within_km")
        if (clean["near"] is None) != (clean["within_km"] is None):
            raise InputError("--near and --within go together: give both, e.g. --near 47.37,8.54 --within 100km")
        return cls(**clean)

    def api_params(self) -> dict[str, str]:
        """The ``/studies`` query parameters for this search (paging excluded)."""
        params: dict[str, str] = {}
        for name, key in (
            ("condition", "query.cond"),
            ("term", "query.term"),
            ("intervention", "query.intr"),
            ("location", "query.locn"),
            ("advanced", "filter.advanced"),
        ):
            value = getattr(self, name)
            if value:
                params[key] = value
        if self.statuses:
            params["filter.overallStatus"] = ",".join(self.statuses)
        if self.near is not None and self.within_km is not None:
            lat, lon = self.near
            params["filter.geo"] = f"distance({lat:.6f},{lon:.6f},{self.within_km:.1f}km)"
        return params

    @property
    def key(self) -> str:
        """A stable identity: the same search always has the same key."""
        data = self.model_dump(mode="json")
        for name in ("condition", "term", "intervention", "location"):
            if data[name]:
                data[name] = data[name].lower()
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    def describe(self) -> str:
        parts = [
            f"{n}={getattr(self, n)!r}" for n in ("condition", "term", "intervention", "location") if getattr(self, n)
        ]
        if self.near:
            parts.append(f"within {self.within_km:.0f} km of {self.near[0]:.3f},{self.near[1]:.3f}")
        parts.append("status " + "|".join(self.statuses))
        return ", ".join(parts)
