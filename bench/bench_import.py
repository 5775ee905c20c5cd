"""Import throughput and peak memory: `trialfinder import` of replicated real records, end to end.

    python bench/bench_import.py --sizes 20000 100000 --formats array zip --runs 3

Each run is a fresh process importing into a fresh database; peak memory is the
process's maximum resident set size (GNU time). Keeps the last 100k database at
bench/out/cache-<n>.db for bench_search.py.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from corpus import OUT, corpus


def run_once(path: Path, db: Path) -> tuple[float, int]:
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    with tempfile.NamedTemporaryFile("r") as rss:
        started = time.perf_counter()
        subprocess.run(
            ["/usr/bin/time", "-o", rss.name, "-f", "%M", sys.executable, "-m", "trialfinder.cli",
             "import", "--db", str(db), str(path)],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        elapsed = time.perf_counter() - started
        peak_kb = int(re.findall(r"\d+", Path(rss.name).read_text())[-1])
    return elapsed, peak_kb


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--formats", nargs="+", default=["array", "zip"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| studies | input | runs | median time | median rate | peak memory (max of runs) | database size |")
    print("|---|---|---|---|---|---|---|")
    for n in args.sizes:
        for fmt in args.formats:
            path = corpus(n, fmt)
            db = OUT / f"cache-{n}.db"
            results = [run_once(path, db) for _ in range(args.runs)]
            times = [t for t, _ in results]
            peak = max(p for _, p in results) / 1024
            size = os.path.getsize(db) / 1e6
            kind = "zip of per-study files" if fmt == "zip" else "JSON array (website download shape)"
            median = statistics.median(times)
            print(
                f"| {n:,} | {kind}, {path.stat().st_size / 1e6:,.0f} MB | {args.runs} | {median:.1f} s "
                f"| {n / median:,.0f} studies/s | {peak:.0f} MB | {size:,.0f} MB |",
                flush=True,
            )


if __name__ == "__main__":
    main()
