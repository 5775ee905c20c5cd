"""Distances on the Earth's surface, and the nearest site of a study."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle (haversine) distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def nearest(
    origin: tuple[float, float], sites: Iterable[Mapping[str, Any]], *, only_recruiting: bool = False
) -> tuple[float, Mapping[str, Any]] | None:
    """The closest site with coordinates (optionally only sites not marked closed), with its distance."""
    best: tuple[float, Mapping[str, Any]] | None = None
    for site in sites:
        lat, lon = site.get("lat"), site.get("lon")
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            continue  # no coordinates, or impossible ones (a registry typo): no distance rather than a wrong one
        if only_recruiting and not site_may_recruit(site.get("status")):
            continue
        km = distance_km(origin[0], origin[1], lat, lon)
        if best is None or km < best[0]:
            best = (km, site)
    return best


# A site without its own status takes the study's status; these say it isn't taking people.
CLOSED_SITE_STATUSES = frozenset(
    {"COMPLETED", "TERMINATED", "WITHDRAWN", "SUSPENDED", "ACTIVE_NOT_RECRUITING", "NO_LONGER_AVAILABLE"}
)


def site_may_recruit(status: str | None) -> bool:
    """True unless the site's own status says it is closed."""
    return (status or "").upper() not in CLOSED_SITE_STATUSES
