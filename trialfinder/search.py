"""Answer a search from the cache: cache → results.

Candidates are the studies the registry returned for this search (when it
was fetched) together with the cache's own full-text matches, so a search
works the same online and offline, and after a bulk import. Status and
distance filters are always applied here, on the current records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .cache import Cache, fts_expression
from .geo import nearest
from .models import SearchQuery

# Essie operators are meaningful to the registry but not to the local index.
_OPERATORS = re.compile(r"\b(AND|OR|NOT)\b|AREA\[[^\]]*\]|RANGE\[[^\]]*\]")

# Open trials first; the rest keep the registry's relevance order among themselves.
STATUS_PRIORITY = ("RECRUITING", "NOT_YET_RECRUITING", "ENROLLING_BY_INVITATION", "AVAILABLE", "ACTIVE_NOT_RECRUITING")
STATUS_ORDER = {status: i for i, status in enumerate(STATUS_PRIORITY)}

# Ranking by relevance costs a few microseconds per matching study; past this many matches a
# search lists open trials first, newest registration first, so it stays fast on a registry-sized cache.
RANK_AT_MOST = 20_000


@dataclass
class Hit:
    """A study found by a search, with its nearest site when a place was given."""

    row: dict[str, Any]
    nearest_km: float | None = None
    nearest_site: dict[str, Any] | None = None
    rank: int = 0

    @property
    def nct_id(self) -> str:
        return self.row["nct_id"]


def _fts(text: str | None, columns: str | None) -> str | None:
    expr = fts_expression(_OPERATORS.sub(" ", text or ""))
    if expr is None:
        return None
    return f"{{{columns}}} : ({expr})" if columns else f"({expr})"


def local_expression(query: SearchQuery) -> str | None:
    """The FTS5 expression for a search's text parts, all required."""
    parts = [
        _fts(query.condition, "title conditions keywords"),
        _fts(query.term, None),
        _fts(query.intervention, "title interventions"),
    ]
    parts = [p for p in parts if p]
    return " AND ".join(parts) if parts else None


def find(cache: Cache, query: SearchQuery, *, limit: int | None = None) -> list[Hit]:
    """Studies matching the search, open ones first, then best text match, then newest update."""
    expr = local_expression(query)
    hits: dict[str, Hit] = {}
    # Distance and place filters drop hits after the query, so only a plain search can be cut short in SQL.
    cut = limit if query.near is None and not query.location else None
    if expr:
        if cache.count_text(expr, at_most=RANK_AT_MOST + 1) <= RANK_AT_MOST:
            rows = cache.search_text(expr, statuses=query.statuses, status_order=STATUS_PRIORITY, limit=cut)
        else:
            rows = _broad(cache, expr, query.statuses, cut)
        for rank, row in enumerate(rows):
            hits[row["nct_id"]] = Hit(row, rank=rank)
    remembered = [n for n in cache.query_study_ids(query.key) if n not in hits]
    rows = sorted(cache.get_rows(remembered), key=lambda r: r["last_update"] or "", reverse=True)
    for row in rows:
        if not query.statuses or row["status"] in query.statuses:
            hits[row["nct_id"]] = Hit(row, rank=len(hits))
    if expr is None and not remembered and query.location is None:
        return []
    if query.location:
        at = cache.studies_with_site_like(query.location)
        hits = {n: h for n, h in hits.items() if n in at} if (expr or remembered) else _rows(cache, at, query)
    if query.near is not None and query.within_km is not None:
        sites = cache.sites_for(list(hits))
        for nct_id, hit in list(hits.items()):
            found = nearest(query.near, sites.get(nct_id, []))
            if found is None or found[0] > query.within_km:
                del hits[nct_id]
            else:
                hit.nearest_km, hit.nearest_site = found[0], dict(found[1])
    ordered = sorted(hits.values(), key=lambda h: (STATUS_ORDER.get(h.row["status"], len(STATUS_ORDER)), h.rank))
    return ordered[:limit] if limit else ordered


def _broad(cache: Cache, expr: str, statuses: tuple[str, ...], limit: int | None) -> list[dict[str, Any]]:
    """A search matching very many studies: open trials first, each group newest registration first,
    unranked, so that only as many matches as are shown are read."""
    wanted = [s for s in STATUS_PRIORITY if not statuses or s in statuses]
    rows = cache.search_text(expr, statuses=wanted, limit=limit, ranked=False) if wanted else []
    if limit is None or len(rows) < limit:
        seen = {r["nct_id"] for r in rows}
        more = cache.search_text(expr, statuses=statuses, limit=limit and limit + len(rows), ranked=False)
        rows += [r for r in more if r["nct_id"] not in seen][: None if limit is None else limit - len(rows)]
    return rows


def _rows(cache: Cache, nct_ids: set[str], query: SearchQuery) -> dict[str, Hit]:
    rows = [r for r in cache.get_rows(sorted(nct_ids)) if not query.statuses or r["status"] in query.statuses]
    rows.sort(key=lambda r: r["last_update"] or "", reverse=True)
    return {r["nct_id"]: Hit(r, rank=i) for i, r in enumerate(rows)}
