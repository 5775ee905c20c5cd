"""Watches: a profile (or a patient) to keep an eye on, and what it last saw.

A watch remembers, for every trial it has looked at, a small state: status,
verdict, a fingerprint of the criteria, and the open sites within the
watch's distance. Comparing that with the trials now gives the news:

    new       a trial that now may fit (eligible or uncertain, open, in reach)
    status    a matching or shortlisted trial opened, closed, was suspended…
    verdict   the criteria changed and with them the verdict
    site      a new open site within the watch's distance

``compare`` is a pure function; storing states and items is done here too,
sending them is ``digest.py``'s job.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import UserDataError
from .geo import distance_km, site_may_recruit
from .match.verdict import TrialMatch
from .models import OPEN_STATUSES
from .profiles import Profile, build
from .render.plain import status_label
from .userdata import Patient, UserData
from .userdata import now as utcnow

FREQUENCIES = ("daily", "weekly")
MATCHING_VERDICTS = ("eligible", "uncertain")
VERDICT_WORDS = {"eligible": "may qualify", "uncertain": "unclear", "ineligible": "not eligible"}
# How a status change reads, by the status it changed to.
STATUS_NEWS = {
    "RECRUITING": "opened",
    "NOT_YET_RECRUITING": "opening soon",
    "ENROLLING_BY_INVITATION": "enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "closed to new participants",
    "SUSPENDED": "suspended",
    "TERMINATED": "terminated",
    "COMPLETED": "completed",
    "WITHDRAWN": "withdrawn",
    "UNKNOWN": "status unknown",
}


@dataclass(frozen=True)
class Watch:
    id: int
    name: str
    patient_id: int | None
    profile_fields: dict[str, Any] | None
    email: str | None
    every: str
    notify_empty: bool
    created_at: str
    last_run_at: str | None
    last_run_on: str | None
    profile_key: str | None = None


@dataclass(frozen=True)
class State:
    """What a watch saw of one trial."""

    status: str | None
    verdict: str | None  # None: not checked (the trial was closed)
    criteria: str
    near: tuple[str, ...] = ()  # open sites within the watch's distance
    matched: bool = False
    last_update: str | None = None

    def to_json(self) -> str:
        data = {**self.__dict__, "near": list(self.near)}
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> State:
        data = json.loads(text)
        return cls(**{**data, "near": tuple(data.get("near", ()))})


@dataclass
class Item:
    """One piece of news for a watch."""

    kind: str  # new | status | verdict | site | nothing
    key: str  # the same news always has the same key: it is never reported twice
    nct_id: str | None
    title: str
    reason: str
    url: str | None = None
    warnings: list[str] = field(default_factory=list)
    id: int | None = None  # once stored

    def payload(self) -> str:
        data = {"title": self.title, "reason": self.reason, "url": self.url, "warnings": self.warnings}
        return json.dumps(data, ensure_ascii=False)


# -- comparing -----------------------------------------------------------------------


def matched(match: TrialMatch) -> bool:
    """Does this trial fit now: not ruled out, open, and (if a distance is set) within reach?"""
    if match.verdict not in MATCHING_VERDICTS or match.status not in OPEN_STATUSES:
        return False
    return not any(r.criterion == "distance" and r.result == "not_met" for r in match.reasons)


def near_sites(match_sites: Iterable[dict[str, Any]], profile: Profile) -> tuple[str, ...]:
    """Open sites within the profile's distance, as "facility, city, country" (none without a distance)."""
    if profile.location is None or profile.max_distance_km is None:
        return ()
    found = []
    for s in match_sites:
        if s.get("lat") is None or s.get("lon") is None or not site_may_recruit(s.get("status")):
            continue
        km = distance_km(profile.location.lat, profile.location.lon, s["lat"], s["lon"])
        if km <= profile.max_distance_km:
            found.append(", ".join(p for p in (s.get("facility"), s.get("city"), s.get("country")) if p))
    return tuple(sorted(set(found)))


@dataclass(frozen=True)
class Now:
    """A trial as a watch sees it now: its state, and what an item about it would say."""

    nct_id: str
    title: str
    state: State
    summary: str = ""
    warnings: tuple[str, ...] = ()


def seen_now(match: TrialMatch, criteria: str, near: tuple[str, ...]) -> Now:
    """A trial checked against the watch's profile."""
    state = State(match.status, match.verdict, criteria, near, matched(match), match.last_update)
    return Now(match.nct_id, match.title, state, match.summary, tuple(w.text for w in match.trust.warnings))


def seen_unchecked(row: dict[str, Any]) -> Now:
    """A trial not open to anyone now, from its cache row: not checked against the profile (it can't
    match while closed; if it reopens, its record changes and it is checked then)."""
    state = State(row["status"], None, row.get("criteria_hash") or "", (), False, row["last_update"])
    return Now(row["nct_id"], row["title"] or row["nct_id"], state)


