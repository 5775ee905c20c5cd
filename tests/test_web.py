"""The web app's pages, through Starlette's test client, over the same files the CLI uses."""

from __future__ import annotations

import csv
import io
import json
import re
import socket
import warnings
from pathlib import Path

import pytest
import uvicorn
from click.testing import CliRunner

with warnings.catch_warnings():
    # Starlette >= 1.x asks for "httpx2" in its test client but still works with httpx: not this project's concern.
    warnings.filterwarnings("ignore", message=".*httpx2")
    from starlette.testclient import TestClient

from records import TRICKY_TITLE, changed, nct_of, page, shortlist_trials, write_records
from trialfinder import config
from trialfinder.cli import cli
from trialfinder.web import create_app
from trialfinder.web.security import CSRF_COOKIE

PROFILE = {
    "conditions": "spinal cord injury",
    "age": "36",
    "sex": "male",
    "injury_date": "2019-06-15",
    "ais_grade": "B",
    "location": "47.4,8.5",
}


def run(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def records(tmp_path):
    items = shortlist_trials()
    run("import", str(write_records(tmp_path / "in", items)))
    return {nct_of(r): r for r in items}


@pytest.fixture
def app(records):
    return create_app(config.db_path(), None, offline=True)


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def post(client: TestClient, url: str, data: dict, *, from_page: str = "/patients", follow: bool = True):
    token = csrf_of(client.get(from_page).text)
    return client.post(url, data={**data, "csrf": token}, follow_redirects=follow)


@pytest.fixture
def patient(client):
    response = post(client, "/patients", {"name": "P-017", **PROFILE})
    assert response.status_code == 200, response.text
    return "P-017"


# -- Find trials --------------------------------------------------------------------------------


def test_find_shows_ranked_results_with_verdicts_sites_oversight_and_freshness(client):
    page = client.get("/")
    assert page.status_code == 200
    assert '<label for="f-conditions">' in page.text and 'href="#main"' in page.text
    assert '<option value="tetraplegia">' in page.text  # suggestions from the synonym list
    assert "Registry data" in page.text and "3 trials on this computer" in page.text

    results = client.get("/", params=PROFILE)
    assert results.status_code == 200
    text = results.text
    assert "Walking after SCI" in text and "May qualify" in text
    assert "Acute SCI drug" not in text  # clearly not eligible 7 years after injury: left out, as in `match`
    assert "Example Rehabilitation Centre, Zurich, Switzerland — " in text and " km" in text
    assert "Registration and oversight" in text and "https://clinicaltrials.gov/study/NCT01000001" in text
    assert "/trial/NCT01000001?conditions=spinal+cord+injury" in text
    assert "Offline:" in text
    assert "talk about any trial with the study team and with your own clinicians" in text.lower()
    everything = client.get("/", params={**PROFILE, "all": "1"}).text
    assert "Acute SCI drug" in everything and "Not eligible" in everything


def test_find_shows_each_error_next_to_its_field(client):
    page = client.get("/", params={"conditions": "", "age": "abc", "ais_grade": "F", "location": "Nowhereville"})
    assert page.status_code == 400
    text = page.text
    for field, words in (
        ("conditions", "give at least one condition"),
        ("age", "&#39;abc&#39; is not a number"),
        ("ais_grade", "is not an AIS grade"),
        ("location", "unknown place"),
    ):
        block = re.search(rf'<label for="f-{field}">.*?</div>', text, re.S)
        assert block, field
        assert f'id="{field}-error"' in block.group(0) and words in block.group(0), field
        assert 'aria-invalid="true"' in block.group(0)
    # Checks across fields go to the field they name, in the form's own words.
    both = client.get("/", params={"conditions": "stroke", "injury_date": "2020-01-01", "onset_date": "2020-02-01"})
    block = re.search(r'<label for="f-injury_date">.*?</div>', both.text, re.S).group(0)
    assert "give only one of Date of injury, Date of onset" in block


def test_record_text_is_escaped_everywhere(client, patient):
    results = client.get("/", params=PROFILE).text
    assert "<script>alert(1)</script>" not in results
    assert "Cells &amp; &#34;hope&#34; &lt;script&gt;alert(1)&lt;/script&gt; for SCI" in results
    trial = client.get("/trial/NCT01000003", params=PROFILE).text
    assert "<script>" not in trial and "Clinique &lt;Lac&gt; &amp; Co" in trial
    post(client, "/patient/shortlist", {"name": patient, "nct_id": "NCT01000003"})
    post(
        client, "/patient/note", {"name": patient, "nct_id": "NCT01000003", "note": "<b>call</b> & <script>x</script>"}
    )
    shortlist = client.get("/patient", params={"name": patient}).text
    assert "<script>" not in shortlist and "&lt;b&gt;call&lt;/b&gt; &amp; &lt;script&gt;" in shortlist


def test_pages_have_strict_security_headers(client):
    headers = client.get("/").headers
    assert "script-src" not in headers["content-security-policy"]  # default-src 'none': no scripts at all
    assert "default-src 'none'" in headers["content-security-policy"]
    assert headers["referrer-policy"] == "same-origin" and headers["x-frame-options"] == "DENY"
    assert client.get("/static/app.css").headers["content-type"].startswith("text/css")


# -- the trial page -------------------------------------------------------------------------------


def test_trial_page_has_summary_checklist_sites_contacts_questions(client):
    page = client.get("/trial/nct1000001", params=PROFILE)
    assert page.status_code == 200
    text = page.text
    assert "Walking after SCI" in text and "A study of a walking programme." in text
    assert "Checked against your profile" in text and "time since onset" in text
    assert "At least 12 months post-injury" in text  # the registry's own words behind a check
    assert "Example Rehabilitation Centre" in text and re.search(r"— \d+ km", text)
    assert "study@example.org" in text
    assert "Questions to ask the study team" in text and "Registration and oversight" in text
    assert "@media print" in client.get("/static/app.css").text
    plain = client.get("/trial/NCT01000001").text  # no profile: no checklist, still the rest
    assert "Checked against your profile" not in plain and "Questions to ask the study team" in plain


def test_unknown_trial_offline_says_so(client):
    page = client.get("/trial/NCT09999999")
    assert page.status_code == 400 and "NCT09999999 is not in the cache" in page.text


# -- Coordinator view ----------------------------------------------------------------------------


def test_shortlist_changes_via_post_are_the_clis_data(client, patient, tmp_path):
    added = post(client, "/patient/shortlist", {"name": patient, "nct_id": "NCT01000001", "note": "from clinic"})
    assert added.status_code == 200 and "Added to P-017&#39;s shortlist as candidates: NCT01000001" in added.text
    post(client, "/patient/status", {"name": patient, "nct_id": "NCT01000001", "status": "contacted"})
    post(client, "/patient/note", {"name": patient, "nct_id": "NCT01000001", "note": "left a message"})

    shown = run("shortlist", "show", "P-017", "--offline").stdout
    assert "NCT01000001" in shown and "contacted (since" in shown and "left a message" in shown
    history = run("shortlist", "history", "P-017", "--json").stdout
    kinds = [e["kind"] for e in json.loads(history)]
    assert kinds == ["added", "status", "note"]

    # A step the pipeline does not allow is refused next to that trial's form, and nothing changes.
    refused = post(client, "/patient/status", {"name": patient, "nct_id": "NCT01000001", "status": "declined"})
    assert refused.status_code == 200
    assert 'id="st-error-NCT01000001"' in refused.text and "declined needs a reason" in refused.text
    assert json.loads(run("shortlist", "history", "P-017", "--json").stdout)[-1]["kind"] == "note"

    removed = post(client, "/patient/remove-trial", {"name": patient, "nct_id": "NCT01000001"})
    assert "Removed NCT01000001" in removed.text
    assert "Nothing shortlisted yet" in run("shortlist", "show", "P-017", "--offline").stdout


def test_patient_added_in_the_cli_shows_in_the_web_and_back(client, tmp_path):
    run("patient", "add", "P-018", "--condition", "stroke", "--birth-date", "1961-04-02")
    assert "P-018" in client.get("/patients").text
    bad = post(client, "/patients", {"name": "P-018", "conditions": "stroke"})
    assert bad.status_code == 400 and "already a patient" in bad.text
    missing = post(client, "/patients", {"name": "", "conditions": "stroke", "sex": "x"})
    assert missing.status_code == 400 and 'id="name-error"' in missing.text and 'id="sex-error"' in missing.text


def test_patient_profile_update_validates_and_is_what_the_cli_reads(client, patient):
    page = client.get("/patient", params={"name": patient}).text
    assert 'value="spinal cord injury"' in page and '<option value="B" selected>' in page  # the stored fields
    bad = post(client, "/patient/update", {"name": patient, "conditions": "stroke", "gmfcs_level": "9"})
    assert bad.status_code == 400 and 'id="gmfcs_level-error"' in bad.text and "is not a GMFCS level" in bad.text
    done = post(client, "/patient/update", {"name": patient, "conditions": "stroke", "birth_date": "1961-04-02"})
    assert done.status_code == 200 and "Updated patient P-017" in done.text
    stored = json.loads(run("patient", "show", "P-017", "--json").stdout)["profile"]
    assert stored == {"conditions": ["stroke"], "birth_date": "1961-04-02"}


def test_changed_since_shortlisted_is_marked(client, patient, records, tmp_path):
    post(client, "/patient/shortlist", {"name": patient, "nct_id": "NCT01000001"})
    newer = changed(records["NCT01000001"], status="ACTIVE_NOT_RECRUITING", last_update="2026-11-20")
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(newer))
    run("import", str(path))
    page = client.get("/patient", params={"name": patient}).text
    assert "Changed since shortlisted on" in page
    assert "status: Recruiting → Active, not recruiting (2026-11-20)" in page


