"""End to end in headless Chromium: the real `trialfinder serve`, driven like a person would.

Skipped cleanly when Playwright for Python or a Chromium binary is missing
(`.ci/run` installs Debian's chromium so CI runs them).
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from records import site, study
from trialfinder.cli import cli

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")


@pytest.fixture
def server(tmp_path):
    """`trialfinder serve --port 0` on a small cache, in its own process; yields its address."""
    folder = tmp_path / "in"
    folder.mkdir()
    records = [
        study(
            "NCT01000001", title="Walking after SCI", criteria="Inclusion Criteria:\n\n* At least 12 months post-injury"
        ),
        study(
            "NCT01000003",
            title='Cells & "hope" <script>alert(1)</script> for SCI',
            locations=[site("Clinique <Lac> & Co", city="Lausanne", lat=46.52, lon=6.63)],
        ),
    ]
    for r in records:
        (folder / f"{r['protocolSection']['identificationModule']['nctId']}.json").write_text(json.dumps(r))
    assert CliRunner().invoke(cli, ["import", str(folder)]).exit_code == 0
    added = CliRunner().invoke(cli, ["patient", "add", "P-017", "--condition", "spinal cord injury", "--age", "36"])
    assert added.exit_code == 0, added.output
    command = [sys.executable, "-m", "trialfinder.cli", "serve", "--port", "0", "--no-open", "--offline"]
    log = tmp_path / "serve.log"
    with (
        log.open("w") as stderr,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True) as process,
    ):
        try:
            line = process.stdout.readline()
            assert "running at http://127.0.0.1:" in line, line + log.read_text()
            yield line.split("running at ", 1)[1].strip()
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture
def page():
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(accept_downloads=True)
        yield context.new_page()
        context.close()
        browser.close()


def test_find_add_to_shortlist_and_export(server, page, tmp_path):
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(server)
    assert page.title() == "Find trials · trialfinder"

    # The form is reachable by its labels; a bad value is shown next to its field.
    page.get_by_label("Conditions").fill("spinal cord injury")
    page.get_by_label("Age (years)").fill("abc")
    page.get_by_role("button", name="Find trials").click()
    assert "is not a number" in page.locator("#age-error").inner_text()

    page.get_by_label("Age (years)").fill("36")
    page.get_by_label("Sex").select_option("male")
    page.get_by_label("Date of injury").fill("2019-06-15")
    page.get_by_label("Where you live").fill("Zurich")
    page.get_by_role("button", name="Find trials").click()
    results = page.locator("ol.trials > li")
    assert results.count() == 2
    first = results.first
    assert "Walking after SCI" in first.inner_text() and "May qualify" in first.inner_text()
    assert " km" in first.inner_text()
    assert page.locator("text=<script>alert(1)</script> for SCI").count() == 1  # shown as text, never run

    # Add the first trial to P-017's shortlist from the results.
    first.get_by_role("button", name="Add to shortlist").click()
    assert "Added to P-017's shortlist as candidates: NCT01000001" in page.locator(".flash").inner_text()

    # The trial page, then the coordinator's view of the shortlist.
    page.locator("ol.trials > li").first.get_by_role("link", name="Details, checklist and questions").click()
    assert "Checked against your profile" in page.content() and "Questions to ask the study team" in page.content()
    page.get_by_role("link", name="Patients and shortlists").click()
    page.get_by_role("link", name="P-017").click()
    assert "Shortlist for P-017" in page.locator("h1").inner_text()
    page.get_by_label("Move to").select_option("contacted")
    page.get_by_role("button", name="Change status").click()
    assert "NCT01000001 is now contacted." in page.locator(".flash").inner_text()

    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [(r["nct_id"], r["pipeline_status"]) for r in rows] == [("NCT01000001", "contacted")]
    # Nothing was blocked by the content security policy (the 400 of the bad form is the only error logged).
    assert [e for e in errors if "status of 400" not in e] == []


def test_keyboard_reaches_the_skip_link_first(server, page):
    page.goto(server)
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.textContent")
    assert focused == "Skip to the main content"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"


def test_data_stays_in_the_same_files_as_the_cli(server, page, tmp_path):
    page.goto(server + "patients")
    page.get_by_label("Name (an alias or record number)").fill("P-020")
    page.get_by_label("Conditions").fill("stroke")
    page.get_by_label("Date of birth").fill("1961-04-02")
    page.get_by_role("button", name="Add patient").click()
    assert "Added patient P-020" in page.locator(".flash").inner_text()
    listed = CliRunner().invoke(cli, ["patient", "list", "--json"])
    assert [p["name"] for p in json.loads(listed.stdout)] == ["P-017", "P-020"]
    assert Path(os.environ["TRIALFINDER_DB"]).with_name("trialfinder-userdata.db").exists()
