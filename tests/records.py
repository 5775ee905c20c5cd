"""Small hand-written study records in the API v2 shape, for tests."""

from __future__ import annotations

import copy
import json
import socket
from pathlib import Path
from typing import Any

import httpx

CRITERIA = """Inclusion Criteria:

* Adults aged 18 years or older
* Traumatic spinal cord injury

Exclusion Criteria:

* Pregnancy"""


def study(
    nct_id: str = "NCT01000001",
    *,
    title: str = "Walking After Spinal Cord Injury",
    status: str = "RECRUITING",
    conditions: tuple[str, ...] = ("Spinal Cord Injuries",),
    mesh: tuple[str, ...] = ("Spinal Cord Injuries",),
    keywords: tuple[str, ...] = (),
    min_age: str | None = "18 Years",
    max_age: str | None = None,
    sex: str = "ALL",
    healthy_volunteers: bool | None = False,
    criteria: str = CRITERIA,
    last_update: str = "2026-01-15",
    phases: tuple[str, ...] | None = ("PHASE2",),
    study_type: str = "INTERVENTIONAL",
    summary: str = "A study of a walking programme.",
    locations: list[dict[str, Any]] | None = None,
    interventions: list[dict[str, Any]] | None = None,
    sponsor: tuple[str, str] = ("University Hospital Example", "OTHER"),
) -> dict[str, Any]:
    """A plausible record; pass keyword arguments to change the parts a test is about."""
    if locations is None:
        locations = [site()]
    if interventions is None:
        interventions = [{"type": "BEHAVIORAL", "name": "Walking programme"}]
    eligibility: dict[str, Any] = {"eligibilityCriteria": criteria, "sex": sex, "stdAges": ["ADULT"]}
    if healthy_volunteers is not None:
        eligibility["healthyVolunteers"] = healthy_volunteers
    if min_age:
        eligibility["minimumAge"] = min_age
    if max_age:
        eligibility["maximumAge"] = max_age
    design: dict[str, Any] = {
        "studyType": study_type,
        "designInfo": {"allocation": "RANDOMIZED", "maskingInfo": {"masking": "DOUBLE"}},
        "enrollmentInfo": {"count": 40, "type": "ESTIMATED"},
    }
    if phases is not None:
        design["phases"] = list(phases)
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": nct_id,
                "briefTitle": title,
                "organization": {"fullName": sponsor[0], "class": sponsor[1]},
            },
            "statusModule": {
                "statusVerifiedDate": last_update[:7],
                "overallStatus": status,
                "lastUpdatePostDateStruct": {"date": last_update, "type": "ACTUAL"},
                "startDateStruct": {"date": "2025-06", "type": "ACTUAL"},
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": sponsor[0], "class": sponsor[1]}},
            "oversightModule": {"oversightHasDmc": True, "isFdaRegulatedDrug": False, "isFdaRegulatedDevice": False},
            "descriptionModule": {"briefSummary": summary},
            "conditionsModule": {"conditions": list(conditions), "keywords": list(keywords)},
            "designModule": design,
            "armsInterventionsModule": {"interventions": interventions},
            "eligibilityModule": eligibility,
            "contactsLocationsModule": {
                "centralContacts": [{"name": "Study Coordinator", "role": "CONTACT", "email": "study@example.org"}],
                "locations": locations,
            },
        },
        "derivedSection": {
            "miscInfoModule": {"versionHolder": "2026-11-20"},
            "conditionBrowseModule": {"meshes": [{"id": "D0", "term": m} for m in mesh]},
        },
        "hasResults": False,
    }


def site(
    facility: str = "Example Rehabilitation Centre",
    city: str = "Zurich",
    country: str = "Switzerland",
    lat: float | None = 47.3769,
    lon: float | None = 8.5417,
    status: str | None = "RECRUITING",
) -> dict[str, Any]:
    loc: dict[str, Any] = {"facility": facility, "city": city, "country": country}
    if status:
        loc["status"] = status
    if lat is not None and lon is not None:
        loc["geoPoint"] = {"lat": lat, "lon": lon}
    return loc


def changed(record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of ``record`` with status / last update / criteria changed, as an upstream edit would."""
    new = copy.deepcopy(record)
    ps = new["protocolSection"]
    if "status" in changes:
        ps["statusModule"]["overallStatus"] = changes["status"]
    if "last_update" in changes:
        ps["statusModule"]["lastUpdatePostDateStruct"]["date"] = changes["last_update"]
    if "criteria" in changes:
        ps["eligibilityModule"]["eligibilityCriteria"] = changes["criteria"]
    if "locations" in changes:
        ps["contactsLocationsModule"]["locations"] = changes["locations"]
    return new


def page(studies: list[dict[str, Any]], next_token: str | None = None, total: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"studies": studies}
    if next_token:
        body["nextPageToken"] = next_token
    if total is not None:
        body["totalCount"] = total
    return body


def nct_of(record: dict[str, Any]) -> str:
    return record["protocolSection"]["identificationModule"]["nctId"]


def write_records(folder: Path, records: list[dict[str, Any]]) -> Path:
    """One ``<NCT id>.json`` file per record in ``folder`` (made if needed), as `trialfinder import` reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    for record in records:
        (folder / f"{nct_of(record)}.json").write_text(json.dumps(record), encoding="utf-8")
    return folder


# Record text that must come out escaped wherever it is shown.
TRICKY_TITLE = 'Cells & "hope" <script>alert(1)</script> for SCI'


def shortlist_trials() -> list[dict[str, Any]]:
    """Three trials for shortlist tests: chronic SCI, acute SCI, and one whose title and site need escaping."""
    return [
        study(
            "NCT01000001", title="Walking after SCI", criteria="Inclusion Criteria:\n\n* At least 12 months post-injury"
        ),
        study("NCT01000002", title="Acute SCI drug", criteria="Inclusion Criteria:\n\n* Within 72 hours of injury"),
        study(
            "NCT01000003",
            title=TRICKY_TITLE,
            criteria="Inclusion Criteria:\n\n* Adults",
            locations=[site("Clinique <Lac> & Co", city="Lausanne", lat=46.52, lon=6.63)],
        ),
    ]


def refused_error() -> httpx.ConnectError:
    """What httpx raises when nothing listens on the port: ConnectError caused by ConnectionRefusedError."""
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError("[Errno 111] Connection refused") from exc
    except httpx.ConnectError as exc:
        return exc


def name_not_found_error() -> httpx.ConnectError:
    """What httpx raises when the host name does not resolve (DNS): ConnectError caused by socket.gaierror."""
    try:
        try:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        except socket.gaierror as exc:
            raise httpx.ConnectError("[Errno -2] Name or service not known") from exc
    except httpx.ConnectError as exc:
        return exc
