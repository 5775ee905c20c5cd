"""Bad input (issue 7): the criteria parser under arbitrary and adversarial text, malformed study records,
malformed profiles and option values, and input that tries to become markup, FTS syntax, SQL or a path."""

from __future__ import annotations

import copy
import gc
import json
import os
import shutil
import stat
import time
import uuid
import zipfile
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from records import site, study, write_records
from trialfinder.cli import cli
from trialfinder.match.criteria import Parsed, parse

# The autouse fixture in conftest is function-scoped; the parser properties don't use it.
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def run(*args: str, input: str | None = None, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def no_crash(result) -> None:
    """Whatever happened was reported, not raised: no exception escaped, no traceback was printed."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"crashed: {result.exception!r}") from result.exception
    assert "Traceback" not in result.output


def one_line_error(result, *fragments: str) -> str:
    no_crash(result)
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# -- the criteria parser -----------------------------------------------------------------------------

TOKENS = [
    "1", "18", "999999", "0.5", "-", "–", "—", "•", "*", " ", "    ", "\n", "\t", "\r\n", "≥", "≤", ">=", "<", "+",
    "years", "year", "months", "weeks", "days", "hours", "y/o", "age ", "aged ", "old", "older", "younger",
    "(", ")", "[", "]", ":", ".", ",", ";", "/", "\\", "\\<", "#", "_", "injury", "stroke", "onset", "post-injury",
    "within ", "at least ", "between ", " to ", "and", "or", "no ", "not ", "only", "if ", "unless", "e.g. ",
    "c5", "t12", "l1", "level ", "ais ", "asia ", "a", "b", "c-d", "gmfcs ", "ii", "iv", "complete", "chronic ",
    "acute", "severe ", "spinal cord injury", "men", "women", "male", "healthy volunteers:", "Inclusion Criteria:",
    "Exclusion Criteria", "criteria for inclusion", "six (6)", "twenty-one", "kg", "%", "ago", "18-", "é", "\u0000",
]  # fmt: skip
criteria_like = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)


def check_parse(text: str) -> Parsed:
    parsed = parse(text)
    again = Parsed.from_json(parsed.to_json())  # what the cache stores must load back
    assert [c.text for c in again.criteria] == [c.text for c in parsed.criteria]
    for criterion in parsed.criteria:
        assert criterion.section in ("inclusion", "exclusion", "unknown")
        assert criterion.text.strip()
    return parsed


@PROPERTY
@given(st.text())
def test_parse_never_raises_on_any_text(text):
    check_parse(text)


@PROPERTY
@given(criteria_like)
@example("*")  # a bare bullet once became an empty criterion
@example("- \n1. \n(a) ")
@example("Exclusion Criteria:.\n\n1. x")
@example("Inclusion" + " " * 300 + "x")
def test_parse_never_raises_on_criteria_like_text(text):
    check_parse(text)


def parse_seconds(text: str, repeat: int = 1) -> float:
    """The best of ``repeat`` timings, without garbage-collection pauses (noise, not the parser)."""
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter()
            parse(text)
            best = min(best, time.perf_counter() - start)
    finally:
        gc.enable()
    return best


def repeated(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def numbered(template: str, size: int) -> str:
    """Many criteria that differ (no two facts alike), up to ``size`` characters."""
    out, i = [], 0
    while sum(map(len, out)) < size:
        out.append(template.format(i=i, j=i % 8 + 1))
        i += 1
    return "".join(out)[:size]


# Each of these took seconds to minutes on 200 KB before it was fixed (or is a shape registries do produce).
ADVERSARIAL: dict[str, Callable[[int], str]] = {
    "digits after an age word": lambda n: "Age " + "1" * n,
    "digits after an event word": lambda n: "injury " + "9" * (n - 20) + " months ago",
    "spaces inside a header line": lambda n: "Inclusion" + " " * n + "x",
    "stars inside a header line": lambda n: "Inclusion" + "*" * n + "x",
    "dots and colons in a header line": lambda n: "Inclusion criteria" + " .:" * (n // 3) + "x",
    "repeated ≥ 18 years": lambda n: "Age " + repeated("≥ 18 years ", n),
    "repeated 18-": lambda n: "Age " + repeated("18-", n),
    "repeated windows": lambda n: "stroke " + repeated("within 6 months ", n),
    "a chain of levels": lambda n: "level " + repeated("C5 - ", n),
    "different ages": lambda n: numbered("aged {i} years or older; ", n),
    "bullets, dashes and spaces": lambda n: repeated("* • - — *   \n  •\t- ", n),
    "nested bullets": lambda n: numbered("{i:>3}" + " " * 9 + "* age 18 years\n", n),
    "one criterion per line": lambda n: repeated("* Age 18 years or older, 6 months post-injury, AIS A-C, C4-T12\n", n),
    "unclosed parentheses": lambda n: "If aged 18 years only " + repeated("( x ", n),
    "digits, dashes and units": lambda n: "Age " + repeated("1 - 2 - years - ", n),
}
SMALL, LARGE = 50_000, 200_000
LARGE_LIMIT_SECONDS = 1.5  # a few ms per KB; catastrophic backtracking takes seconds to hours here


@pytest.mark.parametrize("make", ADVERSARIAL.values(), ids=ADVERSARIAL.keys())
def test_adversarial_text_parses_in_linear_time(make):
    parse("warm up: age 18 years")
    small = parse_seconds(make(SMALL), repeat=2)
    large = parse_seconds(make(LARGE), repeat=3)
    assert large < LARGE_LIMIT_SECONDS, f"{LARGE // 1000} KB took {large:.2f} s"
    # Four times the text may take at most about eight times as long (linear, with room for noise).
    assert large < 8 * small + 0.05, f"{SMALL // 1000} KB: {small:.3f} s, {LARGE // 1000} KB: {large:.3f} s"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8).map("".join))
def test_any_repeated_mixture_of_tokens_parses_fast(unit):
    text = repeated(unit, 16_000)
    seconds = parse_seconds(text)
    assert seconds < 0.4, f"{unit!r} × {len(text)} chars took {seconds:.2f} s"


# -- malformed study records ---------------------------------------------------------------------------


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        obj = record
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value

    return change


def _drop(path: tuple[str, ...]) -> Callable[[dict], None]:
    def change(record: dict) -> None:
        obj = record
        for key in path[:-1]:
            obj = obj[key]
        del obj[path[-1]]

    return change


PS = ("protocolSection",)
EL = (*PS, "eligibilityModule")
LOCATIONS = (*PS, "contactsLocationsModule", "locations")
BIG_CRITERIA = "Inclusion Criteria:\n\n" + repeated(
    "* Adults aged 18 years or older, at least 6 months post-injury, AIS A-C, C4-T12 <b>ok</b>\n", 1 << 20
)

# name: (change, how it is stored or why it is rejected)
MALFORMED: dict[str, tuple[Callable[[dict], None], str]] = {
    "no eligibility module": (_drop(EL), "stored"),
    "no status module": (_drop((*PS, "statusModule")), "stored"),
    "no conditions module": (_drop((*PS, "conditionsModule")), "stored"),
    "no contacts and locations": (_drop((*PS, "contactsLocationsModule")), "stored"),
    "no design module": (_drop((*PS, "designModule")), "stored"),
    "no derived section": (_drop(("derivedSection",)), "stored"),
    "derived section is null": (_set(("derivedSection",), None), "stored"),
    "derived section is a string": (_set(("derivedSection",), "x"), "stored"),
    "browse module is a list": (_set(("derivedSection", "conditionBrowseModule"), []), "stored"),
    "eligibility module is a list": (_set(EL, []), "stored"),
    "unknown overall status": (_set((*PS, "statusModule", "overallStatus"), "SOMETHING_NEW"), "stored"),
    "unknown sex": (_set((*EL, "sex"), "UNKNOWN_X"), "stored"),
    "minimum age in minutes": (_set((*EL, "minimumAge"), "18 Minutes"), "stored"),
    "minimum age of 999 years": (_set((*EL, "minimumAge"), "999 Years"), "stored"),
    "negative minimum age": (_set((*EL, "minimumAge"), "-5 Years"), "stored"),
    "minimum age is words": (_set((*EL, "minimumAge"), "abc"), "stored"),
    "maximum age below the minimum": (_set((*EL, "maximumAge"), "10 Years"), "stored"),
    "date that is not a date": (_set((*PS, "statusModule", "lastUpdatePostDateStruct", "date"), "yesterday"), "stored"),
    "impossible coordinates": (_set(LOCATIONS, [site(lat=999.0, lon=8.5)]), "stored"),
    "one megabyte of criteria": (_set((*EL, "eligibilityCriteria"), BIG_CRITERIA), "stored"),
    "minimum age is a number": (_set((*EL, "minimumAge"), 18), "eligibilityModule.minimumAge"),
    "conditions is a string": (_set((*PS, "conditionsModule", "conditions"), "SCI"), "conditionsModule.conditions"),
    "locations is an object": (_set(LOCATIONS, {"facility": "x"}), "contactsLocationsModule.locations"),
    "criteria is a number": (_set((*EL, "eligibilityCriteria"), 42), "eligibilityModule.eligibilityCriteria"),
    "latitude is a word": (_set(LOCATIONS, [{"geoPoint": {"lat": "north", "lon": 1}}]), "geoPoint.lat"),
    "protocol section is a list": (_set(PS, []), "not a study record"),
    "no NCT id": (_drop((*PS, "identificationModule", "nctId")), "nctId"),
    "NCT id is not one": (_set((*PS, "identificationModule", "nctId"), "XYZ"), "is not an NCT id"),
}
CASE_IDS = {name: f"NCT0300{i:04d}" for i, name in enumerate(MALFORMED)}
GOOD_ID = "NCT03009999"
ADULT = ("--condition", "spinal cord injury", "--age", "34", "--sex", "male", "--as-of", "2026-11-22")


def malformed_record(name: str) -> dict[str, Any]:
    record = study(CASE_IDS[name])
    MALFORMED[name][0](record)
    return record


@pytest.fixture(scope="module")
def malformed_cache(tmp_path_factory):
    """A cache built by `trialfinder import` from one good record and every malformed one, and what it said."""
    root = tmp_path_factory.mktemp("malformed")
    folder = root / "in"
    folder.mkdir()
    (folder / "good.json").write_text(json.dumps(study(GOOD_ID)))
    for i, name in enumerate(MALFORMED):
        (folder / f"case{i:02d}.json").write_text(json.dumps(malformed_record(name)), encoding="utf-8")
    db = root / "cache" / "trialfinder.db"
    env = {"TRIALFINDER_DB": str(db), "TRIALFINDER_API_URL": "https://ctgov.test/api/v2"}
    start = time.perf_counter()
    result = run("import", str(folder), env=env)
    seconds = time.perf_counter() - start
    no_crash(result)
    matched = run("match", *ADULT, "--location", "Zurich", "--offline", "--all", "--json", "--limit", "100", env=env)
    no_crash(matched)
    assert matched.exit_code == 0, matched.output
    verdicts = {m["nct_id"]: m for m in json.loads(matched.stdout)}
    return {"db": db, "result": result, "seconds": seconds, "verdicts": verdicts}


@pytest.fixture
def with_malformed(malformed_cache, tmp_path):
    """This test's own copy of that cache, where conftest points TRIALFINDER_DB."""
    target = tmp_path / "cache"
    target.mkdir(exist_ok=True)
    for path in malformed_cache["db"].parent.iterdir():
        shutil.copy(path, target / path.name)
    return malformed_cache


def test_import_of_malformed_records_stores_or_rejects_each_with_a_reason(malformed_cache):
    result = malformed_cache["result"]
    assert result.exit_code == 0, result.output
    stored = sum(1 for _, how in MALFORMED.values() if how == "stored") + 1
    rejected = len(MALFORMED) + 1 - stored
    assert f"{stored} new, 0 updated, 0 unchanged, {rejected} rejected" in result.stderr
    for i, (name, (_, how)) in enumerate(MALFORMED.items()):
        lines = [ln for ln in result.stderr.splitlines() if ln.startswith("rejected") and f"case{i:02d}.json" in ln]
        if how == "stored":
            assert not lines, (name, lines)
        else:
            assert len(lines) == 1 and how in lines[0], (name, lines)
    assert malformed_cache["seconds"] < 30


@pytest.mark.parametrize(
    "name", [n for n, (_, how) in MALFORMED.items() if how == "stored" and n != "one megabyte of criteria"]
)
def test_stored_malformed_record_shows_explains_and_lists_its_criteria(with_malformed, name):
    nct_id = CASE_IDS[name]
    for args in (
        ("show", nct_id, "--offline"),
        ("show", nct_id, "--offline", "--json"),
        ("criteria", nct_id, "--offline"),
        ("criteria", nct_id, "--offline", "--json"),
        ("explain", nct_id, *ADULT, "--offline"),
    ):
        result = run(*args)
        no_crash(result)
        assert result.exit_code == 0, (args, result.output)
        assert nct_id in result.stdout or args[-1] == "--json"
    assert json.loads(run("show", nct_id, "--offline", "--json").stdout)["protocolSection"]


@pytest.mark.parametrize("name", [n for n, (_, how) in MALFORMED.items() if how != "stored"])
def test_rejected_malformed_record_is_not_in_the_cache(with_malformed, name):
    result = run("show", CASE_IDS[name], "--offline")
    one_line_error(result, "not in the cache")


@pytest.fixture
def verdicts(malformed_cache):
    """`match --all --json` for an adult with spinal cord injury, over that cache."""
    return malformed_cache["verdicts"]


@pytest.mark.parametrize(
    ("name", "kind", "words"),
    [
        ("minimum age in minutes", "age", "'18 Minutes' is implausible"),
        ("minimum age of 999 years", "age", "'999 Years' is implausible"),
        ("negative minimum age", "age", "'-5 Years' is unreadable"),
        ("minimum age is words", "age", "'abc' is unreadable"),
        ("maximum age below the minimum", "age", "is above maximum age '10 Years'"),
        ("unknown sex", "sex", "'UNKNOWN_X' is not one trialfinder knows"),
    ],
)
def test_a_registry_value_that_cannot_be_understood_gives_no_certain_verdict(verdicts, name, kind, words):
    match = verdicts[CASE_IDS[name]]
    assert match["verdict"] == "uncertain", match
    reason = next(r for r in match["reasons"] if r["criterion"] == kind and r["result"] == "unknown")
    assert words in reason["text"]
    assert "ask the study team" in reason["text"]


@pytest.mark.parametrize(
    ("minimum", "maximum", "problems"),
    [
        ("30 Minutes", "72 Hours", []),  # newborns: every unit of the API specification is valid
        ("1 Hour", "28 Days", []),
        ("6 Hours", "17 Years", []),
        ("0 Minutes", None, []),
        ("18 Minutes", None, ["minimum age '18 Minutes' is implausible"]),  # a real record's slip for years
        ("18 Minutes", "65 Years", ["minimum age '18 Minutes' is implausible"]),
        ("72 Hours", "30 Minutes", ["minimum age '72 Hours' is above maximum age '30 Minutes'"]),
    ],
)
def test_registry_ages_in_minutes_and_hours_are_plausible_for_newborns_only(minimum, maximum, problems):
    from trialfinder.models import age_limit_problems

    assert age_limit_problems(minimum, maximum) == problems


NEONATAL_ID = "NCT05000001"


@pytest.fixture(scope="module")
def neonatal_cache(tmp_path_factory):
    """A cache holding one trial of newborns, aged 30 minutes to 72 hours as the registry gives it."""
    root = tmp_path_factory.mktemp("neonatal")
    record = study(
        NEONATAL_ID,
        title="Cooling for Newborns With Perinatal Stroke",
        conditions=("Perinatal Stroke",),
        mesh=("Stroke",),
        min_age="30 Minutes",
        max_age="72 Hours",
        criteria="Inclusion Criteria:\n\n* Term newborns with perinatal arterial ischemic stroke\n\n"
        "Exclusion Criteria:\n\n* Major congenital malformation",
    )
    (root / "neo.json").write_text(json.dumps(record))
    db = root / "cache" / "trialfinder.db"
    result = run("import", str(root / "neo.json"), env={"TRIALFINDER_DB": str(db)})
    assert result.exit_code == 0, result.output
    return db


@pytest.mark.parametrize(
    ("profile", "verdict", "age_result"),
    [
        (("--age", "1"), "ineligible", "not_met"),
        (("--birth-date", "2025-11-22"), "ineligible", "not_met"),  # one year old
        (("--birth-date", "2026-11-20"), "eligible", "met"),  # two days old: inside 30 minutes to 72 hours
        # A birth date is as fine as a profile goes: born today may still be under 30 minutes old,
        # and three days old may be 72 to 96 hours. Neither is a certain answer.
        (("--birth-date", "2026-11-22"), "uncertain", "unknown"),
        (("--birth-date", "2026-11-19"), "uncertain", "unknown"),
        (("--birth-date", "2026-11-18"), "ineligible", "not_met"),  # four days old
        (("--age", "0"), "uncertain", "unknown"),  # somewhere in the first year
    ],
)
def test_a_trial_of_newborns_with_ages_in_minutes_and_hours_is_matched(neonatal_cache, profile, verdict, age_result):
    args = ("match", "--condition", "stroke", *profile, "--as-of", "2026-11-22", "--offline", "--all", "--json")
    result = run(*args, env={"TRIALFINDER_DB": str(neonatal_cache)})
    no_crash(result)
    assert result.exit_code == 0, result.output
    (match,) = json.loads(result.stdout)
    assert match["verdict"] == verdict, match
    (age,) = [r for r in match["reasons"] if r["criterion"] == "age"]
    assert age["result"] == age_result
    assert "30 minutes to 72 hours" in age["text"] and "can't be used" not in age["text"]


def test_the_same_adult_may_qualify_for_the_unbroken_record(verdicts):
    # The control: the malformed ones above are uncertain because of what is malformed, not for another reason.
    assert verdicts[GOOD_ID]["verdict"] == "eligible"
    assert verdicts[CASE_IDS["unknown overall status"]]["verdict"] == "eligible"  # status never changes a verdict


def test_a_trial_without_criteria_says_so_instead_of_looking_clear(verdicts):
    match = verdicts[CASE_IDS["no eligibility module"]]
    assert match["verdict"] != "ineligible"
    assert any("lists no eligibility criteria" in r["text"] and r["result"] == "unknown" for r in match["reasons"])
    assert not any("lists no eligibility criteria" in r["text"] for r in verdicts[GOOD_ID]["reasons"])


def test_impossible_coordinates_give_no_distance(verdicts):
    assert verdicts[GOOD_ID]["nearest_site_km"] is not None
    assert verdicts[CASE_IDS["impossible coordinates"]]["nearest_site_km"] is None


def test_a_megabyte_of_criteria_is_stored_whole_read_and_explained(with_malformed, verdicts):
    nct_id = CASE_IDS["one megabyte of criteria"]
    record = json.loads(run("show", nct_id, "--offline", "--json").stdout)
    assert record["protocolSection"]["eligibilityModule"]["eligibilityCriteria"] == BIG_CRITERIA
    assert nct_id in run("show", nct_id, "--offline").stdout
    start = time.perf_counter()
    criteria = json.loads(run("criteria", nct_id, "--offline", "--json").stdout)
    assert time.perf_counter() - start < 20  # about 4 ms per KB, the whole megabyte parsed again
    assert len(criteria["criteria"]) == BIG_CRITERIA.count("\n* ")
    explained = run("explain", nct_id, *ADULT, "--offline")
    no_crash(explained)
    assert explained.exit_code == 0 and nct_id in explained.stdout
    # It asks for a time since injury the profile doesn't give: unclear, not a verdict either way.
    assert verdicts[nct_id]["verdict"] == "uncertain"


# -- malformed profiles and option values ---------------------------------------------------------------

# field: (command-line arguments, bad value in a profile file, words that must be in the message)
BAD_FIELDS: dict[str, tuple[tuple[str, ...], Any, tuple[str, ...]]] = {
    "conditions": (("--condition", "*"), 5, ("'spinal cord injury'", "'stroke'")),
    "age": (("--age", "abc"), True, ("0 to 125",)),
    "birth_date": (("--birth-date", "1990-02-30"), 0, ("YYYY-MM-DD",)),
    "sex": (("--sex", "x"), 1, ("male or female",)),
    "injury_date": (("--injury-date", "yesterday"), 20200101, ("YYYY-MM-DD",)),
    "onset_date": (("--onset-date", "2020-13-01"), True, ("YYYY-MM-DD",)),
    "time_since_onset": (("--time-since-onset", "-3 months"), ["x"], ("'18 months'",)),
    "phase": (("--phase", "late"), 3, ("acute", "subacute", "chronic")),
    "ais_grade": (("--ais-grade", "F"), 1, ("A, B, C, D, E",)),
    "neurological_level": (("--level", "X9"), 5, ("C1-C8, T1-T12, L1-L5 or S1-S5",)),
    "gmfcs_level": (("--gmfcs", "7"), [1], ("I, II, III, IV, V",)),
    "location": (("--location", "95,8"), {"lat": 100, "lon": 8}, ("-90..90", "-180..180")),
    "max_distance_km": (("--max-distance", "far", "--location", "Zurich"), -5, ("greater than 0",)),
    "as_of": (("--as-of", "tomorrow"), 5, ("YYYY-MM-DD",)),
}


@pytest.mark.parametrize("field", BAD_FIELDS)
def test_bad_option_value_is_one_line_naming_the_field_and_what_is_allowed(field):
    args, _, allowed = BAD_FIELDS[field]
    base = () if field == "conditions" else ("--condition", "spinal cord injury")
    one_line_error(run("match", *base, *args, "--offline"), f"'{field}'", *allowed)


@pytest.mark.parametrize("field", BAD_FIELDS)
def test_bad_profile_file_value_is_one_line_naming_the_field_and_what_is_allowed(tmp_path, field):
    _, value, allowed = BAD_FIELDS[field]
    data = {"conditions": ["spinal cord injury"], field: value}
    if field == "max_distance_km":
        data["location"] = "Zurich"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    line = one_line_error(run("match", "--profile", str(path), "--offline"), str(path), f"'{field}", *allowed)
    assert line.count("\n") == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--birth-date", "3000-01-01"), ("birth_date 3000-01-01 is after as_of", "on or before")),
        (("--injury-date", "2030-01-01", "--as-of", "2026-01-01"), ("injury_date 2030-01-01", "on or before")),
        (("--age", "nan"), ("'age'", "0 to 125")),
        (("--age", "200"), ("'age'", "0 to 125")),
        (("--ais-grade", ""), ("'ais_grade'", "A, B, C, D, E")),
        (("--max-distance", "50"), ("max_distance_km needs a location", "LAT,LON")),
        (("--location", "Nowhereville"), ("'location'", "LAT,LON")),
    ],
)
def test_other_bad_values_are_one_line_too(args, words):
    one_line_error(run("match", "--condition", "stroke", *args, "--offline"), *words)


