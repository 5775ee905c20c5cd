"""Full-text search answered from a cache of n studies (built by bench_import.py).

python bench/bench_search.py --db bench/out/cache-100000.db --repeat 20
"""

from __future__ import annotations

import argparse
import statistics
import time

from trialfinder.cache import Cache
from trialfinder.models import STATUSES, SearchQuery
from trialfinder.search import find

QUERIES = [
    ("condition", "spinal cord injury"),
    ("condition", "stroke"),
    ("condition", "multiple sclerosis"),
    ("term", "stem cell"),
    ("term", "exoskeleton"),
    ("term", "pain"),
    ("condition", "diabetes"),
    ("term", "erectile dysfunction"),
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with Cache(args.db) as cache:
        n = cache.info()["studies"]
        print(f"cache of {n:,} studies; median and 95th percentile of {args.repeat} runs, first 25 results")
        print("| search | statuses | matches | median | p95 |")
        print("|---|---|---|---|---|")
        for field, text in QUERIES:
            for label, statuses in (("open (default)", ()), ("all", STATUSES)):
                query = SearchQuery.build(**{field: text}, statuses=statuses)
                find(cache, query, limit=25)  # warm the page cache, as a repeated search would be
                times = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    find(cache, query, limit=25)
                    times.append((time.perf_counter() - started) * 1000)
                matches = len(find(cache, query))
                p95 = sorted(times)[int(0.95 * (len(times) - 1))]
                print(
                    f'| --{field} "{text}" | {label} | {matches:,} | {statistics.median(times):.1f} ms | {p95:.1f} ms |'
                )


if __name__ == "__main__":
    main()
