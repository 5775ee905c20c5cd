"""External, held-out check of the matcher on the TrialGPT expert-labelled cohorts (public, NCBI).

    python bench/bench_trialgpt.py [--show-errors]

Reads the TrialGPT data at run time from ../shared/ctgov/benchmarks/trialgpt (nothing from there is
copied into the repository) and the patient profiles written by hand in bench/trialgpt/profiles/.
Skips with a message if the data folder is absent. See bench/trialgpt/README.md for the method.

1. Trial level: every qrels pair scored 1 (excluded) or 2 (eligible) whose trial record exists in
   ../shared/ctgov/studies is run through `explain` (the same path as `trialfinder explain`).
   False "ineligible" is counted among the score-2 pairs; score-1 pairs called ineligible are shown
   for information (TREC "excluded" usually rests on facts a profile cannot hold).
2. Criterion level: each annotated (patient, criterion) pair becomes a one-criterion synthetic
   record in the API v2 shape (no age or sex limits), imported into a temporary cache and run
   through `explain`. The criterion's outcome is the worst result among the reasons it gives:
   not_met (it excludes the patient) > unknown > met; "not read" when it gives none.
   Experts "included" / "not excluded" + our not_met = a false exclusion;
   experts "not included" / "excluded" + our not_met = a correct exclusion (recall).
   Four runs: the records list the patient's conditions, or none (the real records are not here);
   and the profiles as written, or with a free-text condition that contains a known condition's name
   cut down to that name ("cryptogenic stroke" -> "stroke"), to show how much the wording matters.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from trialfinder.cache import Cache
from trialfinder.importer import import_paths
from trialfinder.match.verdict import ELIGIBILITY_KINDS
from trialfinder.matcher import explain
from trialfinder.profiles import build, load_profile
from trialfinder.seeds import knowledge

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "trialgpt" / "profiles"
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", HERE.parents[1] / "shared"))
DATA = SHARED / "ctgov" / "benchmarks" / "trialgpt"
STUDIES = SHARED / "ctgov" / "studies"
COHORTS = ("sigir", "trec_2021", "trec_2022")
ANNOTATIONS = DATA / "criterion_annotations" / "trialgpt_criterion_annotations.json"

QUALIFIES = {"included", "not excluded"}  # the patient meets the criterion as far as the experts can tell
FAILS = {"not included", "excluded"}  # the criterion turns the patient away
UNSCORED = ("not enough information", "not applicable")
OUTCOMES = ("not_met", "unknown", "met", "not read")
# Variants of the synthetic record's conditions list (the real records are not available locally).
VARIANTS = {
    "patient": "records list the patient's conditions",
    "title": "records list no conditions (only the real trial title can name one)",
}


def load_profiles() -> dict:
    return {p.stem: load_profile(p) for p in sorted(PROFILES.glob("*.toml"))}


# -- 1. trial level -------------------------------------------------------------------------------


def qrels_pairs() -> list[tuple[str, str, str, int]]:
    """(cohort, query id, NCT id, score) for every pair scored 1 or 2 whose record is in studies/."""
    local = {p.stem for p in STUDIES.glob("NCT*.json")}
    pairs = []
    for cohort in COHORTS:
        with open(DATA / cohort / "qrels" / "test.tsv", encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                score = int(row["score"])
                if score in (1, 2) and row["corpus-id"] in local:
                    pairs.append((cohort, row["query-id"], row["corpus-id"], score))
    return pairs


def trial_level(profiles: dict, tmp: Path) -> dict:
    pairs = qrels_pairs()
    results, missing = [], []
    with Cache(tmp / "trials.db") as cache:
        import_paths(cache, sorted({STUDIES / f"{nct}.json" for _, _, nct, _ in pairs}), workers=0)
        for cohort, qid, nct, score in pairs:
            if qid not in profiles:
                missing.append((cohort, qid, nct, score))
                continue
            results.append((cohort, qid, nct, score, explain(cache, profiles[qid], nct)))
    return {"results": results, "missing": missing}


def report_trials(data: dict, show_errors: bool) -> None:
    results = data["results"]
    eligible = [r for r in results if r[3] == 2]
    excluded = [r for r in results if r[3] == 1]
    print("== 1. Trial level: qrels pairs scored 1 or 2 with a local record ==")
    print(
        f"pairs: {len(results) + len(data['missing'])} ({len(eligible)} scored 2 = eligible, "
        f"{len(excluded)} scored 1 = excluded); patients: {len({r[1] for r in results})}; "
        f"without a profile: {len(data['missing'])}"
    )
    for label, group in (("scored 2 (eligible)", eligible), ("scored 1 (excluded)", excluded)):
        print(f"  verdicts, {label}: {dict(sorted(Counter(r[4].verdict for r in group).items()))}")
    false_inel = [r for r in eligible if r[4].verdict == "ineligible"]
    n_false, n_elig = len(false_inel), len(eligible)
    print(f"false ineligible: {n_false} of {n_elig} scored-2 pairs = {pct(n_false, n_elig)}")
    hit = [r for r in excluded if r[4].verdict == "ineligible"]
    n_hit, n_excl = len(hit), len(excluded)
    print(f"scored-1 pairs called ineligible (informational): {n_hit} of {n_excl} = {pct(n_hit, n_excl)}")
    if show_errors:
        print("\n  every pair:")
        for _, qid, nct, score, m in results:
            mark = "FALSE INELIGIBLE" if (score == 2 and m.verdict == "ineligible") else ""
            print(f"  {qid} {nct} score={score} -> {m.verdict} {mark}\n      {m.summary}")
            for r in m.reasons:
                if r.criterion in ELIGIBILITY_KINDS and r.result == "not_met":
                    print(f"      not_met [{r.criterion}/{r.section}] {r.text}\n        source: {r.source[:300]}")


# -- 2. criterion level ---------------------------------------------------------------------------


def reworded(profile):
    """The profile with each free-text condition that contains a known condition's name cut down to that name.

    "cryptogenic stroke" is not in the seed vocabulary, so the matcher treats it as plain words and never
    ties stroke criteria to it; "stroke" is what most people would type. None if nothing changes.
    """
    terms, changed = [], False
    for term in profile.conditions:
        words, found = term.split(), None
        if not knowledge().resolve(term):
            spans = [(j - i, i, j) for i in range(len(words)) for j in range(i + 1, len(words) + 1)]
            for _, i, j in sorted(spans, reverse=True):
                if knowledge().resolve(" ".join(words[i:j])):
                    found = " ".join(words[i:j])
                    break
        terms.append(found or term)
        changed |= found is not None
    return build({**profile.model_dump(exclude_none=True), "conditions": terms}) if changed else None


def synthetic_record(nct_id: str, row: dict, conditions: list[str]) -> dict:
    header = "Inclusion Criteria:" if row["criterion_type"] == "inclusion" else "Exclusion Criteria:"
    text = " ".join(row["criterion_text"].split())
    return {
        "protocolSection": {
            "identificationModule": {"nctId": nct_id, "briefTitle": row["trial_title"]},
            "statusModule": {"overallStatus": "RECRUITING"},
            "conditionsModule": {"conditions": conditions},
            "eligibilityModule": {"eligibilityCriteria": f"{header}\n\n* {text}", "healthyVolunteers": False},
        },
        "hasResults": False,
    }


def outcome(match) -> tuple[str, list]:
    """The criterion's own result: the worst among the reasons its text gave (registry fields left out)."""
    own = [r for r in match.reasons if r.criterion in ELIGIBILITY_KINDS and r.section != "field"]
    for result in ("not_met", "unknown", "met"):
        if any(r.result == result for r in own):
            return result, own
    return "not read", own


