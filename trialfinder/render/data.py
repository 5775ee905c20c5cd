"""Plain data (for ``--json``): stable field names that programs can rely on."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .. import config
from ..match.verdict import TrialMatch
from ..search import Hit


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
