"""Plain data (for ``--json``): stable field names that programs can rely on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .. import config
from ..match.verdict import TrialMatch
from ..search import Hit
from ..shortlists import Item


def search_item(hit: Hit) -> dict[str, Any]:
    r = hit.row
    return {
        "nct_id": r["nct_id"],
        "title": r["title"],
        "status": r["status"],
        "conditions": json.loads(r["conditions"] or "[]"),
        "phases": json.loads(r["phases"] or "[]"),
        "min_age": r["min_age"],
        "max_age": r["max_age"],
        "sex": r["sex"],
        "last_update": r["last_update"],
        "url": config.REGISTRY_STUDY_URL.format(nct_id=r["nct_id"]),
        "nearest_site_km": round(hit.nearest_km, 1) if hit.nearest_km is not None else None,
    }


def search_items(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    return [search_item(h) for h in hits]


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def match_item(match: TrialMatch) -> dict[str, Any]:
    """One trial of ``match --json``: verdict, reasons, score, nearest site."""
    return {**match.to_dict(), "url": config.REGISTRY_STUDY_URL.format(nct_id=match.nct_id)}


def shortlist_item(item: Item) -> dict[str, Any]:
    """One trial of ``shortlist show --json``: the coordinator's entry and the trial re-checked now."""
    entry = item.entry
    return {
        "nct_id": item.nct_id,
        "title": item.title,
        "url": config.REGISTRY_STUDY_URL.format(nct_id=item.nct_id),
        "pipeline_status": entry.status,
        "status_since": item.status_since,
        "status_reason": item.status_reason,
        "note": entry.note,
        "shortlisted_at": entry.added_at,
        "in_cache": item.match is not None,
        "fetched_at": item.fetched_at,
        "match": item.match.to_dict() if item.match else None,
        "nearest_sites": [s.to_dict() for s in item.sites],
        "study_contacts": [c.model_dump(exclude_none=True) for c in item.central_contacts],
        "changes": [c.to_dict() for c in item.changes],
    }
