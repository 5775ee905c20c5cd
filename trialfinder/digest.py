"""A digest run: for each due watch, refresh, compare, queue the news, deliver it.

The order is what keeps the promise "nothing reported twice, nothing lost":

1. refresh the cache for the due watches' conditions (incrementally, each
   distinct search once) and their patients' shortlisted trials;
2. compare with what the watch last saw (the trials whose records changed
   since its last run; every candidate on its first run or when its profile
   or the matching rules changed), and in one transaction remember what it
   sees now and queue the news as items;
3. deliver every queued item not yet sent (this run's, and any a failed
   delivery left behind) and, only once delivery succeeded, mark them sent.

A crash between 2 and 3 leaves items queued, to be sent next run. A crash
after the mail server accepted a message but before step 3 committed would
send those items again next run: at least once, never silently dropped.
Runs take a lock, so a second run started while one is still going waits
for it, then finds nothing left to send.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import config
from .api import Client
from .cache import Cache
from .errors import APIError, NetworkError, TrialFinderError, UserDataError
from .match.criteria import parser_version
from .match.verdict import evaluate
from .matcher import candidate_expression, candidate_rows, load_trials, registry_queries, reparse_stale
from .models import OPEN_STATUSES, STATUSES, SearchQuery, Study, criteria_digest
from .profiles import Profile, lasting_fields
from .shortlists import refresh as refresh_shortlist
from .sync import Progress, ensure_fresh
from .trust import trust_version
from .userdata import Patient, UserData
from .watches import (
    Item,
    Now,
    State,
    Watch,
    compare,
    get_watch,
    list_watches,
    near_sites,
    pending_items,
    record_delivery,
    record_run,
    seen_now,
    seen_states,
    seen_unchecked,
    watch_profile,
)

LOCK_WAIT_S = 15 * 60.0
# A later run compares the trials whose records changed since the previous run, with this much
# overlap: an import stamps every record with its start time, so one running alongside the
# previous digest may have committed records stamped before it.
CHANGE_OVERLAP = dt.timedelta(days=1)


@dataclass
class Outcome:
    """What a run did for one watch."""

    watch: Watch
    result: str  # sent | nothing | failed | not-due | dry-run
    items: list[Item] = field(default_factory=list)
    detail: str = ""
    profile: Profile | None = None


class Deliverer:
    """Sends or writes a watch's digest; raises ``TrialFinderError`` when it could not."""

    def deliver(self, watch: Watch, profile: Profile, items: list[Item], day: dt.date) -> tuple[str, str | None]:
        """Deliver; returns (method, target) for the log."""
        raise NotImplementedError


def is_due(watch: Watch, day: dt.date) -> bool:
    """Daily watches run once a day, weekly ones once in seven days (counted in days, so cron drift is fine)."""
    if watch.last_run_on is None:
        return True
    gap = (day - dt.date.fromisoformat(watch.last_run_on)).days
    return gap >= (7 if watch.every == "weekly" else 1)


