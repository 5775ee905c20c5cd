"""Build benchmark inputs: the real records in ../shared/ctgov/studies replicated under new NCT ids.

Nothing generated here is committed (bench/out/ is git-ignored), and the real records are only read.

    python bench/corpus.py 100000 --format zip    # bench/out/corpus-100000.zip (one file per study)
    python bench/corpus.py 100000 --format array  # bench/out/corpus-100000.json (website-download shape)
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", HERE.parents[1] / "shared"))
STUDIES = SHARED / "ctgov" / "studies"
OUT = HERE / "out"


def real_records() -> list[dict]:
    if not STUDIES.is_dir():
        sys.exit(f"real records not found at {STUDIES}")
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(STUDIES.glob("*.json"))]


def replicate(n: int, base: list[dict] | None = None) -> Iterator[dict]:
    """``n`` records: copy k of real record j gets the id NCT9xxxxxxx (never a real id)."""
    base = base or real_records()
    for i in range(n):
        record = copy.deepcopy(base[i % len(base)])
        record["protocolSection"]["identificationModule"]["nctId"] = f"NCT9{i:07d}"
        yield record


def templates() -> list[tuple[str, str]]:
    """Each real record as indented JSON with its id marked, so a copy is a string replace, not a deep copy."""
    out = []
    for record in real_records():
        ident = record["protocolSection"]["identificationModule"]
        old = f'"nctId": "{ident["nctId"]}"'
        text = json.dumps(record, indent=2)
        assert text.count(old) == 1, ident["nctId"]
        out.append((text, old))
    return out


def write_zip(n: int, path: Path) -> Path:
    base = templates()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for i in range(n):
            text, old = base[i % len(base)]
            nct = f"NCT9{i:07d}"
            zf.writestr(f"{nct}.json", text.replace(old, f'"nctId": "{nct}"'))
            if i and i % 50000 == 0:
                print(f"{i:,} written", file=sys.stderr, flush=True)
    return path


def write_array(n: int, path: Path) -> Path:
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("[\n")
        for i, record in enumerate(replicate(n)):
            fh.write(("," if i else "") + json.dumps(record, separators=(",", ":")) + "\n")
        fh.write("]\n")
    return path


def corpus(n: int, fmt: str) -> Path:
    """The corpus file, built once and reused."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"corpus-{n}.{'zip' if fmt == 'zip' else 'json'}"
    if not path.exists():
        tmp = path.with_suffix(path.suffix + ".tmp")
        (write_zip if fmt == "zip" else write_array)(n, tmp)
        tmp.rename(path)
    return path


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int)
    parser.add_argument("--format", choices=["zip", "array"], default="zip")
    args = parser.parse_args()
    print(corpus(args.n, args.format))