def test_export_csv_and_html_use_the_cli_renderers(client, patient):
    post(client, "/patient/shortlist", {"name": patient, "nct_id": "NCT01000001 NCT01000003"})
    exported = client.get("/patient/export", params={"name": patient, "format": "csv"})
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert 'filename="shortlist-P-017.csv"' in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r["nct_id"] for r in rows] == ["NCT01000001", "NCT01000003"]
    assert rows[1]["title"] == TRICKY_TITLE and rows[0]["pipeline_status"] == "candidate"
    cli_csv = CliRunner().invoke(cli, ["shortlist", "export", "P-017", "--format", "csv", "--offline"]).stdout
    assert exported.content.decode("utf-8").replace("\r\n", "\n") == cli_csv.replace("\r\n", "\n")

    html = client.get("/patient/export", params={"name": patient, "format": "html"})
    assert html.status_code == 200 and "<script>alert" not in html.text
    assert "Shortlist for P-017" in html.text and "style-src 'unsafe-inline'" in html.headers["content-security-policy"]


# -- CSRF and the access token -------------------------------------------------------------------


def test_posts_without_a_valid_csrf_token_are_refused(client, patient):
    client.get("/patients")
    assert client.post("/patient/shortlist", data={"name": patient, "nct_id": "NCT01000001"}).status_code == 403
    wrong = client.post("/patient/shortlist", data={"name": patient, "nct_id": "NCT01000001", "csrf": "0" * 64})
    assert wrong.status_code == 403
    # A token from the page, but the cookie it belongs to is gone (another browser, another site).
    token = csrf_of(client.get("/patients").text)
    client.cookies.delete(CSRF_COOKIE)
    assert client.post("/patient/shortlist", data={"name": patient, "nct_id": "x", "csrf": token}).status_code == 403
    # From another origin, even with the right pair.
    token = csrf_of(client.get("/patients").text)
    foreign = client.post(
        "/patient/shortlist",
        data={"name": patient, "nct_id": "NCT01000001", "csrf": token},
        headers={"origin": "http://evil.example"},
    )
    assert foreign.status_code == 403
    assert "Nothing shortlisted yet" in run("shortlist", "show", "P-017", "--offline").stdout


