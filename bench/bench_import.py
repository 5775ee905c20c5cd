"""Import throughput and peak memory: `trialfinder import` of replicated real records, end to end.

    python bench/bench_import.py --sizes 20000 100000 --formats array zip --runs 3

Each run is a fresh process importing into a fresh database; peak memory is the
highest resident set size of the whole process tree (the criteria-parsing worker
included), sampled from /proc every 0.1 s. Keeps the last 100k database at
bench/out/cache-<n>.db for bench_search.py.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from corpus import OUT, corpus


def tree_rss_kb(pid: int) -> int:
    """Resident memory of a process and all its descendants, from /proc."""
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/status") as fh:
                total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo += [int(c) for c in fh.read().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total


def run_once(path: Path, db: Path) -> tuple[float, int]:
    """Seconds and peak memory (KB, the parser worker included) of one import into a fresh database."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "trialfinder.cli", "import", "--db", str(db), str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.1)
    elapsed = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"import failed with exit status {proc.returncode}")
    return elapsed, peak


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--formats", nargs="+", default=["array", "zip"])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("| studies | input | runs | median time | median rate | peak memory, all processes | database size |")
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
