"""Matching one profile against a large cache (built by bench_import.py), offline, in process.

python bench/bench_match.py --db bench/out/cache-100000.db [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from trialfinder.cache import Cache
from trialfinder.matcher import match
from trialfinder.profiles import load_profile
from trialfinder.seeds import seeds_dir


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with Cache(args.db) as cache:
        print(f"cache of {cache.info()['studies']:,} studies; median of {args.runs} runs")
        print("| profile | mode | trials evaluated | shown | median | max |")
        print("|---|---|---|---|---|---|")
        for path in sorted(Path(seeds_dir(), "profiles").glob("*.toml")):
            profile = load_profile(path, as_of="2026-11-22")
            for label, include_all in (("default (open trials)", False), ("--all", True)):
                times, shown = [], 0
                for _ in range(args.runs):
                    started = time.perf_counter()
                    shown = len(match(cache, profile, include_all=include_all))
                    times.append(time.perf_counter() - started)
                evaluated = len(match(cache, profile, include_all=True)) if include_all else "-"
                print(
                    f"| {path.stem} | {label} | {evaluated} | {shown} | {statistics.median(times):.2f} s "
                    f"| {max(times):.2f} s |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