@pytest.mark.parametrize(
    ("within", "words"),
    [
        ("10", ("--within '10' has no unit", "10km or 10mi")),
        ("2.5", ("--within '2.5' has no unit", "2.5km or 2.5mi")),
        ("ten km", ("--within 'ten km' is not a valid distance", "100km or 60mi")),
        ("10 furlongs", ("--within '10 furlongs' is not a valid distance", "km or mi")),
    ],
)
def test_a_distance_without_its_unit_is_one_line_naming_the_option(httpx_mock, tmp_path, within, words):
    # --within is documented as 100km|60mi: a bare number could be either, so it is not guessed.
    for command in ("search", "sync"):
        one_line_error(run(command, "-c", "stroke", "--near", "47,8", "--within", within), *words)
    assert httpx_mock.get_requests() == []
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(("within", "km"), [("10km", 10.0), ("10 KM", 10.0), ("60mi", 96.56), ("1.5 mi", 2.41)])
def test_a_distance_with_its_unit_is_taken(within, km):
    from trialfinder.models import parse_distance_km

    assert parse_distance_km(within, option="--within") == pytest.approx(km, abs=0.01)


def test_a_number_is_not_read_as_a_date_or_a_boolean_as_an_age(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('conditions = ["stroke"]\nbirth_date = 0\n')  # once read as 1970-01-01 (a Unix time)
    one_line_error(run("match", "--profile", str(path), "--offline"), "'birth_date'", "YYYY-MM-DD")
    path.write_text('conditions = ["stroke"]\nage = true\n')  # once read as 1 year old
    one_line_error(run("match", "--profile", str(path), "--offline"), "'age'", "0 to 125")


def test_the_same_checks_apply_when_a_patient_is_added():
    one_line_error(run("patient", "add", "P-1", "--condition", "stroke", "--age", "old"), "'age'", "0 to 125")
    one_line_error(run("patient", "add", "P-1", "--condition", "stroke", "--gmfcs", "VI"), "'gmfcs_level'", "I, II")
    assert "No patients yet" in run("patient", "list").stdout


# -- security: markup, full-text search, SQL, paths ----------------------------------------------------------

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
HOSTILE = study(
    "NCT04000001",
    title=f"Walking {SCRIPT} after SCI {IMG}",
    criteria=f"Inclusion Criteria:\n\n* Adults aged 18 years or older {IMG}\n* Spinal cord injury {SCRIPT}",
    summary=f"Summary {SCRIPT}",
    locations=[site(f"Clinic {SCRIPT}", city=f"Zurich {IMG}")],
)
PLAIN = study(
    "NCT04000002",
    title="Cycling after spinal cord injury",
    summary="A cycling programme.",
    interventions=[{"type": "BEHAVIORAL", "name": "Cycling programme"}],
)
PROFILE_TOML = (
    'conditions = ["spinal cord injury"]\nbirth_date = 1990-03-01\nsex = "male"\ninjury_date = 2019-06-15\n'
    "location = { lat = 47.4, lon = 8.5 }\n"
)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [name for name, _ in attrs]


def assert_escaped(page_html: str) -> None:
    assert "<script" not in page_html.lower() and "<img" not in page_html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
    assert "&lt;img src=x onerror=alert(1)&gt;" in page_html
    parser = Tags()
    parser.feed(page_html)
    assert not {"script", "img", "iframe", "object"} & set(parser.tags)
    assert not [a for a in parser.attrs if a.startswith("on")]


@pytest.fixture
def hostile(tmp_path):
    assert run("import", str(write_records(tmp_path / "in", [HOSTILE, PLAIN]))).exit_code == 0
    profile = tmp_path / "p.toml"
    profile.write_text(PROFILE_TOML)
    return profile


def test_shortlist_html_export_escapes_record_and_user_text(tmp_path, hostile):
    assert run("patient", "add", "P-1", "--profile", str(hostile)).exit_code == 0
    added = run("shortlist", "add", "P-1", "NCT04000001", "--offline", "--note", f"call them {SCRIPT}")
    assert added.exit_code == 0, added.output
    out = tmp_path / "s.html"
    result = run("shortlist", "export", "P-1", "--format", "html", "--offline", "-o", str(out))
    assert result.exit_code == 0, result.output
    page_html = out.read_text(encoding="utf-8")
    assert_escaped(page_html)
    assert "call them &lt;script&gt;" in page_html  # the note
    assert "Clinic &lt;script&gt;" in page_html  # the site


def test_digest_html_escapes_record_text(tmp_path, hostile):
    assert run("watch", "add", "mine", "--profile", str(hostile)).exit_code == 0
    result = run("digest", "--offline", "--out", str(tmp_path / "digests"), "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    (page,) = (tmp_path / "digests").glob("*.html")
    page_html = page.read_text(encoding="utf-8")
    assert "NCT04000001" in page_html
    assert "<script" not in page_html.lower() and "<img" not in page_html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page_html
    assert not {"script", "img"} & set(_tags(page_html))


def _tags(page_html: str) -> list[str]:
    parser = Tags()
    parser.feed(page_html)
    return parser.tags


def search_ids(*args: str) -> list[str]:
    result = run("search", *args, "--offline", "--json")
    no_crash(result)
    assert result.exit_code == 0, result.output
    return [item["nct_id"] for item in json.loads(result.stdout)]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('"walking', True),
        ('walking"', True),
        ('"walking" "', True),
        ("walking*", True),
        ("(walking", True),
        ("walking)", True),
        ("((walking", True),
        ("^walking", True),
        ("walking:", True),
        ("{title}: walking", False),  # "title" is a word to find, not a column
        ("title:walking", False),
        ("NEAR(walking cycling)", False),  # NEAR is a word: no record has it
        ("walking OR cycling", False),  # the registry's operators are dropped: both words are required
        ("walking AND OR NOT", True),
        ("NOT walking", True),
        ("-walking", True),
        ("'; DROP TABLE studies; --", False),
        ('"', False),
        ("*", False),
        (":", False),
        ("()", False),
    ],
)
def test_full_text_search_input_cannot_break_or_widen_the_query(tmp_path, hostile, text, found):
    ids = search_ids("--term", text)
    assert ("NCT04000001" in ids) is found, ids
    assert "NCT04000002" not in ids or "cycling" in text.lower()
    assert search_ids("--term", "walking") == ["NCT04000001"]  # the cache is intact afterwards


