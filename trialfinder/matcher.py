"""Match a patient profile against the trials in the cache: cache → matcher → results.

``prepare_cache`` makes sure the cache holds the trials for the profile's
conditions (through the registry unless offline) and that their criteria are
parsed by the current parser. ``match`` then reads candidates from the cache
only (no network) and evaluates each one.

Privacy: only the condition search terms (and, when the profile asks for a
distance limit and the search is not for every candidate, the search
coordinates) go to the registry. Age, sex, dates
and severity never leave this machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from .api import Client
from .cache import Cache, fts_phrase
from .errors import InputError
from .match.conditions import targeted
from .match.criteria import Parsed, parser_version
from .match.criteria import parse as parse_criteria
from .match.verdict import VERDICT_ORDER, Trial, TrialMatch, evaluate, score
from .models import OPEN_STATUSES, STATUSES, SearchQuery, Study, normalise_nct_id
from .profiles import Profile
from .sync import Progress, SyncResult, ensure_fresh
from .trust import Trust, trust_version
from .trust import assess as assess_trust


def registry_queries(profile: Profile, statuses: Sequence[str], *, by_distance: bool = True) -> list[SearchQuery]:
    """The searches sent to the registry for a profile: one per condition, nothing personal.

    With ``by_distance`` (the default) and a profile that sets a distance limit, the registry is
    asked only for trials with a site in that area; without it (``match --all``), for every trial
    about the conditions, wherever its sites are.
    """
    near = within = None
    if by_distance and profile.location is not None and profile.max_distance_km is not None:
        near, within = (profile.location.lat, profile.location.lon), profile.max_distance_km
    terms = [c.query for c in profile.known_conditions()] + profile.unknown_condition_terms()
    return [SearchQuery.build(condition=t, statuses=statuses, near=near, within_km=within) for t in terms]


def candidate_expression(profile: Profile) -> str:
    """FTS phrases over title, conditions and keywords for every name of the profile's conditions ("" if none)."""
    phrases: list[str] = []
    for condition in profile.known_conditions():
        phrases += [*condition.synonyms, *condition.mesh, *condition.trial_terms]
    phrases += profile.unknown_condition_terms()
    parts = [p for p in (fts_phrase(x) for x in dict.fromkeys(x.lower() for x in phrases)) if p]
    if not parts:
        return ""  # no words to search for (a condition of punctuation only): no candidates
    return "{title conditions keywords} : (" + " OR ".join(parts) + ")"


def is_candidate(targets: set[str], names: str, profile: Profile) -> bool:
    """A full-text hit is a candidate if it is about one of the patient's conditions.

    Known conditions are checked with the same vocabulary as ``targeted`` (so
    "Chronic Prostatitis (CP)" is not cerebral palsy); free-text conditions
    must appear as a phrase in the title, conditions or keywords (``names``).
    """
    if targets & {c.id for c in profile.known_conditions()}:
        return True
    named = names.lower()
    return any(term.lower() in named for term in profile.unknown_condition_terms())


def candidate_rows(
    cache: Cache,
    profile: Profile,
    *,
    statuses: Sequence[str] = (),
    changed_since: str | None = None,
    memo: dict[Any, Any] | None = None,
) -> list[dict[str, Any]]:
    """Cache rows of the trials about the profile's conditions (any status unless ``statuses``).

    ``memo`` keeps what was worked out per trial (which conditions it targets) across calls.
    """
    expression = candidate_expression(profile)
    if not expression:
        return []
    key = ("rows", expression, tuple(statuses), changed_since)
    if memo is not None and key in memo:
        rows = memo[key]  # watches with the same conditions, looking from the same time, share a search
    else:
        rows = cache.search_text(expression, statuses=statuses, changed_since=changed_since, ranked=False)
        if memo is not None:
            memo[key] = rows
    return [row for row in rows if is_candidate(row_targets(row, memo), row_names(row), profile)]


def row_targets(row: dict[str, Any], memo: dict[Any, Any] | None = None) -> set[str]:
    """The known conditions a cached trial is about (see ``targeted``)."""
    key = ("targets", row["nct_id"], row["last_update"])
    if memo is not None and key in memo:
        return memo[key]
    found = targeted(
        row["title"],
        json.loads(row["conditions"] or "[]"),
        json.loads(row["keywords"] or "[]"),
        json.loads(row["mesh_terms"] or "[]"),
    )
    if memo is not None:
        memo[key] = found
    return found


def row_names(row: dict[str, Any]) -> str:
    """Title, conditions and keywords: where a free-text condition must appear."""
    return " | ".join(
        [row["title"] or "", *json.loads(row["conditions"] or "[]"), *json.loads(row["keywords"] or "[]")]
    )


def prepare_cache(
    cache: Cache,
    client_factory: Callable[[], Client],
    profile: Profile,
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
    include_all: bool = False,
    offline: bool = False,
    refresh: bool = False,
    progress: Progress | None = None,
) -> list[SyncResult]:
    """Fetch (through the cache) the trials for the profile's conditions; parse what needs parsing.

    ``include_all`` (for ``match(..., include_all=True)``) fetches them whatever the distance of
    their sites: every candidate is to be shown, so the registry search is not limited to an area.
    """
    results = [
        ensure_fresh(cache, client_factory, query, offline=offline, refresh=refresh, progress=progress)
        for query in registry_queries(profile, statuses, by_distance=not include_all)
    ]
    reparse_stale(cache, progress=progress)
    return results


