"""A patient's shortlist, re-checked against what the registry says now.

Three sources meet here, each owned elsewhere:

    userdata   what the coordinator decided: pipeline status, note, history, and a
               snapshot of the record when the trial was shortlisted
    cache      the registry's current record (refreshed through ``sync`` unless offline)
    matcher    the verdict for the patient's profile, worked out again now

For each shortlisted trial this gives the verdict now, the nearest open sites
and whom to contact, warning signs, and what changed in the record since it
was shortlisted (status, criteria, sites, with the registry's dates), so a
coordinator re-checks before calling a site.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .api import Client
from .cache import Cache
from .geo import distance_km, site_may_recruit
from .ingest import Counts
from .match.verdict import TrialMatch
from .matcher import explain
from .models import Contact, Study, criteria_digest, normalise_nct_id
from .profiles import Profile
from .render.plain import status_label
from .sync import Progress, get_study, refresh_ids
from .userdata import CLOSED, Entry, Patient, UserData

FRESH_HOURS = 24.0
# ``match --shortlist`` adds these; a trial that clearly fails a criterion is not a candidate.
SHORTLISTED_VERDICTS = ("eligible", "uncertain")
SITES_SHOWN = 3
_SITE_NAMES_SHOWN = 3


@dataclass(frozen=True)
class Change:
    """One way the registry record differs from when the trial was shortlisted."""

    field: str  # status | criteria | sites | record | verdict
    text: str
    date: str | None = None  # the registry's update date of the version that first showed it

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "text": self.text, "date": self.date}


@dataclass(frozen=True)
class Site:
    facility: str
    place: str
    status: str | None
    km: float | None
    contacts: list[Contact]

    def to_dict(self) -> dict[str, Any]:
        return {
            "facility": self.facility,
            "place": self.place,
            "status": self.status,
            "km": None if self.km is None else round(self.km, 1),
            "contacts": [c.model_dump(exclude_none=True) for c in self.contacts],
        }


@dataclass
class Item:
    """One shortlisted trial as it stands now."""

    entry: Entry
    status_since: str
    status_reason: str | None = None  # why it was declined or found not eligible
    study: Study | None = None  # None: not in the cache (cleared, or never fetched)
    match: TrialMatch | None = None
    changes: list[Change] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    fetched_at: str | None = None

    @property
    def nct_id(self) -> str:
        return self.entry.nct_id

    @property
    def title(self) -> str:
        if self.study is not None:
            return self.study.title
        return self.entry.snapshot.get("title") or self.entry.nct_id

    @property
    def central_contacts(self) -> list[Contact]:
        return list(self.study.central_contacts) if self.study else []


# -- snapshots and changes ------------------------------------------------------------


def site_keys(study: Study) -> list[list[str | None]]:
    """Sites as [facility, city, country, status], the same shape the cache's history keeps."""
    return [[s.facility, s.city, s.country, s.status] for s in study.locations]


def snapshot(study: Study, *, fetched_at: str | None, verdict: str | None) -> dict[str, Any]:
    """What is kept of the record when a trial is shortlisted, to tell later what changed."""
    return {
        "title": study.title,
        "status": study.overall_status,
        "last_update": study.last_update_post_date,
        "criteria": criteria_digest(study.eligibility_criteria),
        "sites": site_keys(study),
        "fetched_at": fetched_at,
        "verdict": verdict,
    }


@dataclass(frozen=True)
class _Version:
    last_update: str | None
    status: str | None
    criteria: str
    sites: list[list[str | None]]


def changes_since(snap: dict[str, Any], study: Study, history: Sequence[dict[str, Any]]) -> list[Change]:
    """How the current record differs from the snapshot, dated by the first version that showed it.

    ``history`` is the cache's list of replaced versions; those newer than the
    snapshot tell when a change first appeared, not just that it did.
    """
    if not snap:
        return []
    then = snap.get("last_update") or ""
    versions = [
        _Version(h["last_update"], h["status"], criteria_digest(h["eligibility"]), json.loads(h["sites"] or "[]"))
        for h in history
        if (h["last_update"] or "") > then
    ]
    now = _Version(
        study.last_update_post_date, study.overall_status, criteria_digest(study.eligibility_criteria), site_keys(study)
    )
    versions = sorted([*versions, now], key=lambda v: v.last_update or "")

    def since(value: Callable[[_Version], Any], old: Any) -> str | None:
        first = None
        for version in versions:
            if _same(value(version), old):
                first = None
            elif first is None:
                first = version.last_update
        return first

    changes = []
    if not _same(now.status, snap.get("status")):
        text = f"status: {status_label(snap.get('status'))} → {status_label(now.status)}"
        changes.append(Change("status", text, since(lambda v: v.status, snap.get("status"))))
    if now.criteria != snap.get("criteria"):
        text = "eligibility criteria changed: re-check them before contacting the site"
        changes.append(Change("criteria", text, since(lambda v: v.criteria, snap.get("criteria"))))
    old_sites = snap.get("sites") or []
    if not _same(now.sites, old_sites):
        text = "sites: " + describe_site_changes(old_sites, now.sites)
        changes.append(Change("sites", text, since(lambda v: v.sites, old_sites)))
    if not changes and (now.last_update or "") > then:
        changes.append(Change("record", "record updated (other details)", now.last_update))
    return changes


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a) == json.dumps(b)


