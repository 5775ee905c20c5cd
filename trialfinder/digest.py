"""A digest run: for each due watch, refresh, compare, queue the news, deliver it.

The order is what keeps the promise "nothing reported twice, nothing lost":

1. refresh the cache for the watch's conditions (incrementally) and its
   patient's shortlisted trials;
2. compare with what the watch last saw, and in one transaction remember
   what it sees now and queue the news as items;
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
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from . import config
from .api import Client
from .cache import Cache
from .errors import NetworkError, TrialFinderError, UserDataError
from .match.verdict import TrialMatch
from .matcher import explain, match, registry_queries, reparse_stale
from .models import STATUSES, Study
from .profiles import Profile
from .shortlists import criteria_digest
from .shortlists import refresh as refresh_shortlist
from .sync import Progress, ensure_fresh
from .userdata import UserData
from .watches import (
    Item,
    State,
    Watch,
    compare,
    get_watch,
    list_watches,
    near_sites,
    pending_items,
    record_delivery,
    record_run,
    seen_states,
    state_of,
    watch_profile,
)

LOCK_WAIT_S = 15 * 60.0


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
    """Run every due watch (or the named one, due or not). Holds the run lock throughout."""
    with run_lock(Path(str(data.path) + ".digest.lock")):
        watches = [get_watch(data, watch_name)] if watch_name else list_watches(data)
        outcomes = []
        for watch in watches:
            # A watch whose last delivery failed is due again at once: its items are waiting.
            if not watch_name and not is_due(watch, day) and not pending_items(data, watch):
                outcomes.append(Outcome(watch, "not-due", detail=f"last run {watch.last_run_on}"))
                continue
            outcomes.append(
                run_watch(
                    cache,
                    data,
                    client_factory,
                    deliverer,
                    watch,
                    day=day,
                    offline=offline,
                    dry_run=dry_run,
                    progress=progress,
                )  # fmt: skip
            )
        return outcomes


def run_watch(
    cache: Cache,
    data: UserData,
    client_factory: Callable[[], Client],
    deliverer: Deliverer,
    watch: Watch,
    *,
    day: dt.date,
    offline: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> Outcome:
    try:
        profile, patient = watch_profile(data, watch, day)
        shortlisted = {e.nct_id for e in data.entries(patient)} if patient else set()
        if not offline:
            refresh(cache, client_factory, data, profile, patient, progress=progress)
        reparse_stale(cache, progress=progress)
        states, current = look(cache, profile, shortlisted)
        news = compare(seen_states(data, watch), current, shortlisted, config.REGISTRY_STUDY_URL)
        if dry_run:
            waiting = pending_items(data, watch)
            known = {i.key for i in waiting}
            return Outcome(watch, "dry-run", waiting + [i for i in news if i.key not in known], profile=profile)
        record_run(data, watch, states, news, day=day.isoformat())
        items = pending_items(data, watch)
        if not items and not (watch.notify_empty and watch.every == "weekly"):
            return Outcome(watch, "nothing")
        try:
            method, target = deliverer.deliver(watch, profile, items, day)
        except TrialFinderError as exc:
            record_delivery(data, watch, items, method="email" if watch.email else "output", target=watch.email,
                            error=str(exc))  # fmt: skip
            return Outcome(watch, "failed", items, detail=f"delivery failed, will retry next run: {exc}")
        record_delivery(data, watch, items, method=method, target=target, error=None)
        return Outcome(watch, "sent" if items else "nothing", items, detail=f"{method} {target or ''}".strip())
    except NetworkError as exc:
        return Outcome(watch, "failed", detail=f"can't reach the registry: {exc}")
    except TrialFinderError as exc:
        return Outcome(watch, "failed", detail=str(exc))


def refresh(
    cache: Cache,
    client_factory: Callable[[], Client],
    data: UserData,
    profile: Profile,
    patient: object | None,
    *,
    progress: Progress | None = None,
) -> None:
    """Only what changed since the last fetch (a day of overlap), every status so closures are seen."""
    for query in registry_queries(profile, STATUSES):
        ensure_fresh(cache, client_factory, query, refresh=True, progress=progress)
    if patient is not None:
        refresh_shortlist(cache, client_factory, data.entries(patient), progress=progress)


def look(
    cache: Cache, profile: Profile, shortlisted: set[str]
) -> tuple[dict[str, State], list[tuple[TrialMatch, State]]]:
    """Every candidate trial (any status or verdict) and every shortlisted one, as the watch sees it now."""
    matches = {m.nct_id: m for m in match(cache, profile, statuses=STATUSES, include_all=True)}
    for nct in sorted(shortlisted - set(matches)):
        if cache.get_row(nct) is not None:
            matches[nct] = explain(cache, profile, nct)
    sites = cache.sites_for(list(matches))
    current = []
    for nct, m in matches.items():
        raw = cache.get_record(nct) or {}
        text = Study.from_record(raw).eligibility_criteria if raw else ""
        current.append((m, state_of(m, criteria_digest(text), near_sites(sites.get(nct, []), profile))))
    return {m.nct_id: s for m, s in current}, current
