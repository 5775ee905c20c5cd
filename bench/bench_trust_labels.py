"""Trust warnings against the independent hand labels in bench/trust_labels/ (real records).

    python bench/bench_trust_labels.py [--strict] [--all-false-alarms] [--hits]

Imports the labelled records from ../shared/ctgov/studies into a temporary
cache, reads each one back and computes its trust findings with the same code
as `trialfinder show --json` (``assess`` + ``with_staleness``), then checks:
  - every pay_to_participate=yes record raises `participant_pays` (and any warning)
  - no well_run=yes record raises any warning
  - how many clinic_cell_listing=yes records raise any warning
and lists every disagreement with the warning names and evidence. Also lists
`participant_pays` raised on records labelled pay_to_participate=no.

The labels were written before the trust rules were read (see
bench/trust_labels/README.md); a disagreement may be a rule error or a label
error, so read the evidence. --strict exits 1 if either invariant fails.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

from trialfinder.cache import Cache
from trialfinder.importer import import_paths
from trialfinder.models import Study
from trialfinder.trust import assess, with_staleness

HERE = Path(__file__).resolve().parent
LABELS = HERE / "trust_labels" / "labels.csv"
FROZEN = HERE / "trust_labels" / "FROZEN_SHA256"
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", HERE.parents[1] / "shared"))
STUDIES = SHARED / "ctgov" / "studies"


def load_labels(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def frozen_note(path: Path) -> str:
    if path != LABELS or not FROZEN.is_file():
        return "labels: no frozen hash to compare"
    same = hashlib.sha256(path.read_bytes()).hexdigest() == FROZEN.read_text().strip()
    return "labels: unchanged since frozen" if same else "labels: CHANGED since frozen (see FROZEN_SHA256)"


def findings(rows: list[dict[str, str]]) -> dict[str, dict]:
    """nct_id → the ``trust`` object that `show --json` prints, from a temporary cache of the labelled records."""
    files = [STUDIES / f"{r['nct_id']}.json" for r in rows]
    missing = [f.name for f in files if not f.is_file()]
    if missing:
        sys.exit(f"labelled records missing from {STUDIES}: {', '.join(missing[:5])}")
    out = {}
    today = dt.date.today()
    with tempfile.TemporaryDirectory() as tmp, Cache(Path(tmp) / "cache.db") as cache:
        import_paths(cache, files)
        for r in rows:
            record = cache.get_record(r["nct_id"])
            if record is None:
                sys.exit(f"{r['nct_id']} was not imported")
            study = Study.from_record(record)
            trust = with_staleness(assess(study), study.overall_status, study.status_verified_date, today)
            out[r["nct_id"]] = trust.to_dict()
    return out


def names(trust: dict) -> list[str]:
    return [w["name"] for w in trust["warnings"]]


def show(row: dict[str, str], trust: dict) -> None:
    print(
        f"  {row['nct_id']}  pay={row['pay_to_participate']} clinic={row['clinic_cell_listing']}"
        f" well_run={row['well_run']}"
    )
    print(f"    label: {row['justification']}")
    if not trust["warnings"]:
        print("    warnings: none")
    for w in trust["warnings"]:
        print(f"    warning {w['name']}: {w['evidence']}")


def share(k: int, n: int) -> str:
    return f"{k}/{n}" + (f" ({100 * k / n:.0f}%)" if n else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--labels", type=Path, default=LABELS)
    ap.add_argument("--strict", action="store_true", help="exit 1 if an invariant fails")
    ap.add_argument("--all-false-alarms", action="store_true", help="also list warnings on well_run=unclear/no records")
    ap.add_argument("--hits", action="store_true", help="also list the labelled positives that were flagged")
    args = ap.parse_args()
    if not STUDIES.is_dir():
        print(f"skipped: real records not found at {STUDIES} (set TRIALFINDER_SHARED)")
        return 0
    rows = load_labels(args.labels)
    trusts = findings(rows)

    print(f"{len(rows)} labelled records; {frozen_note(args.labels)}")
    for col in ("pay_to_participate", "clinic_cell_listing", "well_run"):
        counts = Counter(r[col] for r in rows)
        print(f"  {col}: " + ", ".join(f"{k}={counts[k]}" for k in ("yes", "no", "unclear") if k in counts))
    flagged = sum(bool(t["warnings"]) for t in trusts.values())
    by_name = Counter(n for t in trusts.values() for n in names(t))
    print(f"  records with any warning: {flagged}; warnings raised: {dict(sorted(by_name.items()))}")

    pay = [r for r in rows if r["pay_to_participate"] == "yes"]
    pay_hit = [r for r in pay if "participant_pays" in names(trusts[r["nct_id"]])]
    pay_any = [r for r in pay if trusts[r["nct_id"]]["warnings"]]
    well = [r for r in rows if r["well_run"] == "yes"]
    well_flagged = [r for r in well if trusts[r["nct_id"]]["warnings"]]
    clinic = [r for r in rows if r["clinic_cell_listing"] == "yes"]
    clinic_any = [r for r in clinic if trusts[r["nct_id"]]["warnings"]]
    not_pay = [r for r in rows if r["pay_to_participate"] == "no"]
    pays_false = [r for r in not_pay if "participant_pays" in names(trusts[r["nct_id"]])]

    print()
    print(f"pay_to_participate=yes raising participant_pays: {share(len(pay_hit), len(pay))}")
    print(f"pay_to_participate=yes raising any warning:      {share(len(pay_any), len(pay))}")
    print(f"well_run=yes raising no warning:                 {share(len(well) - len(well_flagged), len(well))}")
    print(f"clinic_cell_listing=yes raising any warning:     {share(len(clinic_any), len(clinic))}")
    print(f"participant_pays on pay_to_participate=no:       {share(len(pays_false), len(not_pay))}")

    sections = [
        ("pay_to_participate=yes without participant_pays", [r for r in pay if r not in pay_hit]),
        ("well_run=yes with a warning", well_flagged),
        ("clinic_cell_listing=yes without any warning", [r for r in clinic if r not in clinic_any]),
        ("participant_pays on pay_to_participate=no", pays_false),
    ]
    if args.all_false_alarms:
        other = [r for r in rows if r["well_run"] != "yes" and r not in pay and r not in clinic]
        sections.append(
            (
                "warnings on other records (well_run unclear/no, no pay, no clinic)",
                [r for r in other if names(trusts[r["nct_id"]])],
            )
        )
    if args.hits:
        positives = [r for r in rows if (r in pay or r in clinic) and names(trusts[r["nct_id"]])]
        sections.insert(0, ("pay/clinic positives that were flagged", positives))
    for title, items in sections:
        print(f"\n{title}: {len(items)}")
        for r in items:
            show(r, trusts[r["nct_id"]])

    failed = len(pay_hit) < len(pay) or bool(well_flagged)
    print(f"\ninvariants: {'FAIL' if failed else 'ok'}")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    sys.exit(main())