def reparse_stale(cache: Cache, *, progress: Progress | None = None, batch: int = 500) -> int:
    """Redo parsed criteria and trust findings made by older rules (or never made); returns how many."""
    criteria_version, rules_version = parser_version(), trust_version()
    stale = cache.stale_derived(criteria_version, rules_version)
    for start in range(0, len(stale), batch):
        criteria_entries, trust_entries = [], []
        for study_id in stale[start : start + batch]:
            raw = cache.get_raw(study_id)
            study = Study.from_record(raw) if raw else None
            text = study.eligibility_criteria if study else ""
            criteria_entries.append((study_id, criteria_version, parse_criteria(text).to_json()))
            findings = assess_trust(study).to_json_data() if study else {}
            trust_entries.append((study_id, rules_version, json.dumps(findings, separators=(",", ":"))))
        with cache.transaction():
            cache.put_criteria(criteria_entries)
            cache.put_trust(trust_entries)
        if progress:
            progress(f"re-read the criteria and oversight of {min(start + batch, len(stale))} of {len(stale)} trials")
    return len(stale)


def load_trials(cache: Cache, rows: Sequence[dict[str, Any]], memo: dict[Any, Any] | None = None) -> list[Trial]:
    """Trials ready to evaluate, from cache rows (parsed criteria and sites read in bulk).

    ``memo`` keeps trials already loaded (a digest run evaluating many watches
    against the same trials loads each once); trials don't depend on a profile.
    """
    if memo is None:
        return _load_trials(cache, rows, {})
    missing = [r for r in rows if r["nct_id"] not in memo]
    memo.update((t.nct_id, t) for t in _load_trials(cache, missing, memo))
    return [memo[r["nct_id"]] for r in rows]


def _load_trials(cache: Cache, rows: Sequence[dict[str, Any]], memo: dict[Any, Any]) -> list[Trial]:
    ids = [r["nct_id"] for r in rows]
    criteria = cache.get_criteria(ids)
    trusts = cache.get_trust(ids)
    sites = cache.sites_for(ids)
    criteria_version, rules_version = parser_version(), trust_version()
    trials = []
    for row in rows:
        stored = criteria.get(row["nct_id"])
        findings = trusts.get(row["nct_id"])
        study: Study | None = None
        if not (stored and stored[0] == criteria_version and findings and findings[0] == rules_version):
            raw = cache.get_record(row["nct_id"])
            study = Study.from_record(raw) if raw else None
        if stored and stored[0] == criteria_version:
            parsed = Parsed.from_json(stored[1])
        else:
            parsed = parse_criteria(study.eligibility_criteria if study else "")
        if findings and findings[0] == rules_version:
            trust = Trust.from_json_data(json.loads(findings[1]))
        else:
            trust = assess_trust(study) if study else Trust()
        conditions = json.loads(row["conditions"] or "[]")
        keywords = json.loads(row["keywords"] or "[]")
        trials.append(
            Trial(
                nct_id=row["nct_id"],
                title=row["title"] or row["nct_id"],
                status=row["status"],
                minimum_age=row["min_age"],
                maximum_age=row["max_age"],
                sex=row["sex"],
                healthy_volunteers=None if row["healthy_volunteers"] is None else bool(row["healthy_volunteers"]),
                conditions=conditions,
                keywords=keywords,
                targets=row_targets(row, memo),  # worked out once when the candidates were chosen
                parsed=parsed,
                sites=sites.get(row["nct_id"], []),
                last_update=row["last_update"],
                status_verified=row["status_verified"],
                trust=trust,
            )
        )
    return trials


def match(
    cache: Cache,
    profile: Profile,
    *,
    statuses: Sequence[str] = OPEN_STATUSES,
    include_all: bool = False,
    hide_flagged: bool = False,
    limit: int | None = None,
    changed_since: str | None = None,
    memo: dict[Any, Any] | None = None,
) -> list[TrialMatch]:
    """Evaluate every candidate trial in the cache, best first.

    By default only trials with one of ``statuses`` that are not clearly
    ineligible and have an open site within the profile's distance are kept;
    ``include_all`` keeps every candidate, whatever its status, verdict or
    distance. Trials with warning signs rank last; ``hide_flagged`` drops them.
    ``changed_since`` looks only at trials whose record changed after that time.
    """
    memo = {} if memo is None else memo
    statuses = () if include_all else statuses
    rows = candidate_rows(cache, profile, statuses=statuses, changed_since=changed_since, memo=memo)
    matches = []
    for trial in load_trials(cache, rows, memo):
        result = evaluate(trial, profile)
        result.score = score(result, profile)
        if hide_flagged and trial.trust.flagged:
            continue
        if not include_all:
            if result.verdict == "ineligible":
                continue
            if any(r.criterion == "distance" and r.result == "not_met" for r in result.reasons):
                continue
        matches.append(result)
    matches.sort(key=lambda m: (-m.score, VERDICT_ORDER[m.verdict], m.nct_id))
    return matches[:limit] if limit else matches


def explain(cache: Cache, profile: Profile, nct_id: str) -> TrialMatch:
    """The full checklist for one trial already in the cache."""
    nct_id = normalise_nct_id(nct_id)
    row = cache.get_row(nct_id)
    if row is None:
        raise InputError(f"{nct_id} is not in the cache; run `trialfinder show {nct_id}` first to fetch it")
    (trial,) = load_trials(cache, [row])
    result = evaluate(trial, profile)
    result.score = score(result, profile)
    return result


ALL_STATUSES = STATUSES
