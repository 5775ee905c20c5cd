"""Criteria parsing rate on the real eligibility texts.

python bench/bench_parse.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from corpus import STUDIES

from trialfinder.match.criteria import parse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    texts = []
    for path in sorted(STUDIES.glob("*.json")):
        module = json.loads(path.read_text(encoding="utf-8"))["protocolSection"].get("eligibilityModule", {})
        texts.append(module.get("eligibilityCriteria", ""))
    chars = sum(len(t) for t in texts)
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        for text in texts:
            parse(text).to_json()
        times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(f"{len(texts)} real criteria texts ({chars / len(texts):,.0f} characters on average), {args.runs} runs")
    print(f"median {median:.2f} s: {len(texts) / median:,.0f} texts/s ({median / len(texts) * 1e6:,.0f} µs each)")


if __name__ == "__main__":
    main()