def criterion_level(profiles: dict, tmp: Path) -> dict:
    rows = json.loads(ANNOTATIONS.read_text(encoding="utf-8"))
    usable, skipped = [], Counter()
    for row in rows:
        if not row.get("criterion_text"):
            skipped["no criterion text"] += 1
        elif row["patient_id"] not in profiles:
            skipped["patient not expressible as a profile"] += 1
        else:
            usable.append(row)
    changed = {qid: p for qid, p in ((q, reworded(p)) for q, p in profiles.items()) if p is not None}
    runs = {}  # run name -> (profiles, which conditions the synthetic records list)
    for name, variant in VARIANTS.items():
        runs[f"profiles as written; {variant}"] = (profiles, name)
    for name, variant in VARIANTS.items():
        runs[f"free-text conditions cut to a known name ({len(changed)} profiles); {variant}"] = (
            {**profiles, **changed},
            name,
        )
    records, ids = [], {}
    for r, (run, (people, variant)) in enumerate(runs.items()):
        for row in usable:
            nct = f"NCT9{r}{int(row['annotation_id']):06d}"
            conditions = list(people[row["patient_id"]].conditions) if variant == "patient" else []
            records.append(synthetic_record(nct, row, conditions))
            ids[(run, row["annotation_id"])] = nct
    source = tmp / "synthetic.json"
    source.write_text(json.dumps(records), encoding="utf-8")
    results = defaultdict(list)
    with Cache(tmp / "criteria.db") as cache:
        import_paths(cache, [source])
        for run, (people, _) in runs.items():
            for row in usable:
                m = explain(cache, people[row["patient_id"]], ids[(run, row["annotation_id"])])
                results[run].append((row, *outcome(m)))
    changed_words = {q: (profiles[q].conditions, p.conditions) for q, p in changed.items()}
    return {"results": results, "skipped": skipped, "total": len(rows), "usable": usable, "changed": changed_words}


