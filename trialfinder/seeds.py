"""Domain knowledge loaded from ``seeds/``: conditions, phase windows, severity scales.

The files are data with a source for each fact; this module only reads and
checks them, once per process. Nothing medical is hard-coded elsewhere.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_SEEDS = "TRIALFINDER_SEEDS"


def seeds_dir() -> Path:
    """Where the seed files are: $TRIALFINDER_SEEDS, the installed package data, or the checkout."""
    if os.environ.get(ENV_SEEDS):
        return Path(os.environ[ENV_SEEDS])
    installed = Path(str(importlib.resources.files("trialfinder"))) / "seeds"
    if (installed / "conditions.toml").exists():
        return installed
    return Path(__file__).resolve().parent.parent / "seeds"


@functools.cache
def fingerprint() -> str:
    """A short hash of the seed files: derived data stored in the cache is redone when they change."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(seeds_dir().glob("*.toml")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:10]


def load_toml(name: str) -> dict[str, Any]:
    with open(seeds_dir() / name, "rb") as fh:
        return tomllib.load(fh)


@functools.lru_cache(maxsize=8192)
def normalise_term(text: str) -> str:
    """Lower case, apostrophes and accents folded, single spaces: how synonyms are compared."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = text.lower().replace("’", "'").replace("-", " ")
    return " ".join(re.findall(r"[a-z0-9']+", text))


@dataclass(frozen=True)
class Condition:
    id: str
    label: str
    mesh: tuple[str, ...]
    synonyms: tuple[str, ...]
    trial_terms: tuple[str, ...]
    criteria_terms: tuple[str, ...]
    event_words: tuple[str, ...]
    query: str
    source: str


@dataclass(frozen=True)
class Window:
    """A phase as time since onset, in days: each boundary is a [earliest, latest] range over definitions."""

    start: tuple[float, float]
    end: tuple[float, float] | None  # None: open-ended (chronic)


@dataclass(frozen=True)
class Knowledge:
    conditions: dict[str, Condition]
    phases: dict[str, dict[str, Window]]
    phase_sources: dict[str, tuple[str, ...]]
    ais_grades: tuple[str, ...]
    ais_terms: dict[str, tuple[str, ...]]
    levels: tuple[str, ...]
    level_regions: dict[str, tuple[str, str]]
    gmfcs_levels: tuple[str, ...]
    deficit_ais: tuple[str, ...] = ()
    deficit_conditions: tuple[str, ...] = ()

    def resolve(self, term: str) -> list[Condition]:
        """The known conditions a patient's term stands for (empty if unknown)."""
        return list(self._by_synonym.get(normalise_term(term), ()))

    @functools.cached_property
    def _by_synonym(self) -> dict[str, tuple[Condition, ...]]:
        index: dict[str, list[Condition]] = {}
        for condition in self.conditions.values():
            for synonym in dict.fromkeys(normalise_term(s) for s in condition.synonyms):
                index.setdefault(synonym, []).append(condition)
        return {k: tuple(v) for k, v in index.items()}

    def level_index(self, level: str) -> int:
        return self.levels.index(level.upper())


@functools.cache
def knowledge() -> Knowledge:
    """All seed knowledge, read once."""
    raw_conditions = load_toml("conditions.toml")
    conditions = {
        cid: Condition(
            id=cid,
            label=c["label"],
            mesh=tuple(c["mesh"]),
            synonyms=tuple(c["synonyms"]),
            trial_terms=tuple(c["trial_terms"]),
            criteria_terms=tuple(c["criteria_terms"]),
            event_words=tuple(c.get("event_words", ())),
            query=c["query"],
            source=c["source"],
        )
        for cid, c in raw_conditions.items()
    }
    raw_phases = load_toml("phases.toml")
    phases: dict[str, dict[str, Window]] = {}
    sources: dict[str, tuple[str, ...]] = {}
    for cid, table in raw_phases.items():
        if cid not in conditions:
            raise ValueError(f"seeds/phases.toml: unknown condition {cid!r}")
        sources[cid] = tuple(table.get("sources", ()))
        phases[cid] = {
            name: Window(tuple(w["start"]), tuple(w["end"]) if "end" in w else None)
            for name, w in table.items()
            if name in ("acute", "subacute", "chronic")
        }
    severity = load_toml("severity.toml")
    levels = tuple(severity["levels"]["order"])
    return Knowledge(
        conditions=conditions,
        phases=phases,
        phase_sources=sources,
        ais_grades=tuple(severity["ais"]["grades"]),
        ais_terms={k: tuple(v) for k, v in severity["ais"]["terms"].items()},
        levels=levels,
        level_regions={k: (v[0], v[1]) for k, v in severity["levels"]["regions"].items()},
        gmfcs_levels=tuple(severity["gmfcs"]["levels"]),
        deficit_ais=tuple(severity.get("deficit", {}).get("ais", ())),
        deficit_conditions=tuple(severity.get("deficit", {}).get("conditions", ())),
    )
