"""The command line: output, exit codes, and what ends up in the database."""

from __future__ import annotations

import json
import re
import sqlite3

import httpx
import pytest
from click.testing import CliRunner

from conftest import STUDIES, needs_shared
from records import page, site, study
from trialfinder import config
from trialfinder.cli import cli
from trialfinder.cli.options import client_factory

API = "https://ctgov.test/api/v2"
LIST = re.compile(r"https://ctgov\.test/api/v2/studies\?.*")
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for fragment in fragments:
        assert fragment in lines[0]


def db_rows(tmp_path, sql):
    conn = sqlite3.connect(tmp_path / "cache" / "trialfinder.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def imported(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    records = [
        study("NCT01000001", title="Walking After Spinal Cord Injury", locations=[site(city="Zurich")]),
        study("NCT01000002", title="Arm Cycling for Tetraplegia", status="NOT_YET_RECRUITING"),
        study("NCT01000003", title="Old Spinal Cord Study", status="COMPLETED"),
        study("NCT01000004", title="Stroke Rehabilitation", conditions=("Stroke",), mesh=("Stroke",)),
    ]
    for r in records:
        nct = r["protocolSection"]["identificationModule"]["nctId"]
        (folder / f"{nct}.json").write_text(json.dumps(r))
    result = run("import", str(folder))
    assert result.exit_code == 0, result.output
    return records


def test_import_reports_counts_and_stores_rows(tmp_path, imported):
    assert db_rows(tmp_path, "SELECT count(*) FROM studies") == [(4,)]
    result = run("import", str(tmp_path / "in"))
    assert "0 new, 0 updated, 4 unchanged, 0 rejected" in result.stdout


def test_import_skips_bad_files_and_says_why(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(study()))
    (tmp_path / "bad.json").write_text("{nope")
    result = run("import", str(tmp_path / "good.json"), str(tmp_path / "bad.json"))
    assert result.exit_code == 0
    assert "1 new" in result.stdout and "1 rejected" in result.stdout
    assert "rejected" in result.stderr and "bad.json" in result.stderr


def test_import_with_nothing_usable_fails(tmp_path):
    (tmp_path / "bad.json").write_text("[1, 2]")
    result = run("import", str(tmp_path / "bad.json"))
    assert result.exit_code == 1
    assert "nothing could be imported" in result.stderr


def test_import_missing_path_is_one_line(tmp_path):
    one_line_error(run("import", str(tmp_path / "nope.json")), "no such file")


def test_offline_search_prints_a_table_of_open_trials(imported, httpx_mock):
    result = run("search", "--condition", "spinal cord injury", "--offline")
    assert result.exit_code == 0
    assert "NCT01000001" in result.stdout and "NCT01000002" in result.stdout
    assert "NCT01000003" not in result.stdout  # completed: not in the default statuses
    assert "Not yet recruiting" in result.stdout
    assert httpx_mock.get_requests() == []


def test_search_json_has_the_documented_fields(imported):
    result = run("search", "-c", "spinal cord injury", "--status", "completed", "--offline", "--json")
    items = json.loads(result.stdout)
    assert [i["nct_id"] for i in items] == ["NCT01000003"]
    assert set(items[0]) >= {
        "nct_id",
        "title",
        "status",
        "conditions",
        "phases",
        "min_age",
        "max_age",
        "sex",
        "last_update",
    }
    assert items[0]["conditions"] == ["Spinal Cord Injuries"]
    assert items[0]["phases"] == ["PHASE2"]


def test_search_near_filters_by_distance(imported):
    result = run("search", "-c", "spinal cord injury", "--near", "47.5,8.7", "--within", "30mi", "--offline", "--json")
    items = json.loads(result.stdout)
    assert [i["nct_id"] for i in items] == ["NCT01000001", "NCT01000002"]
    assert all(i["nearest_site_km"] < 48.3 for i in items)


def test_online_search_fetches_through_the_cache(tmp_path, httpx_mock):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([study("NCT01000001"), study("NCT01000009", title="Other")]))
    result = run("search", "-c", "spinal cord injury", "--json")
    assert result.exit_code == 0, result.output
    assert {i["nct_id"] for i in json.loads(result.stdout)} == {"NCT01000001", "NCT01000009"}
    assert db_rows(tmp_path, "SELECT nct_id, source FROM studies ORDER BY 1") == [
        ("NCT01000001", "api"),
        ("NCT01000009", "api"),
    ]
    assert db_rows(tmp_path, "SELECT data_timestamp, n_studies FROM queries") == [("2026-11-21T09:00:03", 2)]
    # The same search again is answered from the cache: no new requests (strict mock would fail).
    assert run("search", "-c", "spinal cord injury").exit_code == 0
    assert len(httpx_mock.get_requests()) == 2