def report_criteria(data: dict, show_errors: bool) -> None:
    print("\n== 2. Criterion level: TrialGPT expert criterion annotations ==")
    usable = data["usable"]
    print(
        f"annotated pairs: {data['total']}; used: {len(usable)} "
        f"({len({r['patient_id'] for r in usable})} patients, {len({r['trial_id'] for r in usable})} trials); "
        f"skipped: {dict(data['skipped'])}"
    )
    for qid, (before, after) in data["changed"].items():
        print(f"reworded for the second pair of runs: {qid} {before} -> {after}")
    first = None
    for run, results in data["results"].items():
        print(f"\n-- run: {run} --")
        table = defaultdict(Counter)
        for row, out, _ in results:
            table[(row["criterion_type"], row["expert_eligibility"])][out] += 1
        print(f"  {'criterion type / expert label':40s} {'n':>4s} " + " ".join(f"{o:>9s}" for o in OUTCOMES))
        for key in sorted(table):
            n = sum(table[key].values())
            print(f"  {key[0] + ' / ' + key[1]:40s} {n:4d} " + " ".join(f"{table[key][o]:9d}" for o in OUTCOMES))
        ok = [x for x in results if x[0]["expert_eligibility"] in QUALIFIES]
        bad = [x for x in results if x[0]["expert_eligibility"] in FAILS]
        false_ex = [x for x in ok if x[1] == "not_met"]
        caught = [x for x in bad if x[1] == "not_met"]
        read_ok = sum(1 for x in ok if x[1] != "not read")
        print(
            f"  false exclusions (experts: included / not excluded; we: not_met): {len(false_ex)} of {len(ok)} "
            f"= {pct(len(false_ex), len(ok))}; of the {read_ok} where we read any fact: {pct(len(false_ex), read_ok)}"
        )
        for label in sorted(QUALIFIES):
            sub = [x for x in ok if x[0]["expert_eligibility"] == label]
            n = sum(1 for x in sub if x[1] == "not_met")
            print(f"      {label}: {n} of {len(sub)} = {pct(n, len(sub))}")
        read_bad = sum(1 for x in bad if x[1] != "not read")
        print(
            f"  exclusion recall (experts: not included / excluded; we: not_met): {len(caught)} of {len(bad)} "
            f"= {pct(len(caught), len(bad))} (we read any fact in {read_bad})"
        )
        unscored_not_met = []
        for label in UNSCORED:
            sub = [x for x in results if x[0]["expert_eligibility"] == label]
            unscored_not_met += [x for x in sub if x[1] == "not_met"]
            said = Counter(x[1] for x in sub)
            print(f"  {label} (not scored): {len(sub)} rows, we said {dict(sorted(said.items()))}")
        if first is None:
            first = {x[0]["annotation_id"]: x[1] for x in results}
        else:
            diff = [(x[0]["annotation_id"], first[x[0]["annotation_id"]], x[1]) for x in results]
            diff = [f"[{a}] {b}->{c}" for a, b, c in diff if b != c]
            print(f"  outcomes that differ from the first run: {len(diff)}" + (f": {', '.join(diff)}" if diff else ""))
        if show_errors:
            shown = [("false exclusions", false_ex), ("not_met on unscored rows", unscored_not_met)]
            if run == next(iter(data["results"])):
                shown += [("correct exclusions", caught), ("missed exclusions", [x for x in bad if x[1] != "not_met"])]
            for title, items in shown:
                print(f"\n  {title} ({len(items)}):")
                for row, out, why in items:
                    print(
                        f"  [{row['annotation_id']}] {row['patient_id']} {row['trial_id']} {row['criterion_type']}, "
                        f"experts: {row['expert_eligibility']} -> we: {out}\n      criterion: {row['criterion_text']}"
                    )
                    for r in why:
                        print(f"      matcher [{r.criterion}/{r.result}]: {r.text}")


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--show-errors", action="store_true", help="list every false exclusion and what we said")
    args = parser.parse_args()
    if not DATA.is_dir() or not STUDIES.is_dir():
        print(f"skipped: the TrialGPT data ({DATA}) or the real records ({STUDIES}) are not here")
        return
    started = time.perf_counter()
    profiles = load_profiles()
    with tempfile.TemporaryDirectory() as tmp:
        report_trials(trial_level(profiles, Path(tmp)), args.show_errors)
        report_criteria(criterion_level(profiles, Path(tmp)), args.show_errors)
    print(f"\n({len(profiles)} profiles; {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    sys.exit(main())