@pytest.mark.parametrize("option", ["--condition", "--intervention", "--location"])
def test_every_search_option_takes_hostile_text(hostile, option):
    for text in ('"', "*", "NEAR(", "a OR b", "title:x", "'; DROP TABLE studies; --", "(((", "^"):
        assert search_ids(option, text) == []
    assert search_ids("--condition", "spinal cord injury", "--status", "recruiting") != []


@pytest.mark.parametrize("condition", ['"', "*", "NEAR(", "title:x", "(", "x' OR 1=1 --"])
def test_match_takes_hostile_condition_text(hostile, condition):
    result = run("match", "--condition", condition, "--offline", "--all", "--json")
    no_crash(result)
    if result.exit_code == 0:
        assert json.loads(result.stdout) == []
    else:
        one_line_error(result, "'conditions'", "'spinal cord injury'")


SQLISH = "x'); DROP TABLE patients; --"


def test_sql_metacharacters_in_user_data_round_trip(tmp_path, hostile):
    name = f"P-{SQLISH}"
    note = f'{SQLISH} "quoted" ; \\ %_ {SCRIPT}'
    reason = "Robert'); DROP TABLE shortlist_entries;--"
    assert run("patient", "add", name, "--profile", str(hostile)).exit_code == 0
    assert run("shortlist", "add", name, "NCT04000001", "--offline", "--note", note).exit_code == 0
    assert run("shortlist", "status", name, "NCT04000001", "declined", "--reason", reason).exit_code == 0
    watch = f"w-{SQLISH}"
    assert run("watch", "add", watch, "--patient", name).exit_code == 0
    assert run("patient", "add", "P-2", "--condition", "stroke").exit_code == 0

    backup = tmp_path / "backup.json"
    assert run("backup", str(backup)).exit_code == 0
    text = backup.read_text(encoding="utf-8")
    for value in (name, note, reason, watch):
        assert json.dumps(value)[1:-1] in text
    shown = json.loads(run("patient", "show", name, "--json").stdout)
    assert shown["name"] == name
    listed = run("patient", "list")
    assert name in listed.stdout and "P-2" in listed.stdout  # nothing dropped
    assert run("shortlist", "show", name, "--offline").exit_code == 0
    assert note in run("shortlist", "show", name, "--offline").stdout
    assert [w["name"] for w in json.loads(run("watch", "list", "--json").stdout)] == [watch]