@contextlib.contextmanager
def run_lock(path: Path, *, wait_s: float = LOCK_WAIT_S, poll_s: float = 0.2) -> Iterator[None]:
    """One digest run at a time per user data file; a second run waits for the first to finish."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise UserDataError(
                        f"another digest run has held {path} for {wait_s / 60:.0f} minutes; "
                        "if none is running, delete that file"
                    ) from None
                time.sleep(poll_s)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def run(
    cache: Cache,
    data: UserData,
    client_factory: Callable[[], Client],
    deliverer: Deliverer,
    *,
    day: dt.date,
    watch_name: str | None = None,
    offline: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> list[Outcome]:
    """Run every due watch (or the named one, due or not). Holds the run lock throughout.

    Watches share the refresh: each distinct registry search is synced once
    per run, however many watches ask for it.
    """
    with run_lock(Path(str(data.path) + ".digest.lock")):
        watches = [get_watch(data, watch_name)] if watch_name else list_watches(data)
        outcomes: dict[int, Outcome] = {}
        ready: list[tuple[Watch, Profile, Patient | None]] = []
        for watch in watches:
            # A watch whose last delivery failed is due again at once: its items are waiting.
            if not watch_name and not is_due(watch, day) and not pending_items(data, watch):
                outcomes[watch.id] = Outcome(watch, "not-due", detail=f"last run {watch.last_run_on}")
                continue
            try:
                profile, patient = watch_profile(data, watch, day)
            except TrialFinderError as exc:
                outcomes[watch.id] = Outcome(watch, "failed", detail=str(exc))
                continue
            ready.append((watch, profile, patient))
        failures = {} if offline else refresh(cache, client_factory, data, ready, progress=progress)
        reparse_stale(cache, progress=progress)
        # Watches with the same conditions look at the same trials: take them together and load
        # each trial once (the memo is dropped between groups, so memory stays bounded).
        ready.sort(key=lambda r: candidate_expression(r[1]))
        memo: dict[Any, Any] = {}  # loaded trials and per-trial facts, shared by a group of watches
        group = None
        for n, (watch, profile, patient) in enumerate(ready, 1):
            if candidate_expression(profile) != group:
                group, memo = candidate_expression(profile), {}
            if watch.id in failures:
                outcomes[watch.id] = Outcome(watch, "failed", detail=failures[watch.id], profile=profile)
                continue
            outcomes[watch.id] = run_watch(
                cache, data, deliverer, watch, profile, patient, day=day, dry_run=dry_run, memo=memo
            )
            if progress and len(ready) > 1:
                progress(f"compared {n} of {len(ready)} watches")
        return [outcomes[w.id] for w in watches]


def run_watch(
    cache: Cache,
    data: UserData,
    deliverer: Deliverer,
    watch: Watch,
    profile: Profile,
    patient: Patient | None,
    *,
    day: dt.date,
    dry_run: bool = False,
    memo: dict[Any, Any] | None = None,
) -> Outcome:
    """Compare, queue and deliver for one watch (the cache is already refreshed)."""
    try:
        shortlisted = {e.nct_id for e in data.entries(patient)} if patient else set()
        key = profile_key(profile)
        since = None
        if watch.last_run_at and watch.profile_key == key:
            last = dt.datetime.fromisoformat(watch.last_run_at.replace("Z", "+00:00"))
            # From the start of that hour: watches run together then share one search (see ``look``).
            since = (last - CHANGE_OVERLAP).strftime("%Y-%m-%dT%H:00:00Z")
        states, current = look(cache, profile, shortlisted, since=since, memo=memo)
        seen = seen_states(data, watch, None if since is None else [now.nct_id for now in current])
        news = compare(seen, current, shortlisted, config.REGISTRY_STUDY_URL)
        states = {nct: state for nct, state in states.items() if seen.get(nct) != state}  # write only changes
        if dry_run:
            waiting = pending_items(data, watch)
            known = {i.key for i in waiting}
            return Outcome(watch, "dry-run", waiting + [i for i in news if i.key not in known], profile=profile)
        record_run(data, watch, states, news, day=day.isoformat(), profile_key=key)
        items = pending_items(data, watch)
        if not items and not (watch.notify_empty and watch.every == "weekly"):
            return Outcome(watch, "nothing", profile=profile)
        try:
            method, target = deliverer.deliver(watch, profile, items, day)
        except TrialFinderError as exc:
            record_delivery(data, watch, items, method="email" if watch.email else "output", target=watch.email,
                            error=str(exc))  # fmt: skip
            return Outcome(watch, "failed", items, detail=f"delivery failed, will retry next run: {exc}")
        record_delivery(data, watch, items, method=method, target=target, error=None)
        result = "sent" if items else "nothing"
        return Outcome(watch, result, items, detail=f"{method} {target or ''}".strip(), profile=profile)
    except TrialFinderError as exc:
        return Outcome(watch, "failed", detail=str(exc), profile=profile)


def profile_key(profile: Profile) -> str:
    """What a watch's verdicts depend on besides the records: the profile's fields and the rules.

    When it changes (the patient's profile was updated, the parser or seeds
    changed), the next run compares every candidate trial, not only the
    changed ones.
    """
    fields = json.dumps(lasting_fields(profile), sort_keys=True)
    return hashlib.sha256(f"{fields}|{parser_version()}|{trust_version()}".encode()).hexdigest()[:16]


def refresh(
    cache: Cache,
    client_factory: Callable[[], Client],
    data: UserData,
    ready: Sequence[tuple[Watch, Profile, Patient | None]],
    *,
    progress: Progress | None = None,
) -> dict[int, str]:
    """Sync each distinct search of the due watches once (only what changed since the last fetch,
    every status so closures are seen) and the patients' shortlisted trials. Returns, for watches
    whose refresh failed, why."""
    queries: dict[str, SearchQuery] = {}
    needs: dict[int, set[str]] = {}
    for watch, profile, _ in ready:
        mine = registry_queries(profile, STATUSES)
        queries.update({q.key: q for q in mine})
        needs[watch.id] = {q.key for q in mine}
    errors: dict[str, str] = {}
    for key, query in queries.items():
        try:
            ensure_fresh(cache, client_factory, query, refresh=True, progress=progress)
        except (NetworkError, APIError) as exc:
            errors[key] = f"can't refresh {query.describe()} from the registry: {exc}"
    entries = [e for _, _, patient in ready if patient is not None for e in data.entries(patient)]
    try:
        refresh_shortlist(cache, client_factory, entries, progress=progress)
    except (NetworkError, APIError) as exc:
        errors["shortlists"] = f"can't refresh the shortlisted trials: {exc}"
        for watch, _, patient in ready:
            if patient is not None:
                needs[watch.id].add("shortlists")
    return {w: errors[k] for w, keys in needs.items() for k in sorted(keys) if k in errors}


def look(
    cache: Cache,
    profile: Profile,
    shortlisted: set[str],
    *,
    since: str | None = None,
    memo: dict[Any, Any] | None = None,
) -> tuple[dict[str, State], list[Now]]:
    """Candidate trials (any status; only those changed after ``since`` if given) and every
    shortlisted one, as the watch sees them now.

    Open and shortlisted trials are checked against the profile; closed ones
    are only noted (status and criteria fingerprint), which is most of them
    and all a later comparison needs.
    """
    rows = candidate_rows(cache, profile, changed_since=since, memo=memo)
    have = {r["nct_id"] for r in rows}
    rows += cache.get_rows(sorted(shortlisted - have))
    checked = [r for r in rows if r["status"] in OPEN_STATUSES or r["nct_id"] in shortlisted]
    noted = [r for r in rows if not (r["status"] in OPEN_STATUSES or r["nct_id"] in shortlisted)]
    current = [seen_unchecked(r) for r in noted]
    for row, trial in zip(checked, load_trials(cache, checked, memo), strict=True):
        digest = row["criteria_hash"]
        if not digest:  # stored before the cache kept the fingerprint
            raw = cache.get_record(row["nct_id"]) or {}
            digest = criteria_digest(Study.from_record(raw).eligibility_criteria if raw else "")
        current.append(seen_now(evaluate(trial, profile), digest, near_sites(trial.sites, profile)))
    return {now.nct_id: now.state for now in current}, current