def compare(seen: dict[str, State], current: Sequence[Now], shortlisted: set[str], url: str) -> list[Item]:
    """The news: how ``current`` differs from what was ``seen``, for trials that matter to the watch.

    A trial matters if it matches now, matched before, or is on the patient's
    shortlist. The keys include the record's update date, so the same change
    is one item however often it is compared.
    """
    items = []
    for now in current:
        new, old = now.state, seen.get(now.nct_id)

        def news(kind: str, detail: str, reason: str, now: Now = now) -> Item:
            key = f"{kind}:{now.nct_id}:{detail}:{now.state.last_update or ''}"
            return Item(kind, key, now.nct_id, now.title, reason, url.format(nct_id=now.nct_id), list(now.warnings))

        verdict = VERDICT_WORDS.get(new.verdict or "", "not checked")
        if old is None:
            if new.matched:
                items.append(news("new", "", f"New trial that may fit ({verdict}): {now.summary}"))
            continue
        if not (new.matched or old.matched or now.nct_id in shortlisted):
            continue
        if old.status != new.status:
            what = STATUS_NEWS.get(new.status or "", "status changed")
            text = f"{what.capitalize()}: {status_label(old.status)} → {status_label(new.status)}."
            items.append(news("status", new.status or "", text))
        checked = old.verdict is not None and new.verdict is not None
        if checked and old.criteria != new.criteria and old.verdict != new.verdict:
            text = (
                f"The eligibility criteria changed; verdict was {VERDICT_WORDS[old.verdict]}, "
                f"now {verdict}: {now.summary}"
            )
            items.append(news("verdict", new.verdict or "", text))
        elif new.matched and not old.matched and old.status == new.status:
            items.append(news("new", "", f"Now may fit ({verdict}): {now.summary}"))
            continue  # a site that brought it within reach is part of this news, not more of it
        if new.matched or now.nct_id in shortlisted:
            for site in sorted(set(new.near) - set(old.near)):
                items.append(news("site", site, f"New open site within your distance: {site}."))
    return items


# -- storing -------------------------------------------------------------------------


def add_watch(
    data: UserData,
    name: str,
    *,
    patient: Patient | None,
    profile_fields: dict[str, Any] | None,
    email: str | None,
    every: str,
    notify_empty: bool,
) -> Watch:
    name = " ".join((name or "").split())
    if not name:
        raise UserDataError("give the watch a name, e.g. P-017-weekly")
    if every not in FREQUENCIES:
        raise UserDataError(f"--every must be daily or weekly, not {every!r}")
    if (patient is None) == (profile_fields is None):
        raise UserDataError("a watch needs --profile FILE (or profile options) or --patient NAME, not both")
    with data.transaction():
        if _watch_row(data, name):
            raise UserDataError(f"there is already a watch {name!r}; remove it first or choose another name")
        data.db.execute(
            "INSERT INTO watches (name, patient_id, profile, email, every, notify_empty, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                name,
                patient.id if patient else None,
                json.dumps(profile_fields, sort_keys=True) if profile_fields is not None else None,
                email,
                every,
                int(notify_empty),
                utcnow(),
            ],
        )
    return get_watch(data, name)


def get_watch(data: UserData, name: str) -> Watch:
    row = _watch_row(data, " ".join((name or "").split()))
    if row is None:
        known = ", ".join(w.name for w in list_watches(data)[:8]) or "none yet"
        raise UserDataError(f"no watch {name!r}; known watches: {known} (add one with `trialfinder watch add`)")
    return _watch(row)


def list_watches(data: UserData) -> list[Watch]:
    with data.errors("read"):
        rows = data.db.query("SELECT * FROM watches WHERE removed_at IS NULL ORDER BY name COLLATE NOCASE")
        return [_watch(r) for r in rows]


def remove_watch(data: UserData, name: str) -> Watch:
    """Stop running a watch; what it saw and sent stays in the file and in backups."""
    watch = get_watch(data, name)
    with data.transaction():
        data.db.execute("UPDATE watches SET removed_at = ? WHERE id = ?", [utcnow(), watch.id])
    return watch


def watch_profile(data: UserData, watch: Watch, as_of: Any) -> tuple[Profile, Patient | None]:
    """The profile a watch runs with: its patient's current one, or its own stored fields."""
    if watch.patient_id is not None:
        with data.errors("read"):
            row = data.db.execute("SELECT name, removed_at FROM patients WHERE id = ?", [watch.patient_id]).fetchone()
        if row is None or row[1] is not None:
            raise UserDataError(f"watch {watch.name!r} follows a patient who was removed; remove the watch")
        patient = data.patient(row[0])
        return build({**patient.profile, "as_of": as_of}, source=f"patient {patient.name}"), patient
    return build({**(watch.profile_fields or {}), "as_of": as_of}, source=f"watch {watch.name}"), None