def test_unreachable_registry_suggests_offline(httpx_mock):
    httpx_mock.add_exception(httpx.ConnectError("Connection refused"), is_reusable=True)
    one_line_error(run("search", "-c", "stroke"), "can't reach the registry", "--offline")


def test_search_needs_something_to_search_for():
    result = run("search")
    assert result.exit_code == 2
    assert "--condition" in result.stderr


def test_unknown_status_lists_the_valid_ones(httpx_mock):
    result = run("search", "-c", "x", "--status", "open")
    assert result.exit_code == 2
    assert "recruiting" in result.stderr and "not-yet-recruiting" in result.stderr
    assert httpx_mock.get_requests() == []


@pytest.mark.parametrize(
    ("near", "within", "expected"),
    [
        ("47.3", "10km", "LAT,LON"),
        ("95,8", "10km", "out of range"),
        ("47,8", "ten km", "distance"),
        ("47,8", "-5km", "distance"),
    ],
)
def test_malformed_near_is_one_line_without_network(httpx_mock, near, within, expected):
    one_line_error(run("search", "-c", "x", "--near", near, "--within", within), expected)
    assert httpx_mock.get_requests() == []


def test_show_prints_plain_language_page(imported):
    result = run("show", "NCT01000001", "--offline")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("NCT01000001  Walking After Spinal Cord Injury")
    assert "Status:        Recruiting" in out
    assert "https://clinicaltrials.gov/study/NCT01000001" in out
    assert "Ages 18 years and older" in out
    assert "Example Rehabilitation Centre, Zurich, Switzerland" in out
    assert "study@example.org" in out
    assert "Pregnancy" in out  # the criteria text


def test_show_json_is_the_raw_record_with_trust_added(imported):
    result = run("show", "nct1000002", "--offline", "--json")
    data = json.loads(result.stdout)
    trust = data.pop("trust")
    assert data == imported[1]
    assert set(trust) == {"signals", "warnings"} and "randomized" in trust["signals"]


def test_show_fetches_when_not_cached(tmp_path, httpx_mock):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=f"{API}/studies/NCT01000001", json=study())
    assert run("show", "NCT01000001").exit_code == 0
    assert db_rows(tmp_path, "SELECT nct_id, data_timestamp FROM studies") == [("NCT01000001", "2026-11-21T09:00:03")]


def test_show_invalid_id_is_one_line_and_no_network(httpx_mock):
    one_line_error(run("show", "NCT12-34"), "not an NCT id", "NCT01234567")
    assert httpx_mock.get_requests() == []


def test_show_offline_when_not_cached_says_so(httpx_mock):
    one_line_error(run("show", "NCT01000001", "--offline"), "not in the cache")


def test_show_unknown_study(httpx_mock):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=f"{API}/studies/NCT09999999", status_code=404, text="Not Found")
    one_line_error(run("show", "NCT09999999"), "no study NCT09999999")


def test_sync_with_no_remembered_searches_says_what_to_do(httpx_mock):
    result = run("sync")
    assert result.exit_code == 0
    assert "no remembered searches" in result.stdout


def test_cache_info_and_clear(tmp_path, imported):
    info = json.loads(run("cache", "info", "--json").stdout)
    assert info["studies"] == 4
    text = run("cache", "info").stdout
    assert "Studies:             4" in text
    refused = CliRunner().invoke(cli, ["cache", "clear"], input="n\n")
    assert refused.exit_code == 1
    assert db_rows(tmp_path, "SELECT count(*) FROM studies") == [(4,)]
    result = run("cache", "clear", "--yes")
    assert "4 studies removed" in result.stdout
    assert db_rows(tmp_path, "SELECT count(*) FROM studies") == [(0,)]


def test_db_option_and_env_choose_the_cache_file(tmp_path, monkeypatch):
    (tmp_path / "r.json").write_text(json.dumps(study()))
    run("import", "--db", str(tmp_path / "elsewhere.db"), str(tmp_path / "r.json"))
    assert (tmp_path / "elsewhere.db").exists()
    monkeypatch.delenv("TRIALFINDER_DB")
    run("import", str(tmp_path / "r.json"))
    assert (tmp_path / "cache" / "trialfinder.db").exists()  # the default, relative to the working dir


def test_version():
    assert run("--version").stdout.startswith("trialfinder, version ")