def symlink_entry(name: str, target: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # Unix: the mode below is meaningful
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def test_zip_entries_pointing_outside_or_linking_are_refused_and_nothing_is_written(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(study("NCT04000009")))
    absolute = Path("/tmp") / f"trialfinder-robustness-{uuid.uuid4().hex}.json"
    archive = tmp_path / "work" / "bulk.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("NCT04000001.json", json.dumps(study("NCT04000001")))
        zf.writestr("../../x.json", json.dumps(study("NCT04000002")))
        zf.writestr("sub/../../x.json", json.dumps(study("NCT04000003")))
        zf.writestr(str(absolute), json.dumps(study("NCT04000004")))
        zf.writestr("..\\..\\win.json", json.dumps(study("NCT04000005")))
        zf.writestr(symlink_entry("link.json", str(outside)), str(outside))
        zf.writestr(symlink_entry("rel.json", "../outside.json"), "../outside.json")
    before = sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts)

    result = run("import", str(archive))

    no_crash(result)
    assert result.exit_code == 0, result.output
    assert "1 new, 0 updated, 0 unchanged, 6 rejected" in result.stderr
    rejected = [line for line in result.stderr.splitlines() if line.startswith("rejected")]
    assert len(rejected) == 6
    for entry in ("../../x.json", "sub/../../x.json", str(absolute), "..\\..\\win.json"):
        assert any(f"!{entry}:" in line and "outside the archive" in line for line in rejected), entry
    for entry in ("link.json", "rel.json"):
        assert any(f"!{entry}:" in line and "symbolic link" in line for line in rejected), entry
    assert not absolute.exists()
    assert sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts) == before
    assert not (tmp_path.parent / "x.json").exists()
    assert run("show", "NCT04000001", "--offline").exit_code == 0
    for other in ("NCT04000002", "NCT04000003", "NCT04000004", "NCT04000005", "NCT04000009"):
        one_line_error(run("show", other, "--offline"), "not in the cache")


def test_import_does_not_follow_a_symlinked_folder(tmp_path):
    elsewhere = write_records(tmp_path / "elsewhere", [study("NCT04000007")])
    folder = write_records(tmp_path / "in", [study("NCT04000006")])
    os.symlink(elsewhere, folder / "linked")
    result = run("import", str(folder))
    assert result.exit_code == 0, result.output
    assert "1 new" in result.stderr
    one_line_error(run("show", "NCT04000007", "--offline"), "not in the cache")


def test_records_are_not_changed_by_a_round_trip_through_the_cache(tmp_path):
    # Text that looks like SQL, FTS syntax or markup is data: it comes back byte for byte.
    record = copy.deepcopy(HOSTILE)
    record["protocolSection"]["identificationModule"]["officialTitle"] = SQLISH + ' NEAR("a" b) *'
    assert run("import", str(write_records(tmp_path / "in", [record]))).exit_code == 0
    assert (
        json.loads(run("show", "NCT04000001", "--offline", "--json").stdout)["protocolSection"]
        == (record["protocolSection"])
    )