def seen_states(data: UserData, watch: Watch, nct_ids: Collection[str] | None = None) -> dict[str, State]:
    """What the watch last saw of each trial (only of ``nct_ids`` if given: a nightly run looks at few)."""
    sql = "SELECT nct_id, state FROM watch_seen WHERE watch_id = ?"
    with data.errors("read"):
        if nct_ids is None:
            rows = data.db.execute(sql, [watch.id]).fetchall()
        else:
            ids, rows = sorted(nct_ids), []
            for i in range(0, len(ids), 500):
                chunk = ids[i : i + 500]
                marks = ",".join("?" * len(chunk))
                rows += data.db.execute(f"{sql} AND nct_id IN ({marks})", [watch.id, *chunk]).fetchall()
    return {nct: State.from_json(state) for nct, state in rows}


def record_run(
    data: UserData,
    watch: Watch,
    states: dict[str, State],
    items: Sequence[Item],
    *,
    day: str,
    profile_key: str | None = None,
) -> list[Item]:
    """In one transaction: remember what was seen and queue the news (each key once). Returns what was queued."""
    stamp = utcnow()
    queued = []
    with data.transaction():
        for nct, state in states.items():
            data.db.execute(
                "INSERT INTO watch_seen (watch_id, nct_id, state, seen_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(watch_id, nct_id) DO UPDATE SET state = excluded.state, seen_at = excluded.seen_at",
                [watch.id, nct, state.to_json(), stamp],
            )
        for item in items:
            cursor = data.db.execute(
                "INSERT OR IGNORE INTO digest_items (watch_id, key, kind, nct_id, payload, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [watch.id, item.key, item.kind, item.nct_id, item.payload(), stamp],
            )
            if cursor.rowcount:
                queued.append(item)
        data.db.execute(
            "UPDATE watches SET last_run_at = ?, last_run_on = ?, profile_key = ? WHERE id = ?",
            [stamp, day, profile_key, watch.id],
        )
    return queued


def pending_items(data: UserData, watch: Watch) -> list[Item]:
    """News not yet delivered, oldest first: this run's and any a failed delivery left behind."""
    with data.errors("read"):
        rows = data.db.query(
            "SELECT id, kind, key, nct_id, payload FROM digest_items "
            "WHERE watch_id = ? AND sent_at IS NULL ORDER BY id",
            [watch.id],
        )
        items = []
        for r in rows:
            p = json.loads(r["payload"])
            items.append(
                Item(r["kind"], r["key"], r["nct_id"], p["title"], p["reason"], p["url"], p["warnings"], r["id"])
            )
        return items


def record_delivery(
    data: UserData, watch: Watch, items: Sequence[Item], *, method: str, target: str | None, error: str | None
) -> None:
    """Log a delivery attempt; on success, mark its items sent (in the same transaction)."""
    stamp = utcnow()
    with data.transaction():
        cursor = data.db.execute(
            "INSERT INTO deliveries (watch_id, at, method, target, ok, error, n_items) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [watch.id, stamp, method, target, int(error is None), error, len(items)],
        )
        if error is None:
            for item in items:
                data.db.execute(
                    "UPDATE digest_items SET sent_at = ?, delivery_id = ? WHERE id = ?",
                    [stamp, cursor.lastrowid, item.id],
                )


def deliveries(data: UserData, watch: Watch, limit: int = 10) -> list[dict[str, Any]]:
    with data.errors("read"):
        return list(
            data.db.query(
                "SELECT at, method, target, ok, error, n_items FROM deliveries WHERE watch_id = ? "
                "ORDER BY id DESC LIMIT ?",
                [watch.id, limit],
            )
        )


def _watch_row(data: UserData, name: str) -> dict[str, Any] | None:
    with data.errors("read"):
        rows = list(data.db.query("SELECT * FROM watches WHERE name = ? COLLATE NOCASE AND removed_at IS NULL", [name]))
    return rows[0] if rows else None


def _watch(row: dict[str, Any]) -> Watch:
    return Watch(
        id=row["id"],
        name=row["name"],
        patient_id=row["patient_id"],
        profile_fields=json.loads(row["profile"]) if row["profile"] else None,
        email=row["email"],
        every=row["every"],
        notify_empty=bool(row["notify_empty"]),
        created_at=row["created_at"],
        last_run_at=row["last_run_at"],
        last_run_on=row["last_run_on"],
        profile_key=row["profile_key"],
    )
