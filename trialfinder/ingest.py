"""Store raw study records in the cache: the one path every record takes.

Both ``import`` and a sync from the API call ``save_batch``. It flattens each
record (``prepare``), compares it with what the cache holds, and writes the
whole batch in one transaction: new and changed records, the full-text index,
sites, and, when a record changed, the key fields of the version it replaces.
A record that can't be read is rejected with a reason and the rest of the
batch is still saved.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic_core

from .cache import Cache, utcnow
from .errors import InputError
from .match.criteria import parse as parse_criteria
from .match.criteria import parser_version
from .models import Study, criteria_digest, nct_number
from .trust import assess as assess_trust
from .trust import trust_version


@dataclass
class Prepared:
    """A record made ready for the cache (its raw JSON is compressed only if it is written)."""

    row: dict[str, Any]
    raw_json: bytes
    text: tuple[str, ...]
    sites: list[tuple[Any, ...]]
    key: tuple[Any, ...]  # the fields whose change is kept as history
    criteria: str | None  # parsed eligibility criteria, JSON (None until parsed)
    eligibility: str | None = None  # the text to parse, kept only until it is parsed
    trust: str = ""  # registration and oversight findings, JSON

    @property
    def id(self) -> int:
        return self.row["id"]


@dataclass
class Counts:
    """What a batch (or a whole import) did."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    older: int = 0  # an older copy than the cached one: kept the cached one
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (where, why)

    def add(self, other: Counts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.older += other.older
        self.rejected += other.rejected

    @property
    def stored(self) -> int:
        return self.new + self.updated + self.unchanged + self.older

    def summary(self) -> str:
        return (
            f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged"
            + (f", {self.older} older than the cached copy (kept the cached one)" if self.older else "")
            + f", {len(self.rejected)} rejected"
        )


def search_text(study: Study) -> tuple[str, ...]:
    """The text indexed for full-text search, in ``cache.FTS_COLUMNS`` order.

    Changing what goes in here changes what the cache must delete when a record
    is replaced: it needs a migration that rebuilds ``studies_fts``.
    """
    leaves = [b.name for b in study.browse_leaves if b.name and b.relevance == "HIGH"]
    interventions = []
    for item in study.interventions:
        interventions += [item.name or "", *item.other_names]
    return (
        " | ".join(t for t in (study.brief_title, study.official_title, study.acronym) if t),
        " | ".join(dict.fromkeys(study.conditions + study.mesh_terms + leaves)),
        " | ".join(i for i in interventions if i),
        " | ".join(study.keywords),
        study.brief_summary or "",
        study.eligibility_criteria or "",
    )


def site_tuples(study: Study) -> list[tuple[Any, ...]]:
    return [(s.facility, s.city, s.state, s.country, s.status, s.lat, s.lon) for s in study.locations]


def prepare(
    raw: Any,
    *,
    fetched_at: str,
    data_timestamp: str | None = None,
    source: str | None = None,
    parse: bool = True,
) -> Prepared:
    """Flatten one raw record into a cache row. Raises ``InputError`` saying why it can't be stored.

    ``parse=False`` leaves the eligibility criteria for the caller to parse (imports do it in parallel).
    """
    study = Study.from_record(raw)
    # pydantic-core's serialiser writes the same bytes as json.dumps(separators=(",", ":"),
    # ensure_ascii=False), four times faster.
    raw_json = pydantic_core.to_json(raw)
    row = {
        "id": nct_number(study.nct_id),
        "nct_id": study.nct_id,
        "title": study.title,
        "status": study.overall_status,
        "last_known_status": study.last_known_status,
        "study_type": study.study_type,
        "phases": json.dumps(study.phases),
        "conditions": json.dumps(study.conditions),
        "keywords": json.dumps(study.keywords),
        "mesh_terms": json.dumps(study.mesh_terms),
        "min_age": study.minimum_age,
        "max_age": study.maximum_age,
        "min_age_days": study.min_age_days,
        "max_age_days": study.max_age_days,
        "sex": study.sex,
        "healthy_volunteers": study.healthy_volunteers,
        "last_update": study.last_update_post_date,
        "status_verified": study.status_verified_date,
        "has_results": study.has_results,
        "sponsor": study.lead_sponsor.name if study.lead_sponsor else None,
        "sponsor_class": study.lead_sponsor.sponsor_class if study.lead_sponsor else None,
        "n_sites": len(study.locations),
        "raw": None,
        "raw_hash": hashlib.sha1(raw_json).hexdigest(),
        "fetched_at": fetched_at,
        "changed_at": fetched_at,  # stored only when new or changed, so this is when it changed
        "criteria_hash": criteria_digest(study.eligibility_criteria),
        "data_timestamp": data_timestamp,
        "source": source,
    }
    criteria = parse_criteria(study.eligibility_criteria).to_json() if parse else None
    eligibility = None if parse else study.eligibility_criteria
    trust = json.dumps(assess_trust(study).to_json_data(), separators=(",", ":"), ensure_ascii=False)
    return Prepared(
        row, raw_json, search_text(study), site_tuples(study), _key_fields(study), criteria, eligibility, trust
    )


def _key_fields(study: Study) -> tuple[Any, ...]:
    sites = [(s.facility, s.city, s.country, s.status) for s in study.locations]
    return (study.last_update_post_date, study.overall_status, study.eligibility_criteria, sites)


def prepare_all(
    records: Sequence[tuple[str, Any]],
    *,
    fetched_at: str,
    data_timestamp: str | None = None,
    source: str | None = None,
) -> tuple[list[Prepared], list[tuple[str, str]]]:
    """Prepare ``(where, raw record)`` pairs; returns the usable ones and ``(where, why)`` for the rest."""
    prepared, rejected = [], []
    for where, raw in records:
        try:
            prepared.append(prepare(raw, fetched_at=fetched_at, data_timestamp=data_timestamp, source=source))
        except InputError as exc:
            rejected.append((where, str(exc)))
    return prepared, rejected


def save_batch(
    cache: Cache,
    records: Sequence[tuple[str, Any]],
    *,
    fetched_at: str | None = None,
    data_timestamp: str | None = None,
    source: str | None = None,
    query_key: str | None = None,
    also: Callable[[Cache], None] | None = None,
) -> Counts:
    """Save ``(where, raw record)`` pairs in one transaction and count what happened.

    ``where`` names the record's origin for rejection messages. ``also`` runs
    inside the same transaction (e.g. to record a sync's next page token), so
    the batch and its bookkeeping are committed together or not at all.
    """
    fetched_at = fetched_at or utcnow()
    prepared, rejected = prepare_all(records, fetched_at=fetched_at, data_timestamp=data_timestamp, source=source)
    counts = save_prepared(
        cache, prepared, fetched_at=fetched_at, data_timestamp=data_timestamp, query_key=query_key, also=also
    )
    counts.rejected = rejected + counts.rejected
    return counts


def save_prepared(
    cache: Cache,
    items: Sequence[Prepared],
    *,
    fetched_at: str,
    data_timestamp: str | None = None,
    query_key: str | None = None,
    also: Callable[[Cache], None] | None = None,
) -> Counts:
    """Write prepared records in one transaction: new, changed (with history), unchanged, older."""
    counts = Counts()
    latest: dict[int, Prepared] = {}
    for item in items:
        # The same study twice in one batch: keep the newer copy.
        earlier = latest.get(item.id)
        if earlier is None or (item.row["last_update"] or "") >= (earlier.row["last_update"] or ""):
            latest[item.id] = item

    with cache.transaction():
        stored = cache.get_stored(latest)
        to_put, unchanged, history, replaced_text = [], [], [], []
        for study_id, item in latest.items():
            old = stored.get(study_id)
            if old is None:
                counts.new += 1
                to_put.append(item)
            elif old.raw_hash == item.row["raw_hash"]:
                counts.unchanged += 1
                unchanged.append(study_id)
            elif old.last_update and item.row["last_update"] and item.row["last_update"] < old.last_update:
                counts.older += 1
            else:
                counts.updated += 1
                to_put.append(item)
                old_study = Study.from_record(cache.get_raw(study_id) or {})
                replaced_text.append((study_id, search_text(old_study)))
                if _key_fields(old_study) != item.key:
                    history.append(_history_entry(old_study, old.raw_hash, fetched_at))
        for item in to_put:
            if item.row["raw"] is None:  # imports compress in their worker processes
                item.row["raw"] = cache.pack_record(item.raw_json)
        cache.put_studies([item.row for item in to_put])
        cache.unindex_text(replaced_text)
        cache.index_text([(item.id, item.text) for item in to_put])
        cache.replace_sites([(item.id, item.sites) for item in to_put])
        version = parser_version()
        cache.put_criteria([(item.id, version, item.criteria) for item in to_put])
        trust = trust_version()
        cache.put_trust([(item.id, trust, item.trust) for item in to_put])
        cache.add_history(history)
        cache.touch_studies(unchanged, fetched_at, data_timestamp)
        if query_key:
            cache.link_query(query_key, latest)
        if also:
            also(cache)
    return counts


def _history_entry(study: Study, raw_hash: str, replaced_at: str) -> dict[str, Any]:
    return {
        "study_id": nct_number(study.nct_id),
        "nct_id": study.nct_id,
        "replaced_at": replaced_at,
        "last_update": study.last_update_post_date,
        "status": study.overall_status,
        "eligibility": study.eligibility_criteria,
        "sites": json.dumps([[s.facility, s.city, s.country, s.status] for s in study.locations]),
        "raw_hash": raw_hash,
    }
