"""match, explain and criteria on the command line."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from records import page, site, study
from trialfinder.cli import cli

API = "https://ctgov.test/api/v2"
LIST = re.compile(r"https://ctgov\.test/api/v2/studies\?.*")
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}
REASON_KINDS = {
    "age",
    "sex",
    "condition",
    "time_since_onset",
    "severity",
    "healthy_volunteers",
    "status",
    "distance",
    "other",
}


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


@pytest.fixture
def records(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    items = [
        study(
            "NCT01000001",
            title="Walking after SCI",
            criteria="Inclusion Criteria:\n\n* At least 12 months post-injury\n* AIS A-C",
        ),
        study("NCT01000002", title="Acute SCI drug", criteria="Inclusion Criteria:\n\n* Within 72 hours of injury"),
        study(
            "NCT01000003",
            title="Cycling after SCI",
            criteria="Inclusion Criteria:\n\n* Adults",
            locations=[site(city="Lisbon", lat=38.7, lon=-9.1)],
        ),
    ]
    for r in items:
        (folder / f"{r['protocolSection']['identificationModule']['nctId']}.json").write_text(json.dumps(r))
    assert run("import", str(folder)).exit_code == 0
    return items


@pytest.fixture
def profile_file(tmp_path):
    path = tmp_path / "me.toml"
    path.write_text(
        'conditions = ["spinal cord injury"]\nage = 34\nsex = "male"\ninjury_date = 2019-06-15\n'
        'ais_grade = "B"\nneurological_level = "C5"\nlocation = { lat = 47.4, lon = 8.5 }\nas_of = 2026-11-22\n'
    )
    return path


def test_match_table_says_what_is_not_advice(records, profile_file):
    result = run("match", "--profile", str(profile_file), "--offline")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Matching for: spinal cord injury · 34 years · male" in out
    assert "NCT01000001" in out and "May qualify" in out
    assert "NCT01000002" not in out  # within 72 hours of injury: clearly not, hidden by default
    assert "not medical advice" in out and "not an endorsement" in out
    assert "Only your condition terms" in out


def test_match_json_shape(records, profile_file):
    items = json.loads(run("match", "--profile", str(profile_file), "--offline", "--all", "--json").stdout)
    by_id = {i["nct_id"]: i for i in items}
    assert set(by_id) == {"NCT01000001", "NCT01000002", "NCT01000003"}
    assert by_id["NCT01000002"]["verdict"] == "ineligible"
    for item in items:
        assert item["verdict"] in {"eligible", "uncertain", "ineligible"}
        assert isinstance(item["score"], (int, float))
        assert "nearest_site_km" in item
        for reason in item["reasons"]:
            assert reason["criterion"] in REASON_KINDS
            assert reason["result"] in {"met", "not_met", "unknown"}
            assert reason["text"]
    decisive = [r for r in by_id["NCT01000002"]["reasons"] if r["result"] == "not_met"]
    assert decisive[0]["criterion"] == "time_since_onset" and decisive[0]["source"] == "Within 72 hours of injury"
    assert by_id["NCT01000001"]["nearest_site_km"] < by_id["NCT01000003"]["nearest_site_km"]


def test_match_from_options_alone_and_as_of(records):
    result = run(
        "match", "--condition", "paralysis", "--age", "34", "--time-since-onset", "2 days", "--offline", "--json"
    )
    ids = [i["nct_id"] for i in json.loads(result.stdout)]
    assert "NCT01000002" in ids and "NCT01000001" not in ids
    later = run(
        "match", "--condition", "sci", "--age", "34", "--injury-date", "2026-01-01", "--as-of", "2026-01-02",
        "--offline", "--json",
    )  # fmt: skip
    assert "NCT01000002" in [i["nct_id"] for i in json.loads(later.stdout)]


def test_only_condition_terms_and_the_search_area_go_to_the_registry(httpx_mock, profile_file, tmp_path):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001")]))
    with_distance = tmp_path / "far.toml"
    with_distance.write_text(profile_file.read_text() + "max_distance_km = 200\n")
    result = run("match", "--profile", str(with_distance), "--json")
    assert result.exit_code == 0, result.output
    (request,) = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/studies")]
    params = dict(request.url.params)
    assert set(params) <= {"query.cond", "filter.overallStatus", "filter.geo", "pageSize", "countTotal"}
    assert "spinal cord injury" in params["query.cond"]
    assert params["filter.geo"].startswith("distance(47.4")
    sent = str(request.url)
    for private in ("34", "2019", "male", "C5", "AIS"):
        assert private not in sent.replace("filter.geo", "")


def test_explain_shows_the_deciding_text_and_questions(records, profile_file):
    result = run("explain", "NCT01000002", "--profile", str(profile_file), "--offline")
    assert result.exit_code == 0
    out = result.stdout
    assert "Verdict: Not eligible." in out
    assert 'Inclusion: "Within 72 hours of injury"' in out
    asked = run("explain", "NCT01000001", "--condition", "sci", "--age", "40", "--offline").stdout
    assert "Ask the study team about:" in asked and "AIS" in asked


def test_explain_json(records, profile_file):
    item = json.loads(run("explain", "NCT01000001", "--profile", str(profile_file), "--offline", "--json").stdout)
    assert item["nct_id"] == "NCT01000001" and item["verdict"] == "eligible"


def test_criteria_shows_what_was_read(records):
    out = run("criteria", "NCT01000001", "--offline").stdout
    assert "At least 12 months post-injury" in out
    assert "time since onset: at least 12 months since the injury" in out
    assert "AIS grade: AIS grade A, B or C" in out
    data = json.loads(run("criteria", "NCT01000001", "--offline", "--json").stdout)
    assert data["nct_id"] == "NCT01000001" and data["version"] >= 1
    assert data["criteria"][0]["facts"][0]["kind"] == "time"


def test_bad_profile_is_one_line(tmp_path, records):
    bad = tmp_path / "bad.toml"
    bad.write_text('conditions = ["sci"]\nais_grade = "F"\n')
    result = run("match", "--profile", str(bad), "--offline")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {bad}: field 'ais_grade': 'F' is not an AIS grade; use one of A, B, C, D, E"
    ]
    assert "conditions" in run("match", "--offline").stderr
    missing = run("match", "--profile", str(tmp_path / "none.toml"), "--offline")
    assert missing.exit_code == 1 and "can't read the profile" in missing.stderr


def test_explain_unknown_trial_offline(records, profile_file):
    result = run("explain", "NCT09999999", "--profile", str(profile_file), "--offline")
    assert result.exit_code == 1 and "not in the cache" in result.stderr


@pytest.fixture
def with_flagged(tmp_path):
    folder = tmp_path / "flag"
    folder.mkdir()
    clinic = study(
        "NCT01000007",
        title="Stem cells after SCI",
        sponsor=("Regenerative Stem Cell Clinic", "OTHER"),
        interventions=[{"type": "BIOLOGICAL", "name": "Adipose-derived stem cells"}],
        criteria="Inclusion Criteria:\n\n* Adults",
    )
    clinic["protocolSection"]["descriptionModule"]["briefSummary"] = "A patient-funded study of stem cells."
    good = study("NCT01000008", title="Walking training after SCI", criteria="Inclusion Criteria:\n\n* Adults")
    for r in (clinic, good):
        (folder / f"{r['protocolSection']['identificationModule']['nctId']}.json").write_text(json.dumps(r))
    assert run("import", str(folder)).exit_code == 0


def test_flagged_trials_rank_last_are_marked_and_can_be_hidden(with_flagged):
    args = ["match", "--condition", "sci", "--age", "40", "--as-of", "2026-11-22", "--offline"]
    items = json.loads(run(*args, "--json").stdout)
    assert [i["nct_id"] for i in items] == ["NCT01000008", "NCT01000007"]
    flagged = items[-1]["trust"]
    assert {w["name"] for w in flagged["warnings"]} == {"participant_pays"}
    assert flagged["warnings"][0]["evidence"].startswith('briefSummary: "A patient-funded study')
    assert "randomized" in items[0]["trust"]["signals"] and items[0]["trust"]["warnings"] == []
    hidden = json.loads(run(*args, "--json", "--hide-flagged").stdout)
    assert [i["nct_id"] for i in hidden] == ["NCT01000008"]
    text = run(*args).stdout
    assert "⚠ participant pays" in text
    assert "NCT01000007: The record says participants pay for or fund the treatment." in text
    assert text.count("not an endorsement") == 1


def test_show_and_explain_carry_the_oversight_panel(with_flagged):
    shown = run("show", "NCT01000007", "--offline").stdout
    assert "Registration and oversight" in shown
    assert "Warning signs" in shown and "participants pay" in shown
    assert "Is there any cost to me" in shown
    assert "not an endorsement" in shown
    for forbidden in ("unsafe", " safe ", "we recommend"):
        assert forbidden not in shown.lower()
    explained = run("explain", "NCT01000008", "--condition", "sci", "--age", "40", "--offline").stdout
    assert "Registration and oversight" in explained and "No warning signs found" in explained


def test_match_all_does_not_limit_the_registry_search_by_distance(httpx_mock, profile_file, tmp_path):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    sydney = site("Spinal Unit Sydney", city="Sydney", country="Australia", lat=-33.87, lon=151.21)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001"), study("NCT01000004", locations=[sydney])]))
    near = tmp_path / "near.toml"
    near.write_text(profile_file.read_text() + "max_distance_km = 200\n")
    result = run("match", "--profile", str(near), "--all", "--json")
    assert result.exit_code == 0, result.output
    (request,) = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/studies")]
    params = dict(request.url.params)
    assert "filter.geo" not in params
    assert "spinal cord injury" in params["query.cond"]
    assert set(params) <= {"query.cond", "filter.overallStatus", "pageSize", "countTotal"}
    items = json.loads(result.stdout)
    # The distance is still worked out, shown and used for ranking; the far trial is kept.
    assert [i["nct_id"] for i in items] == ["NCT01000001", "NCT01000004"]
    assert items[0]["nearest_site_km"] < 10 and items[1]["nearest_site_km"] > 15000
    (beyond,) = [r for r in items[1]["reasons"] if r["criterion"] == "distance"]
    assert beyond["result"] == "not_met" and "beyond your 200 km" in beyond["text"]
    text = run("match", "--profile", str(near), "--all", "--offline").stdout
    assert "Only your condition terms were sent to the registry." in text


def test_match_table_names_the_nearest_recruiting_site_and_its_distance(tmp_path, records, profile_file):
    nameless = study("NCT01000005", title="Standing after SCI", criteria="Inclusion Criteria:\n\n* Adults")
    (loc,) = nameless["protocolSection"]["contactsLocationsModule"]["locations"]
    del loc["facility"]
    loc.update(city="Basel", country="Switzerland", geoPoint={"lat": 47.56, "lon": 7.59})
    (tmp_path / "more").mkdir()
    (tmp_path / "more" / "NCT01000005.json").write_text(json.dumps(nameless))
    assert run("import", str(tmp_path / "more")).exit_code == 0
    items = json.loads(run("match", "--profile", str(profile_file), "--offline", "--all", "--json").stdout)
    km = {i["nct_id"]: i["nearest_site_km"] for i in items}
    out = run("match", "--profile", str(profile_file), "--offline", "--all").stdout
    lines = {nct: next(line for line in out.splitlines() if nct in line) for nct in km}
    assert "Nearest open site" in out
    assert f"{km['NCT01000001']:.0f} km Example Rehabilitation Centre" in lines["NCT01000001"]
    assert f"{km['NCT01000003']:.0f} km Example Rehabilitation Centre" in lines["NCT01000003"]
    assert f"{km['NCT01000005']:.0f} km Basel, Switzerland" in lines["NCT01000005"]
    # --json keeps its fields; the site is there as an object too.
    (basel,) = [i for i in items if i["nct_id"] == "NCT01000005"]
    assert basel["nearest_site"]["city"] == "Basel" and basel["nearest_site"]["country"] == "Switzerland"


def test_match_lists_the_questions_to_ask_once_after_the_table(records, profile_file):
    out = " ".join(run("match", "--profile", str(profile_file), "--offline", "--all").stdout.split())  # unwrapped
    table_end = max(out.index(nct) for nct in ("NCT01000001", "NCT01000002", "NCT01000003"))
    asked = out.index("Questions to ask the study team")
    assert asked > table_end
    for question in (
        "Is there any cost to me",
        "Which ethics board (IRB or research ethics committee) approved this study?",
        "FDA investigational application (IND or IDE) or a national regulator's approval?",
        "Who monitors safety",
    ):
        assert out.count(question) == 1, question
        assert out.index(question) > asked
    assert "cell-product" not in out and "cell product" not in out  # none of these trials is one
    assert out.count("not an endorsement") == 1
    assert "not medical advice" in out
    for advice in ("we recommend", "you should join", " safe ", "unsafe"):
        assert advice not in out.lower()


def test_match_adds_the_cell_product_questions_when_a_listed_trial_is_one(with_flagged):
    out = " ".join(
        run("match", "--condition", "sci", "--age", "40", "--as-of", "2026-11-22", "--offline").stdout.split()
    )
    assert out.count("Is there any cost to me") == 1
    assert "For cell-product trials (NCT01000007), also ask:" in out
    assert out.count("Is the cell product approved, or made under an investigational application?") == 1
    assert out.index("For cell-product trials") > out.index("Questions to ask the study team")
    assert out.count("not an endorsement") == 1
    hidden = run("match", "--condition", "sci", "--age", "40", "--offline", "--hide-flagged").stdout
    assert "NCT01000007" not in hidden and "cell-product" not in hidden


def test_explain_lists_exactly_what_to_ask_the_study_team(records):
    out = run("explain", "NCT01000001", "--condition", "sci", "--age", "40", "--offline").stdout
    lines = out.splitlines()
    start = lines.index("Ask the study team about:") + 1
    end = lines.index("", start)
    assert lines[start:end] == [
        "  - At least 12 months since the injury — your profile has no date of injury or onset?",
        "  - AIS grade A, B or C — your profile has no AIS grade?",
    ]
    # Met criteria are not asked about.
    met = run("explain", "NCT01000003", "--condition", "sci", "--age", "40", "--offline").stdout
    assert "Ask the study team about:" not in met