def describe_site_changes(old: Sequence[Sequence[Any]], new: Sequence[Sequence[Any]]) -> str:
    before = {_site_name(s): s[3] for s in old}
    after = {_site_name(s): s[3] for s in new}
    added = [n for n in after if n not in before]
    removed = [n for n in before if n not in after]
    moved = [
        f"{n}: {status_label(before[n]).lower()} → {status_label(after[n]).lower()}"
        for n in after
        if n in before and before[n] != after[n]
    ]
    parts = []
    for names, what in ((added, "added"), (removed, "removed"), (moved, "changed status")):
        if names:
            shown = "; ".join(names[:_SITE_NAMES_SHOWN]) + ("; …" if len(names) > _SITE_NAMES_SHOWN else "")
            parts.append(f"{len(names)} {what} ({shown})")
    return ", ".join(parts) or "details changed"


def _site_name(site: Sequence[Any]) -> str:
    return ", ".join(str(p) for p in site[:3] if p) or "unnamed site"


# -- sites and contacts ------------------------------------------------------------


def nearest_sites(study: Study, profile: Profile, limit: int = SITES_SHOWN) -> list[Site]:
    """Open sites, nearest first when the profile has a location (else in the record's order)."""
    open_sites = [s for s in study.locations if site_may_recruit(s.status or study.overall_status)]
    found = []
    for s in open_sites:
        km = None
        if profile.location is not None and s.lat is not None and s.lon is not None:
            km = distance_km(profile.location.lat, profile.location.lon, s.lat, s.lon)
        found.append(Site(s.facility or "Unnamed site", s.place, s.status, km, list(s.contacts)))
    if profile.location is not None:
        found.sort(key=lambda s: (s.km is None, s.km or 0.0))
    return found[:limit]


# -- the shortlist service -----------------------------------------------------------


def prepare_entries(
    cache: Cache,
    client_factory: Callable[[], Client],
    profile: Profile,
    nct_ids: Sequence[str],
    *,
    offline: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """Fetch (through the cache) each trial to be shortlisted and snapshot it.

    Every id is checked before anything is written: one unknown id and
    nothing is added.
    """
    items = []
    for given in dict.fromkeys(normalise_nct_id(n) for n in nct_ids):
        raw = get_study(cache, client_factory, given, offline=offline)
        nct_id = Study.from_record(raw).nct_id  # an alias resolves to the study's current id
        items.append((nct_id, snapshot_in_cache(cache, profile, nct_id)))
    return items


def snapshot_in_cache(cache: Cache, profile: Profile | None, nct_id: str, verdict: str | None = None) -> dict[str, Any]:
    """Snapshot a cached trial; the verdict is worked out for ``profile`` unless given."""
    row = cache.get_row(nct_id)
    study = Study.from_record(cache.get_record(nct_id) or {})
    if verdict is None and profile is not None:
        verdict = explain(cache, profile, nct_id).verdict
    return snapshot(study, fetched_at=row["fetched_at"] if row else None, verdict=verdict)


def entries_from_matches(cache: Cache, matches: Sequence[TrialMatch]) -> list[tuple[str, dict[str, Any]]]:
    """Shortlist entries for trials just matched (already in the cache), with the verdict they got."""
    return [(m.nct_id, snapshot_in_cache(cache, None, m.nct_id, verdict=m.verdict)) for m in matches]


def refresh(
    cache: Cache,
    client_factory: Callable[[], Client],
    entries: Sequence[Entry],
    *,
    force: bool = False,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> Counts:
    """Fetch again the shortlisted trials whose cached copy is missing or older than a day."""
    now = now or dt.datetime.now(dt.UTC)
    stale = []
    for entry in entries:
        row = cache.get_row(entry.nct_id)
        if force or row is None or now - _parse_time(row["fetched_at"]) >= dt.timedelta(hours=FRESH_HOURS):
            stale.append(entry.nct_id)
    if not stale:
        return Counts()
    with client_factory() as client:
        return refresh_ids(cache, client, stale, progress=progress)


def review(cache: Cache, data: UserData, patient: Patient, profile: Profile) -> list[Item]:
    """Every live shortlisted trial, re-checked now; open pipeline stages first, closed ones last."""
    entries = data.entries(patient)
    since = _status_times(data, patient)
    items = []
    for entry in entries:
        item = Item(entry, *since.get(entry.nct_id, (entry.added_at, None)))
        row = cache.get_row(entry.nct_id)
        record = cache.get_record(entry.nct_id) if row else None
        if record:
            item.study = Study.from_record(record)
            item.fetched_at = row["fetched_at"]
            item.match = explain(cache, profile, entry.nct_id)
            item.changes = changes_since(entry.snapshot, item.study, cache.history(entry.nct_id))
            item.sites = nearest_sites(item.study, profile)
            then = entry.snapshot.get("verdict")
            if then and then != item.match.verdict:
                item.changes.append(Change("verdict", f"verdict when shortlisted: {then}; now: {item.match.verdict}"))
        items.append(item)
    items.sort(key=lambda i: i.entry.status in CLOSED)
    return items


def _status_times(data: UserData, patient: Patient) -> dict[str, tuple[str, str | None]]:
    """When, and with what reason, each trial reached its current pipeline status."""
    times: dict[str, tuple[str, str | None]] = {}
    for event in data.events(patient):
        if event.kind == "added":
            times[event.nct_id] = (event.at, None)
        elif event.kind == "status":
            times[event.nct_id] = (event.at, event.reason)
    return times


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
