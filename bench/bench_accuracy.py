"""Accuracy of the matcher against the hand-judged set in bench/labels/ (real records, independent labels).

    python bench/bench_accuracy.py [--show-errors]

Reads the real records from ../shared/ctgov/studies into a temporary cache,
runs every labelled (profile, trial) pair through the same code as
`trialfinder explain`, and reports:
  - false "ineligible": share of the pairs labelled may_qualify that the matcher calls ineligible
  - recall of "ineligible" overall and for exclusions on age, sex, timing or severity
  - precision of "ineligible"
  - how many of the trials that target each profile's condition `match --all` finds
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

from trialfinder.cache import Cache
from trialfinder.importer import import_paths
from trialfinder.matcher import explain, match
from trialfinder.profiles import load_profile

HERE = Path(__file__).resolve().parent
LABELS = HERE / "labels"  # --labels heldout reads bench/heldout instead
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", HERE.parents[1] / "shared"))
STUDIES = SHARED / "ctgov" / "studies"
CLEAR_KINDS = {"age", "sex", "time_since_onset", "severity"}


def load_rows(name: str) -> list[dict[str, str]]:
    with open(LABELS / name, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def evaluate(cache: Cache) -> dict:
    profiles = {p.stem: load_profile(p) for p in sorted((LABELS / "profiles").glob("*.toml"))}
    rows = load_rows("labels.csv")
    results = []
    for row in rows:
        verdict = explain(cache, profiles[row["profile"]], row["nct_id"])
        results.append((row, verdict))
    targets = defaultdict(set)
    for row in load_rows("targets.csv"):
        targets[row["profile"]].add(row["nct_id"])
    found = {}
    for name, profile in profiles.items():
        ids = {m.nct_id for m in match(cache, profile, include_all=True)}
        found[name] = (targets[name] & ids, targets[name] - ids)
    return {"results": results, "found": found}


def report(data: dict, show_errors: bool) -> None:
    results = data["results"]
    may = [(r, m) for r, m in results if r["expected"] == "may_qualify"]
    inel = [(r, m) for r, m in results if r["expected"] == "ineligible"]
    clear = [(r, m) for r, m in inel if r["deciding_kind"] in CLEAR_KINDS]
    false_inel = [(r, m) for r, m in may if m.verdict == "ineligible"]
    called = [(r, m) for r, m in results if m.verdict == "ineligible"]
    true_inel = [(r, m) for r, m in called if r["expected"] == "ineligible"]
    print(
        f"labelled pairs: {len(results)} ({len(may)} may_qualify, {len(inel)} ineligible); "
        f"profiles: {len(data['found'])}"
    )
    print(
        f"false ineligible: {len(false_inel)} of {len(may)} may_qualify pairs = {100 * len(false_inel) / len(may):.1f}%"
    )
    print(f"verdicts for may_qualify pairs: {dict(Counter(m.verdict for _, m in may))}")
    recall_clear = sum(1 for _, m in clear if m.verdict == "ineligible")
    print(
        f"ineligible recall, age/sex/timing/severity: {recall_clear} of {len(clear)} = "
        f"{100 * recall_clear / len(clear):.1f}%"
    )
    by_kind = defaultdict(lambda: [0, 0])
    for r, m in inel:
        by_kind[r["deciding_kind"]][1] += 1
        by_kind[r["deciding_kind"]][0] += m.verdict == "ineligible"
    for kind, (hit, total) in sorted(by_kind.items()):
        print(f"    {kind:18s} {hit} of {total} = {100 * hit / total:.0f}%")
    recall_all = sum(1 for _, m in inel if m.verdict == "ineligible")
    print(f"ineligible recall, all kinds: {recall_all} of {len(inel)} = {100 * recall_all / len(inel):.1f}%")
    print(
        f"ineligible precision: {len(true_inel)} of {len(called)} = {100 * len(true_inel) / max(1, len(called)):.1f}%"
    )
    hit = sum(len(a) for a, _ in data["found"].values())
    total = hit + sum(len(b) for _, b in data["found"].values())
    print(f"target trials found by match --all: {hit} of {total} = {100 * hit / max(1, total):.1f}%")
    for name, (_, missed) in sorted(data["found"].items()):
        if missed:
            print(f"    missed for {name}: {', '.join(sorted(missed))}")
    if show_errors:
        print("\nfalse ineligible:")
        for r, m in false_inel:
            print(f"  {r['profile']} {r['nct_id']}: {m.summary}\n      label: {r['justification']}")
        print("\nmissed clear exclusions:")
        for r, m in clear:
            if m.verdict != "ineligible":
                print(
                    f"  {r['profile']} {r['nct_id']} [{r['deciding_kind']}] -> {m.verdict}: {m.summary}\n"
                    f"      label: {r['justification']}"
                )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument(
        "--labels", default="labels", help="folder under bench/ with profiles/, labels.csv and targets.csv"
    )
    args = parser.parse_args()
    global LABELS
    LABELS = HERE / args.labels
    if not STUDIES.is_dir():
        sys.exit(f"real records not found at {STUDIES}")
    with tempfile.TemporaryDirectory() as tmp, Cache(Path(tmp) / "cache.db") as cache:
        import_paths(cache, [STUDIES])
        report(evaluate(cache), args.show_errors)


if __name__ == "__main__":
    main()
