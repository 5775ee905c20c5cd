"""A digest run for many watches against a large cache (built by bench_import.py), offline.

    python bench/bench_digest.py --db bench/out/cache-100000.db --watches 1000

Makes a fresh user database with ``--watches`` watches (varied conditions, ages,
sex, dates, places and distances; seeded, so runs compare), then times, as
`trialfinder digest --offline --out DIR` in a subprocess (peak memory of the
whole process sampled from /proc):

1. the first run: every watch compares every candidate trial (baseline);
2. a nightly run after a day of upstream changes: ``--changed`` of the studies
   are re-imported with a new status, last-update date and criteria (the
   registry updates about 0.2-0.5% of its studies a day);
3. a run with nothing new.

The cache is copied first (bench/out/digest-cache.db), so the input stays as built.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from bench_import import tree_rss_kb
from corpus import OUT

from trialfinder.cache import Cache
from trialfinder.userdata import UserData
from trialfinder.watches import add_watch

CONDITIONS = [
    ("spinal cord injury", 0.35),
    ("stroke", 0.25),
    ("cerebral palsy", 0.1),
    ("multiple sclerosis", 0.1),
    ("traumatic brain injury", 0.1),
    ("amyotrophic lateral sclerosis", 0.05),
    ("spina bifida", 0.05),
]
PLACES = [
    (47.37, 8.54, "Zurich"), (42.36, -71.06, "Boston"), (33.75, -84.39, "Atlanta"), (41.88, -87.63, "Chicago"),
    (29.76, -95.37, "Houston"), (43.65, -79.38, "Toronto"), (51.51, -0.13, "London"), (48.86, 2.35, "Paris"),
    (40.42, -3.70, "Madrid"), (-33.87, 151.21, "Sydney"), (47.61, -122.33, "Seattle"), (39.74, -104.99, "Denver"),
    (40.71, -74.01, "New York"), (34.05, -118.24, "Los Angeles"), (25.76, -80.19, "Miami"), (52.52, 13.40, "Berlin"),
]  # fmt: skip


def profile_fields(rng: random.Random) -> dict:
    condition = rng.choices([c for c, _ in CONDITIONS], weights=[w for _, w in CONDITIONS])[0]
    birth = f"{rng.randint(1950, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    fields: dict = {"conditions": [condition], "birth_date": birth, "sex": rng.choice(["male", "female"])}
    if condition in ("spinal cord injury", "stroke", "traumatic brain injury"):
        fields["injury_date" if condition != "stroke" else "onset_date"] = (
            f"{rng.randint(2015, 2026)}-{rng.randint(1, 10):02d}-{rng.randint(1, 28):02d}"
        )
    if condition == "spinal cord injury":
        fields["ais_grade"] = rng.choice("ABCD")
        fields["neurological_level"] = rng.choice(["C4", "C5", "C6", "C7", "T4", "T10", "L1"])
    if rng.random() < 0.7:
        lat, lon, label = rng.choice(PLACES)
        fields["location"] = {"lat": lat, "lon": lon, "label": label}
        fields["max_distance_km"] = rng.choice([100, 250, 500, 1000])
    return fields


def make_watches(path: Path, n: int, seed: int = 1234) -> None:
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    with UserData(path) as data:
        for i in range(n):
            add_watch(
                data, f"w{i:04d}", patient=None, profile_fields=profile_fields(rng), email=None,
                every="daily", notify_empty=False,
            )  # fmt: skip


def upstream_changes(db: Path, fraction: float, seed: int = 99) -> Path:
    """A zip of changed copies of ``fraction`` of the cached studies (new status, date and criteria)."""
    rng = random.Random(seed)
    with Cache(db) as cache:
        ids = [r[0] for r in cache.db.execute("SELECT nct_id FROM studies")]
        picked = rng.sample(ids, max(1, int(len(ids) * fraction)))
        path = OUT / "digest-changes.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for nct in picked:
                record = cache.get_record(nct)
                status = record["protocolSection"]["statusModule"]
                status["overallStatus"] = rng.choice(["RECRUITING", "COMPLETED", "ACTIVE_NOT_RECRUITING", "SUSPENDED"])
                status["lastUpdatePostDateStruct"] = {"date": "2026-11-21", "type": "ACTUAL"}
                eligibility = record["protocolSection"].setdefault("eligibilityModule", {})
                if rng.random() < 0.3:
                    eligibility["eligibilityCriteria"] = (eligibility.get("eligibilityCriteria") or "") + (
                        "\n* At least 12 months since injury or onset"
                    )
                zf.writestr(f"{nct}.json", json.dumps(record))
    return path


def timed(command: list[str]) -> tuple[float, int, int]:
    """Seconds, peak memory of the process tree (KB) and exit status of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kb(proc.pid))
        time.sleep(0.1)
    proc.communicate()
    return time.perf_counter() - started, peak, proc.returncode


def items_sent(user_db: Path) -> int:
    db = sqlite3.connect(user_db)
    n = db.execute("SELECT count(*) FROM digest_items WHERE sent_at IS NOT NULL").fetchone()[0]
    db.close()
    return n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--watches", type=int, default=1000)
    parser.add_argument("--changed", type=float, default=0.005, help="fraction of studies changed upstream")
    args = parser.parse_args()
    db = OUT / "digest-cache.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    source = Path(args.db)
    sqlite3.connect(source).execute("PRAGMA wal_checkpoint(TRUNCATE)").connection.close()
    shutil.copyfile(source, db)
    with Cache(db) as cache:  # as if the bulk of the cache was fetched long ago, as it would be
        with cache.transaction():
            cache.db.execute("UPDATE studies SET changed_at = '2026-10-01T00:00:00Z'")
    user_db = OUT / "digest-userdata.db"
    make_watches(user_db, args.watches)
    out = OUT / "digests"
    shutil.rmtree(out, ignore_errors=True)
    env_cli = [sys.executable, "-m", "trialfinder.cli"]
    digest = [*env_cli, "digest", "--offline", "--db", str(db), "--out", str(out)]

    def run(label: str, day: str) -> None:
        before = items_sent(user_db)
        seconds, peak, status = timed([*digest, "--as-of", day])
        print(
            f"| {label} | {seconds:.1f} s | {seconds / args.watches * 1000:.0f} ms | {peak / 1024:.0f} MB "
            f"| {items_sent(user_db) - before:,} | {status} |",
            flush=True,
        )

    os.environ["TRIALFINDER_USER_DB"] = str(user_db)
    with Cache(db) as cache:
        n = cache.info()["studies"]
    print(f"{args.watches:,} watches on a cache of {n:,} studies")
    print("| run | time | per watch | peak memory | items sent | exit |")
    print("|---|---|---|---|---|---|")
    run("first run (every candidate compared)", "2026-11-20")
    changes = upstream_changes(db, args.changed)
    seconds, _, status = timed([*env_cli, "import", "--db", str(db), str(changes)])
    print(f"| (import of {int(n * args.changed):,} changed studies: {seconds:.1f} s, exit {status}) | | | | | |")
    run(f"nightly run after {args.changed:.1%} of studies changed", "2026-11-21")
    run("nothing changed", "2026-11-22")


if __name__ == "__main__":
    main()
