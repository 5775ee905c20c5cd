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

from .cache import Cache, pack_record, unpack_record, utcnow
from .errors import InputError
from .models import Study, nct_number


@dataclass
class Prepared:
    """A record made ready for the cache."""

    study: Study
    row: dict[str, Any]
    text: tuple[str, ...]
    sites: list[tuple[Any, ...]]

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


def prepare(raw: Any, *, fetched_at: str, data_timestamp: str | None = None, source: str | None = None) -> Prepared:
    """Flatten one raw record into a cache row. Raises ``InputError`` saying why it can't be stored."""
    study = Study.from_record(raw)
    raw_json = json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
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
        "raw": pack_record(raw_json),
        "raw_hash": hashlib.sha1(raw_json).hexdigest(),
        "fetched_at": fetched_at,
        "data_timestamp": data_timestamp,
        "source": source,
        "criteria": None,
        "parser_version": None,
    }
    return Prepared(study, row, search_text(study), site_tuples(study))


def _key_fields(study: Study) -> tuple[Any, ...]:
    sites = [(s.facility, s.city, s.country, s.status) for s in study.locations]
    return (study.last_update_post_date, study.overall_status, study.eligibility_criteria, sites)


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
    counts = Counts()
    prepared: dict[int, Prepared] = {}
    for where, raw in records:
        try:
            item = prepare(raw, fetched_at=fetched_at, data_timestamp=data_timestamp, source=source)
        except InputError as exc:
            counts.rejected.append((where, str(exc)))
            continue
        # The same study twice in one batch: keep the newer copy.
        earlier = prepared.get(item.id)
        if earlier is None or (item.row["last_update"] or "") >= (earlier.row["last_update"] or ""):
            prepared[item.id] = item

    with cache.transaction():
        stored = cache.get_stored(prepared)
        to_put, unchanged, history = [], [], []
        for study_id, item in prepared.items():
            old = stored.get(study_id)
            if old is None:
                counts.new += 1
                to_put.append(item)
                cache.index_text(study_id, item.text)
            elif old.raw_hash == item.row["raw_hash"]:
                counts.unchanged += 1
                unchanged.append(study_id)
            elif old.last_update and item.row["last_update"] and item.row["last_update"] < old.last_update:
                counts.older += 1
            else:
                counts.updated += 1
                to_put.append(item)
                old_study = Study.from_record(unpack_record(old.raw))
                cache.index_text(study_id, item.text, old_values=search_text(old_study))
                if _key_fields(old_study) != _key_fields(item.study):
                    history.append(_history_entry(old_study, old.raw_hash, fetched_at))
        cache.put_studies([item.row for item in to_put])
        for item in to_put:
            cache.replace_sites(item.id, item.sites)
        cache.add_history(history)
        cache.touch_studies(unchanged, fetched_at, data_timestamp)
        if query_key:
            cache.link_query(query_key, prepared)
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
