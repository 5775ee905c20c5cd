"""Warning signs and signals across the real records, for audit.

    python bench/bench_trust.py

Prints, for each warning sign, how many of the real records raise it and which
ones (with the evidence), and how often each signal occurs.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict

from corpus import STUDIES

from trialfinder.models import Study
from trialfinder.trust import assess


def main() -> None:
    paths = sorted(STUDIES.glob("*.json"))
    warnings: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    signals: Counter[str] = Counter()
    flagged = set()
    for path in paths:
        study = Study.from_record(json.loads(path.read_text(encoding="utf-8")))
        trust = assess(study)
        signals.update(trust.names())
        for w in trust.warnings:
            sponsor = study.lead_sponsor.name if study.lead_sponsor else "?"
            warnings[w.name].append((study.nct_id, sponsor, w.evidence))
            flagged.add(study.nct_id)
    print(f"{len(paths)} real records; {len(flagged)} raise at least one warning sign\n")
    print("| warning sign | records | NCT ids (sponsor) |")
    print("|---|---|---|")
    for name, items in sorted(warnings.items()):
        ids = ", ".join(f"{n} ({s})" for n, s, _ in items)
        print(f"| `{name}` | {len(items)} | {ids} |")
    print("\nEvidence:")
    for name, items in sorted(warnings.items()):
        for nct, _, evidence in items:
            print(f"- {nct} `{name}`: {evidence}")
    print("\n| signal | records |\n|---|---|")
    for name, n in signals.most_common():
        print(f"| `{name}` | {n} |")


if __name__ == "__main__":
    main()