@pytest.mark.parametrize(
    ("args", "says", "help_of"),
    [
        (("search", "--limit", "abc"), "'--limit': 'abc' is not a valid integer", "trialfinder search"),
        (("serve", "--port", "99999"), "'--port': 99999 is not in the range", "trialfinder serve"),
        (("match", "--wat"), "No such option '--wat'", "trialfinder match"),
        (("shortlist", "status"), "Missing argument 'PATIENT'", "trialfinder shortlist status"),
        (("nosuch",), "No such command 'nosuch'", "trialfinder"),
    ],
)
def test_a_wrong_option_or_value_is_one_line_naming_it_and_where_help_is(args, says, help_of):
    result = CliRunner().invoke(cli, list(args), prog_name="trialfinder")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and says in lines[0] and f"See `{help_of} --help`." in lines[0]


def test_a_group_named_without_a_command_still_shows_its_help():
    result = CliRunner().invoke(cli, ["patient"])
    assert "Commands:" in result.output and "add" in result.output


def test_show_gives_each_site_its_own_recruiting_status(tmp_path):
    sites = [
        site("Open Centre", city="Zurich"),
        site("Opening Centre", city="Basel", status="NOT_YET_RECRUITING"),
        site("Closed Centre", city="Bern", status="COMPLETED"),
        site("Invitation Centre", city="Geneva", status="ENROLLING_BY_INVITATION"),
    ]
    (tmp_path / "r.json").write_text(json.dumps(study("NCT01000001", locations=sites)))
    assert run("import", str(tmp_path / "r.json")).exit_code == 0
    out = run("show", "NCT01000001", "--offline").stdout
    lines = {line.strip() for line in out.splitlines()}
    assert "- Open Centre, Zurich, Switzerland [recruiting]" in lines
    assert "- Opening Centre, Basel, Switzerland [not yet recruiting]" in lines
    assert "- Closed Centre, Bern, Switzerland [completed] (this site is not recruiting)" in lines
    assert "- Invitation Centre, Geneva, Switzerland [enrolling by invitation only]" in lines


def test_show_lists_a_site_contact_once_with_every_role(tmp_path):
    record = study("NCT01000001")
    (loc,) = record["protocolSection"]["contactsLocationsModule"]["locations"]
    loc["contacts"] = [
        {"name": "Felix Kiepe, Dr.", "role": "CONTACT", "phone": "+49 5931 1520"},
        {"name": "Felix Kiepe, Dr.", "role": "PRINCIPAL_INVESTIGATOR"},
        {"name": "Ana Lopes", "role": "SUB_INVESTIGATOR", "email": "ana@example.org"},
        {"name": "Ana Lopes", "role": "SUB_INVESTIGATOR", "email": "ana.lopes@example.org"},  # a different email
    ]
    (tmp_path / "r.json").write_text(json.dumps(record))
    assert run("import", str(tmp_path / "r.json")).exit_code == 0
    out = run("show", "NCT01000001", "--offline").stdout
    where = out[out.index("\nWhere\n") : out.index("\nContacts\n")]
    assert where.count("Felix Kiepe") == 1
    assert "Felix Kiepe, Dr. (contact and principal investigator) · +49 5931 1520" in where
    # Same name, conflicting details: both kept, so no phone number or address is lost.
    assert "Ana Lopes (sub-investigator) · ana@example.org" in where
    assert "Ana Lopes (sub-investigator) · ana.lopes@example.org" in where


@needs_shared
def test_show_real_record_names_each_site_contact_once():
    assert run("import", str(STUDIES / "NCT05296889.json")).exit_code == 0
    out = run("show", "NCT05296889", "--offline").stdout
    where = out[out.index("\nWhere\n") : out.index("\nContacts\n")]
    assert where.count("Felix Kiepe, Dr.") == 1 and where.count("Klaus Röhl, Dr.") == 1
    assert "Felix Kiepe, Dr. (contact and principal investigator)" in where
    assert "Krankenhaus Ludmillenstift Meppen, Meppen, Niedersachsen, Germany [not yet recruiting]" in where


def test_the_registry_client_sends_at_most_50_requests_a_minute_by_default(httpx_mock, fake_time):
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    # Built the way every command builds its client: the default budget applies.
    with client_factory(API)(clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5) as client:
        for _ in range(50):
            client.fetch_version()
        assert fake_time.sleeps == []  # 50 at once are allowed
        client.fetch_version()
        (wait,) = fake_time.sleeps
        assert 60 <= wait <= 62  # the 51st waits until the first leaves the rolling minute
        for _ in range(49):
            client.fetch_version()
        assert len(fake_time.sleeps) == 1  # the rest of the second minute's budget goes without waiting
    assert len(httpx_mock.get_requests()) == 100
    assert config.DEFAULT_RATE_LIMIT == 50 and config.DEFAULT_RATE_WINDOW_S == 60
    assert "default: 50" in run("sync", "--help").stdout
