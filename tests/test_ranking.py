"""How `match` ranks trials: each term of the ranking, and which site counts as the nearest.

Each test sets up trials that are the same except for the one thing under test, and gives the
trial that should rank first the *larger* NCT id: ties are broken by NCT id, so without the term
under test the order would come out the other way round.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from click.testing import CliRunner

from records import site, study, write_records
from trialfinder.cli import cli

# No location: distance plays no part unless a test adds one.
PROFILE = ["--condition", "sci", "--age", "40", "--as-of", "2026-11-22", "--offline"]
ADULTS = "Inclusion Criteria:\n\n* Adults"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def load(tmp_path, records: list[dict[str, Any]]) -> None:
    result = run("import", str(write_records(tmp_path / "in", records)))
    assert result.exit_code == 0, result.output


def ranked(*args: str) -> list[dict[str, Any]]:
    result = run("match", *PROFILE, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def weakly_overseen(record: dict[str, Any]) -> dict[str, Any]:
    """The same trial, but not randomised, not blinded and without a data monitoring committee."""
    weak = copy.deepcopy(record)
    design = weak["protocolSection"]["designModule"]["designInfo"]
    design["allocation"] = "NA"
    design["maskingInfo"]["masking"] = "NONE"
    weak["protocolSection"]["oversightModule"]["oversightHasDmc"] = False
    return weak


def paying(record: dict[str, Any]) -> dict[str, Any]:
    """The same trial, with a record that says participants pay (a warning sign)."""
    flagged = copy.deepcopy(record)
    flagged["protocolSection"]["descriptionModule"]["briefSummary"] = "Participants will pay for the treatment."
    return flagged


def test_stronger_registration_and_oversight_signals_rank_first(tmp_path):
    weak = weakly_overseen(study("NCT01000001", title="Walking after SCI", criteria=ADULTS))
    strong = study("NCT01000002", title="Walking after SCI", criteria=ADULTS)
    load(tmp_path, [weak, strong])
    items = ranked()
    assert [i["nct_id"] for i in items] == ["NCT01000002", "NCT01000001"]
    assert {"randomized", "masked", "data_monitoring_committee"} <= set(items[0]["trust"]["signals"])
    assert not {"randomized", "masked", "data_monitoring_committee"} & set(items[1]["trust"]["signals"])
    assert items[0]["verdict"] == items[1]["verdict"] == "eligible"
    assert items[0]["score"] > items[1]["score"]


def test_trials_with_warning_signs_rank_last_even_below_weaker_verdicts(tmp_path):
    # The flagged trial is the better match on every other count: verdict, oversight, status, recency.
    flagged = paying(study("NCT01000001", title="Walking after SCI", criteria=ADULTS))
    unclear = weakly_overseen(
        study(
            "NCT01000002",
            title="Walking after SCI",
            status="NOT_YET_RECRUITING",
            criteria="Inclusion Criteria:\n\n* AIS A-C",  # the profile has no AIS grade: unclear
            last_update="2020-01-15",
        )
    )
    plain = weakly_overseen(study("NCT01000003", title="Walking after SCI", criteria=ADULTS, status="COMPLETED"))
    load(tmp_path, [flagged, unclear, plain])
    items = ranked("--all")
    assert [(i["nct_id"], i["verdict"]) for i in items] == [
        ("NCT01000003", "eligible"),
        ("NCT01000002", "uncertain"),
        ("NCT01000001", "eligible"),
    ]
    assert [w["name"] for w in items[-1]["trust"]["warnings"]] == ["participant_pays"]


def test_recruiting_then_not_yet_recruiting_rank_before_other_statuses(tmp_path):
    statuses = ["COMPLETED", "ACTIVE_NOT_RECRUITING", "NOT_YET_RECRUITING", "RECRUITING"]
    load(
        tmp_path,
        [
            study(f"NCT0100000{n}", title="Walking after SCI", status=status, criteria=ADULTS)
            for n, status in enumerate(statuses, 1)
        ],
    )
    items = ranked("--all")
    assert [i["status"] for i in items[:2]] == ["RECRUITING", "NOT_YET_RECRUITING"]
    assert {i["status"] for i in items[2:]} == {"COMPLETED", "ACTIVE_NOT_RECRUITING"}
    # By default only recruiting and not-yet-recruiting trials are listed at all.
    assert [i["status"] for i in ranked()] == ["RECRUITING", "NOT_YET_RECRUITING"]


def test_recently_updated_trials_rank_first(tmp_path):
    records = []
    for nct_id, updated in (("NCT01000001", "2017-06-01"), ("NCT01000002", "2024-03-01")):
        record = study(nct_id, title="Walking after SCI", criteria=ADULTS, last_update=updated)
        # The same verification date for both, so only the update date differs (not the staleness signal).
        record["protocolSection"]["statusModule"]["statusVerifiedDate"] = "2017-06"
        records.append(record)
    load(tmp_path, records)
    items = ranked()
    assert [(i["nct_id"], i["last_update"]) for i in items] == [
        ("NCT01000002", "2024-03-01"),
        ("NCT01000001", "2017-06-01"),
    ]
    assert items[0]["trust"]["signals"] == items[1]["trust"]["signals"]


def test_the_nearest_site_is_the_nearest_recruiting_one(tmp_path):
    closed_near = site("Closed Centre Zurich", city="Zurich", lat=47.3769, lon=8.5417, status="COMPLETED")
    open_far = site("Open Centre Lisbon", city="Lisbon", country="Portugal", lat=38.7, lon=-9.1)
    load(tmp_path, [study("NCT01000001", criteria=ADULTS, locations=[closed_near, open_far])])
    (item,) = ranked("--location", "47.38,8.54")
    assert item["nearest_site"]["facility"] == "Open Centre Lisbon"
    assert 1600 < item["nearest_site_km"] < 1800
    (distance,) = [r for r in item["reasons"] if r["criterion"] == "distance"]
    assert "Lisbon" in distance["text"] and "Zurich" not in distance["text"]
    text = run("match", *PROFILE, "--location", "47.38,8.54").stdout
    assert "Open Centre Lisbon" in text and "Closed Centre Zurich" not in text


def test_a_nearer_open_site_brings_a_trial_up(tmp_path):
    far = study("NCT01000001", criteria=ADULTS, locations=[site(city="Lisbon", lat=38.7, lon=-9.1)])
    near = study("NCT01000002", criteria=ADULTS, locations=[site(city="Zurich", lat=47.3769, lon=8.5417)])
    load(tmp_path, [far, near])
    assert [i["nct_id"] for i in ranked("--location", "47.38,8.54")] == ["NCT01000002", "NCT01000001"]
