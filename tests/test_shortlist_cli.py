"""Patients, shortlists, exports, backup and restore on the command line."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from records import TRICKY_TITLE, changed, nct_of, page, shortlist_trials, study, write_records
from trialfinder.cli import cli

API = "https://ctgov.test/api/v2"
LIST = re.compile(r"https://ctgov\.test/api/v2/studies\?.*")
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


def fails_cleanly(result, *words: str) -> None:
    """One line on stderr, saying what was wrong; exit status 1; no traceback."""
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.output


@pytest.fixture
def records(tmp_path):
    items = shortlist_trials()
    assert run("import", str(write_records(tmp_path / "in", items))).exit_code == 0
    return {nct_of(r): r for r in items}


@pytest.fixture
def patient(tmp_path, records):
    path = tmp_path / "p.toml"
    path.write_text(
        'conditions = ["spinal cord injury"]\nbirth_date = 1990-03-01\nsex = "male"\ninjury_date = 2019-06-15\n'
        'ais_grade = "B"\nlocation = { lat = 47.4, lon = 8.5 }\n'
    )
    result = run("patient", "add", "P-017", "--profile", str(path))
    assert result.exit_code == 0, result.output
    return "P-017"


def user_data(tmp_path) -> dict:
    """Everything in the user database, as a backup would hold it (without the time of saving)."""
    target = tmp_path / f"snap-{len(list(tmp_path.glob('snap-*')))}.json"
    assert run("backup", str(target)).exit_code == 0
    data = json.loads(target.read_text())
    data.pop("saved_at")
    return data


# -- patients -------------------------------------------------------------------------------


def test_patient_add_list_show_update_remove(tmp_path, records, patient):
    listed = run("patient", "list")
    assert "P-017" in listed.stdout and "spinal cord injury" in listed.stdout
    shown = run("patient", "show", "p-017", "--json")
    profile = json.loads(shown.stdout)["profile"]
    assert profile["birth_date"] == "1990-03-01" and "as_of" not in profile and "age" not in profile

    updated = run("patient", "update", "P-017", "--max-distance", "100")
    assert updated.exit_code == 0, updated.output
    profile = json.loads(run("patient", "show", "P-017", "--json").stdout)["profile"]
    assert profile["max_distance_km"] == 100 and profile["ais_grade"] == "B"  # laid over, not replaced

    replaced = run("patient", "update", "P-017", "--replace", "--condition", "stroke", "--age", "70")
    assert replaced.exit_code == 0
    assert "will not advance with time: age (give --birth-date instead)" in replaced.stderr
    assert json.loads(run("patient", "show", "P-017", "--json").stdout)["profile"] == {
        "conditions": ["stroke"],
        "age": 70.0,
    }

    assert run("patient", "remove", "P-017", input="n\n").exit_code == 1  # declined at the prompt
    assert run("patient", "remove", "P-017", "--yes").exit_code == 0
    assert "No patients yet" in run("patient", "list").stdout


def test_patient_errors_are_one_line(tmp_path, records, patient):
    fails_cleanly(run("patient", "add", "P-017", "--condition", "stroke"), "already a patient 'P-017'")
    fails_cleanly(run("patient", "show", "P-99"), "no patient 'P-99'", "P-017")
    fails_cleanly(run("patient", "add", "P-2", "--condition", "stroke", "--sex", "x"), "field 'sex'")
    fails_cleanly(run("patient", "update", "P-99", "--age", "3"), "no patient 'P-99'")


# -- the whole pipeline ------------------------------------------------------------------------


def test_whole_pipeline_with_an_upstream_change(tmp_path, httpx_mock, records, patient):
    assert (
        run("shortlist", "add", "P-017", "NCT01000001", "nct1000003", "--offline", "--note", "from clinic").exit_code
        == 0
    )
    assert run("shortlist", "note", "P-017", "NCT01000001", "called the site; left a message").exit_code == 0
    assert run("shortlist", "status", "P-017", "NCT01000001", "contacted").exit_code == 0
    assert run("shortlist", "status", "P-017", "NCT01000001", "screening").exit_code == 0
    assert run("shortlist", "status", "P-017", "NCT01000003", "declined", "--reason", "too far").exit_code == 0

    shown = run("shortlist", "show", "P-017", "--offline")
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert "1. NCT01000001  Walking after SCI" in out
    assert "screening (since" in out and "called the site; left a message" in out
    assert "May qualify" in out and "Example Rehabilitation Centre" in out and "km" in out
    assert "nothing since shortlisted" in out
    assert out.index("NCT01000001") < out.index("NCT01000003")  # the declined trial is listed last
    assert re.search(r"declined \(since \d{4}-\d\d-\d\d\): too far", out)
    assert "not medical advice" in out

    exported = run("shortlist", "export", "P-017", "--format", "csv", "--offline")
    rows = list(csv.DictReader(io.StringIO(exported.stdout.removeprefix("\ufeff"))))
    assert [r["pipeline_status"] for r in rows] == ["screening", "declined"]

    # Upstream, the registry changes the first trial: it stops recruiting and its criteria change.
    new = changed(
        records["NCT01000001"],
        status="ACTIVE_NOT_RECRUITING",
        last_update="2026-11-20",
        criteria="Inclusion Criteria:\n\n* At least 24 months post-injury",
    )
    httpx_mock.add_response(url=f"{API}/version", json=VERSION)
    httpx_mock.add_response(url=LIST, json=page([new, records["NCT01000003"]]))
    shown = run("shortlist", "show", "P-017", "--refresh")
    assert shown.exit_code == 0, shown.output
    block = shown.stdout.split("2. NCT01000003")[0]
    assert "Active, not recruiting" in block
    assert "! status: Recruiting → Active, not recruiting (2026-11-20)" in block
    assert "! eligibility criteria changed: re-check them before contacting the site (2026-11-20)" in block
    assert "re-check before contacting the site" in block
    asked = [r for r in httpx_mock.get_requests() if "filter.ids" in str(r.url)]
    assert asked and asked[0].url.params["filter.ids"] == "NCT01000001,NCT01000003"  # only ids go out

    items = json.loads(run("shortlist", "show", "P-017", "--offline", "--json").stdout)
    first = items[0]
    assert first["pipeline_status"] == "screening" and first["note"] == "called the site; left a message"
    assert {c["field"] for c in first["changes"]} == {"status", "criteria"}
    assert first["match"]["verdict"] == "eligible"

    history = run("shortlist", "history", "P-017", "NCT01000001").stdout
    for text in (
        "added as candidate; note: from clinic",
        "note: called the site",
        "candidate → contacted",
        "contacted → screening",
    ):
        assert text in history
    assert "declined (too far)" in run("shortlist", "history", "P-017").stdout


def test_an_unreachable_registry_shows_the_cached_shortlist_with_a_note(tmp_path, httpx_mock, records, patient):
    assert run("shortlist", "add", "P-017", "NCT01000001", "--offline", "--note", "still here").exit_code == 0
    httpx_mock.add_exception(httpx.ConnectError("no route to host"), is_reusable=True)
    result = run("shortlist", "show", "P-017", "--refresh")
    assert result.exit_code == 0, result.output
    assert "can't reach the registry" in result.stderr and "showing the cached records" in result.stderr
    assert "still here" in result.stdout and "May qualify" in result.stdout


def test_shortlist_add_fetches_unknown_trials_and_checks_every_id_first(tmp_path, httpx_mock, records, patient):
    before = user_data(tmp_path)
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)
    httpx_mock.add_response(url=f"{API}/studies/NCT01000009", json=study("NCT01000009", title="Fetched one"))
    httpx_mock.add_response(url=f"{API}/studies/NCT01000008", status_code=404, json={"message": "not found"})
    result = run("shortlist", "add", "P-017", "NCT01000009", "NCT01000008")
    fails_cleanly(result, "NCT01000008")
    assert user_data(tmp_path) == before  # the good id was not added either
    assert run("shortlist", "add", "P-017", "NCT01000009").exit_code == 0
    assert "Fetched one" in run("shortlist", "show", "P-017", "--offline").stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("shortlist", "show", "P-99", "--offline"), ("no patient 'P-99'",)),
        (("shortlist", "add", "P-99", "NCT01000001", "--offline"), ("no patient 'P-99'",)),
        (("shortlist", "add", "P-017", "NCT01000077", "--offline"), ("NCT01000077 is not in the cache",)),
        (("shortlist", "add", "P-017", "NCT-what", "--offline"), ("NCT-what",)),
        (("shortlist", "note", "P-017", "NCT01000001", "  "), ("the note is empty",)),
        (("shortlist", "note", "P-017", "NCT01000002", "hi"), ("NCT01000002 is not on P-017's shortlist",)),
        (("shortlist", "status", "P-017", "NCT01000001", "enrolled"), ("can't go from candidate to enrolled",)),
        (("shortlist", "status", "P-017", "NCT01000001", "declined"), ("declined needs a reason",)),
        (("shortlist", "status", "P-017", "NCT01000001", "done"), ("unknown status 'done'",)),
        (("shortlist", "remove", "P-017", "NCT01000001", "NCT01000002"), ("NCT01000002 is not on",)),
        (("shortlist", "export", "P-99", "--format", "csv", "--offline"), ("no patient",)),
    ],
)
def test_bad_requests_are_one_line_and_change_nothing(tmp_path, records, patient, args, words):
    assert run("shortlist", "add", "P-017", "NCT01000001", "--offline").exit_code == 0
    before = user_data(tmp_path)
    fails_cleanly(run(*args), *words)
    assert user_data(tmp_path) == before


def test_match_adds_what_may_qualify_or_is_unclear_to_the_shortlist(tmp_path, records, patient):
    result = run("match", "--patient", "P-017", "--shortlist", "--offline", "--all", "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    assert "to P-017's shortlist as candidates" in result.stderr
    items = json.loads(run("shortlist", "show", "P-017", "--offline", "--json").stdout)
    ids = {i["nct_id"] for i in items}
    assert "NCT01000001" in ids and "NCT01000002" not in ids  # within 72 hours of injury: clearly not
    assert all(i["match"]["verdict"] in ("eligible", "uncertain") for i in items)
    again = run("match", "--patient", "P-017", "--shortlist", "--offline", "--all")
    assert f"({len(ids)} already there)" in again.stderr


def test_match_shortlist_needs_a_patient(records):
    result = run("match", "--condition", "spinal cord injury", "--shortlist", "--offline")
    assert result.exit_code == 2 and "--shortlist needs --patient" in result.stderr


def test_match_and_explain_use_the_stored_profile(records, patient):
    result = run("explain", "NCT01000002", "--patient", "P-017", "--offline")
    assert result.exit_code == 0 and "Not eligible" in result.stdout
    # Options are laid over the stored profile: a recent injury makes the acute trial possible.
    result = run("explain", "NCT01000002", "--patient", "P-017", "--injury-date", "2026-11-21", "--offline")
    assert "Not eligible" not in result.stdout.split("Checked against")[0]


# -- keeping the work safe ---------------------------------------------------------------------


def test_clearing_or_deleting_the_cache_never_loses_the_users_work(tmp_path, records, patient):
    assert run("shortlist", "add", "P-017", "NCT01000001", "--offline", "--note", "keep me").exit_code == 0
    assert run("shortlist", "status", "P-017", "NCT01000001", "contacted").exit_code == 0
    before = user_data(tmp_path)

    assert run("cache", "clear", "--yes").exit_code == 0
    assert user_data(tmp_path) == before
    shown = run("shortlist", "show", "P-017", "--offline")
    assert shown.exit_code == 0
    assert "keep me" in shown.stdout and "contacted" in shown.stdout
    assert "not in the cache" in shown.stdout  # honest: it can't re-check without the record

    cache_db = Path(tmp_path / "cache" / "trialfinder.db")
    for suffix in ("", "-wal", "-shm"):
        Path(str(cache_db) + suffix).unlink(missing_ok=True)
    assert user_data(tmp_path) == before
    assert sorted(p.name for p in (tmp_path / "cache").glob("*userdata*.db")) == ["trialfinder-userdata.db"]
    # With the cache file gone, the shortlist still shows and exports offline.
    shown = run("shortlist", "show", "P-017", "--offline")
    assert shown.exit_code == 0, shown.output
    assert "keep me" in shown.stdout and "contacted" in shown.stdout
    exported = run("shortlist", "export", "P-017", "--format", "csv", "--offline")
    assert exported.exit_code == 0 and "keep me" in exported.stdout


def test_backup_and_restore_on_the_command_line(tmp_path, records, patient):
    assert run("shortlist", "add", "P-017", "NCT01000001", "--offline").exit_code == 0
    assert run("backup", str(tmp_path / "b.json")).exit_code == 0
    saved = user_data(tmp_path)
    fails_cleanly(run("backup", str(tmp_path / "b.json")), "already exists", "--overwrite")

    assert run("shortlist", "status", "P-017", "NCT01000001", "contacted").exit_code == 0
    assert run("patient", "add", "P-018", "--condition", "stroke").exit_code == 0
    assert run("restore", str(tmp_path / "b.json"), input="n\n").exit_code == 1  # asked, declined: nothing done
    assert "P-018" in run("patient", "list").stdout

    result = run("restore", str(tmp_path / "b.json"), "--yes")
    assert result.exit_code == 0, result.output
    assert user_data(tmp_path) == saved
    kept = re.search(r"saved in (\S+)\.$", result.stdout.strip()).group(1)
    assert "P-018" in Path(kept).read_text()  # the replaced data was saved first

    (tmp_path / "junk.json").write_text("[1, 2")
    fails_cleanly(run("restore", str(tmp_path / "junk.json"), "--yes"), "not a trialfinder backup")
    assert user_data(tmp_path) == saved


# -- exports -------------------------------------------------------------------------------------


@pytest.fixture
def shortlisted(tmp_path, records, patient):
    assert run("shortlist", "add", "P-017", "NCT01000001", "NCT01000003", "--offline").exit_code == 0
    assert run("shortlist", "note", "P-017", "NCT01000003", '=HYPERLINK("http://x") & <b>"bold"</b>').exit_code == 0
    return "P-017"


def test_csv_export_parses_back_one_row_per_trial(tmp_path, shortlisted):
    result = run("shortlist", "export", "P-017", "--format", "csv", "--offline", "--output", str(tmp_path / "s.csv"))
    assert result.exit_code == 0 and result.stdout == ""
    raw = (tmp_path / "s.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark: spreadsheets read accents right
    with open(tmp_path / "s.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["nct_id"] for r in rows] == ["NCT01000001", "NCT01000003"]
    tricky = rows[1]
    assert tricky["title"] == TRICKY_TITLE
    assert tricky["note"] == '\'=HYPERLINK("http://x") & <b>"bold"</b>'  # not run as a formula
    assert tricky["nearest_site"].startswith("Clinique <Lac> & Co, Lausanne")
    assert rows[0]["verdict"] == "May qualify" and rows[0]["registry_url"].endswith("NCT01000001")
    assert all(set(r) == set(rows[0]) for r in rows)


def test_markdown_export_escapes_record_text(shortlisted):
    out = run("shortlist", "export", "P-017", "--format", "md", "--offline").stdout
    assert out.startswith("# Shortlist for P-017")
    assert "<script>" not in out and "<b>" not in out
    assert r"\<script\>alert(1)\</script\>" in out
    assert "## [NCT01000001](https://clinicaltrials.gov/study/NCT01000001): Walking after SCI" in out
    assert "Ask the study team:" in out and "not medical advice" in out


class WellFormed(HTMLParser):
    """Fails on a closing tag that doesn't match the open one, or on tags left open."""

    VOID = {"meta", "br", "hr", "img", "input", "link"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1] if self.stack else None}>"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def test_html_export_is_well_formed_escaped_and_self_contained(tmp_path, shortlisted):
    path = tmp_path / "s.html"
    assert run("shortlist", "export", "P-017", "--format", "html", "--offline", "-o", str(path)).exit_code == 0
    page_html = path.read_text(encoding="utf-8")
    assert page_html.startswith("<!DOCTYPE html>")
    parser = WellFormed()
    parser.feed(page_html)
    parser.close()
    assert parser.stack == []
    tags = [t for t, _ in parser.tags]
    assert "script" not in tags and "b" not in tags  # record and note text never became markup
    text = "".join(parser.text)
    assert TRICKY_TITLE in text and '<b>"bold"</b>' in text and "Clinique <Lac> & Co" in text
    # Nothing is loaded from elsewhere: no scripts, stylesheets, images, frames or fonts.
    assert not {"script", "link", "img", "iframe", "object", "embed"} & set(tags)
    assert "@import" not in page_html and "url(" not in page_html
    assert all("src" not in attrs for _, attrs in parser.tags)
    for heading in ("Criteria checked against the profile", "Nearest open sites and contacts",
                    "Registration and oversight", "Questions to ask the study team"):  # fmt: skip
        assert text.count(heading) == 2  # once per trial


CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="no headless browser (Debian: apt install chromium)")
def test_html_export_renders_in_a_real_browser(tmp_path, shortlisted):
    path = tmp_path / "s.html"
    assert run("shortlist", "export", "P-017", "--format", "html", "--offline", "-o", str(path)).exit_code == 0
    shot = tmp_path / "shot.png"
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'profile'}"]
    done = subprocess.run(
        [*common, "--window-size=1000,1600", f"--screenshot={shot}", path.as_uri()],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000  # a rendered page, not a blank one
    dom = subprocess.run([*common, "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert "Walking after SCI" in dom.stdout and "Shortlist for P-017" in dom.stdout
    assert "<script>alert(1)</script>" not in dom.stdout  # the browser saw text, not a script