def test_a_token_from_another_process_is_refused(records, patient):
    with TestClient(create_app(config.db_path(), None, offline=True)) as other:
        token = csrf_of(other.get("/patients").text)
        cookie = other.cookies.get(CSRF_COOKIE)
    with TestClient(create_app(config.db_path(), None, offline=True)) as this:
        this.cookies.set(CSRF_COOKIE, cookie)
        response = this.post("/patient/shortlist", data={"name": "P-017", "nct_id": "NCT01000001", "csrf": token})
        assert response.status_code == 403


def test_exposed_app_needs_its_token(records):
    app = create_app(config.db_path(), None, "s3cret-token", offline=True, allowed_hosts=["*"])
    with TestClient(app, base_url="http://192.168.1.20:8765") as c:
        assert c.get("/").status_code == 401
        assert c.get("/patients", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/patients", headers={"authorization": "Bearer s3cret-token"}).status_code == 200
        first = c.get("/patients?token=s3cret-token", follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == "/patients"  # the token leaves the address
        assert c.get("/patients").status_code == 200  # from the cookie now


def test_loopback_app_answers_only_loopback_host_names(records):
    with TestClient(create_app(config.db_path(), None, offline=True), base_url="http://attacker.example") as c:
        assert c.get("/").status_code == 400
    with TestClient(create_app(config.db_path(), None, offline=True), base_url="http://127.0.0.1:8765") as c:
        assert c.get("/").status_code == 200


# -- watches ----------------------------------------------------------------------------------------


def test_watches_add_list_remove_and_last_digest(client, patient, tmp_path):
    added = post(
        client, "/watches", {"name": "P-017-weekly", "patient": patient, "every": "weekly"}, from_page="/watches"
    )
    assert added.status_code == 200 and "Watch P-017-weekly" in added.text and "No digest sent yet" in added.text
    listed = run("watch", "list", "--json").stdout
    assert json.loads(listed)[0]["name"] == "P-017-weekly"

    out = tmp_path / "digests"
    result = CliRunner().invoke(cli, ["digest", "--watch", "P-017-weekly", "--offline", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = client.get("/watch", params={"name": "P-017-weekly"}).text
    assert "The last digest" in page and "New trials that may fit" in page and "Walking after SCI" in page

    both = post(client, "/watches", {"name": "x", "patient": patient, **PROFILE}, from_page="/watches")
    assert both.status_code == 400 and "choose a patient or fill in a profile, not both" in both.text
    own = post(client, "/watches", {"name": "sci-near", "every": "daily", **PROFILE}, from_page="/watches")
    assert own.status_code == 200 and "Watch sci-near" in own.text

    post(client, "/watches/remove", {"name": "P-017-weekly"}, from_page="/watches")
    names = [w["name"] for w in json.loads(run("watch", "list", "--json").stdout)]
    assert names == ["sci-near"]


def test_serve_refuses_a_busy_port_in_one_line(records):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        result = CliRunner().invoke(cli, ["serve", "--port", str(busy.getsockname()[1]), "--no-open"])
    assert result.exit_code == 1 and "Error: can't listen on 127.0.0.1:" in result.stderr


def test_serve_on_loopback_needs_no_token_but_exposed_warns_and_needs_one(records, monkeypatch):
    served = []
    monkeypatch.setattr(uvicorn.Server, "run", lambda server, sockets=None: served.append((server.config.app, sockets)))
    local = CliRunner().invoke(cli, ["serve", "--port", "0", "--no-open", "--offline"])
    assert local.exit_code == 0, local.output
    assert re.search(r"running at http://127\.0\.0\.1:\d+/\n", local.stdout) and "Warning" not in local.stderr
    with TestClient(served[-1][0]) as c:
        assert c.get("/").status_code == 200

    exposed = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0", "--no-open", "--offline"])
    assert exposed.exit_code == 0, exposed.output
    assert "Warning: listening on 0.0.0.0" in exposed.stderr and "reachable from other computers" in exposed.stderr
    token = re.search(r"Access token: (\S+)", exposed.stdout).group(1)
    assert f"?token={token}" in exposed.stdout and len(token) >= 24
    with TestClient(served[-1][0], base_url="http://192.168.1.20:8765") as c:
        assert c.get("/").status_code == 401
        assert c.get("/", headers={"authorization": f"Bearer {token}"}).status_code == 200

    chosen = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0", "--port", "0", "--no-open", "--token", "mine-123"])
    assert "Access token: mine-123" in chosen.stdout


def test_cli_and_web_use_the_same_user_data_file(records):
    app = create_app(config.db_path(), None, offline=True)
    web = app.app.state.web
    assert web.user_path == config.user_db_path(None, config.db_path())
    assert Path(web.cache_path) == config.db_path()


def test_find_everything_online_does_not_limit_the_registry_search_by_distance(tmp_path, httpx_mock):
    """Like `match --all`: every candidate whatever its distance, so no search area goes to the registry."""
    api = "https://ctgov.test/api/v2"
    httpx_mock.add_response(url=f"{api}/version", json={"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"})
    httpx_mock.add_response(url=re.compile(r"https://ctgov\.test/api/v2/studies\?.*"), json=page(shortlist_trials()))
    app = create_app(tmp_path / "online.db", tmp_path / "user.db", api_url=api)
    with TestClient(app) as c:
        response = c.get("/", params={**PROFILE, "max_distance_km": "200", "all": "1"})
    assert response.status_code == 200
    (request,) = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/studies")]
    assert "filter.geo" not in dict(request.url.params)
    assert "spinal cord injury" in dict(request.url.params)["query.cond"]
