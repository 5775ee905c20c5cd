"""Sync against the stand-in server at its default rate limit (50 requests per rolling 60 s).

Measures how close the client gets to the allowed request rate, and that the
server never had to answer 429. Takes a few minutes by design.

    python bench/bench_sync.py [--page-size 10]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from standin import StandIn

ALL_STATUSES = [
    "recruiting", "not-yet-recruiting", "enrolling-by-invitation", "active-not-recruiting",
    "suspended", "terminated", "completed", "withdrawn", "unknown",
]  # fmt: skip


def fastest_possible(n: int, limit: int = 50, window: float = 60.0) -> float:
    """The shortest time in which n requests fit a rolling window of `limit` per `window` seconds."""
    return (math.ceil(n / limit) - 1) * window


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--page-size", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "requests.jsonl"
        db = Path(tmp) / "cache.db"
        with StandIn("--log", str(log)) as url:
            env = dict(os.environ, TRIALFINDER_API_URL=url, TRIALFINDER_DB=str(db))
            statuses = [a for s in ALL_STATUSES for a in ("--status", s)]
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "trialfinder.cli", "sync", "--term", "criteria", *statuses,
                 "--page-size", str(args.page_size)],
                env=env, check=True,
            )  # fmt: skip
            elapsed = time.monotonic() - started
        entries = [json.loads(line) for line in log.read_text().splitlines()]
        api = [e for e in entries if not e.get("admin")]
        n429 = sum(1 for e in api if e.get("status") == 429)
        first, last = api[0]["ts"], api[-1]["ts"]
        span = last - first
        ideal = fastest_possible(len(api))
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT count(*) FROM studies").fetchone()[0]
        print(f"requests: {len(api)}, 429 answers: {n429}, studies stored: {stored}")
        print(f"first to last request: {span:.1f} s; fastest the rolling limit allows: {ideal:.1f} s")
        print(f"achieved {100 * ideal / span:.1f}% of the allowed request rate (whole run {elapsed:.1f} s)")


if __name__ == "__main__":
    main()
