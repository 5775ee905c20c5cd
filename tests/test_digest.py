"""Watches and digests: a real SMTP server on loopback, registry changes between runs, failures, the lock."""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from click.testing import CliRunner

from records import changed, page, site, study, write_records
from trialfinder.cli import cli
from trialfinder.digest import run_lock
from trialfinder.errors import InputError, UserDataError
from trialfinder.mailer import smtp_settings

API = "https://ctgov.test/api/v2"
LIST = re.compile(r"https://ctgov\.test/api/v2/studies\?.*")
VERSION = {"apiVersion": "2.0.5", "dataTimestamp": "2026-11-21T09:00:03"}
PAY = "Participants pay a fee of $15,000 for the stem cell treatment."


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, input=input)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (optionally slowly)."""

    def __init__(self, delay: float = 0.0):
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            time.sleep(self.delay)  # hold the client, as a slow server would
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on loopback, and the settings pointing trialfinder at it."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("TRIALFINDER_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TRIALFINDER_SMTP_PORT", str(port))
    monkeypatch.setenv("TRIALFINDER_SMTP_SECURITY", "none")
    monkeypatch.setenv("TRIALFINDER_SMTP_FROM", "trialfinder@example.org")
    yield inbox
    controller.stop()


A = study("NCT01000001", title="Walking <after> SCI & more", criteria="Inclusion Criteria:\n\n* 12 months post-injury")
B = study("NCT01000002", title="Cycling after SCI", status="NOT_YET_RECRUITING")
FLAGGED = study(
    "NCT01000003",
    title="Stem cells for SCI",
    summary=PAY,
    interventions=[{"type": "BIOLOGICAL", "name": "Autologous stem cells"}],
    sponsor=("Regen Clinic LLC", "INDUSTRY"),
)


@pytest.fixture
def imported(tmp_path):
    write_records(tmp_path / "in", [A, B, FLAGGED])
    assert run("import", str(tmp_path / "in")).exit_code == 0


@pytest.fixture
def profile_file(tmp_path):
    path = tmp_path / "me.toml"
    path.write_text(
        'conditions = ["spinal cord injury"]\nbirth_date = 1990-03-01\nsex = "male"\ninjury_date = 2019-06-15\n'
        "location = { lat = 47.4, lon = 8.5 }\nmax_distance_km = 100\n"
    )
    return path


def pending(tmp_path) -> list[tuple[str, str | None]]:
    db = sqlite3.connect(tmp_path / "cache" / "trialfinder-userdata.db")
    rows = db.execute("SELECT key, sent_at FROM digest_items ORDER BY id").fetchall()
    db.close()
    return rows


# -- watches --------------------------------------------------------------------------------


def test_watch_add_list_show_remove(tmp_path, imported, profile_file):
    assert run("patient", "add", "P-017", "--profile", str(profile_file)).exit_code == 0
    added = run("watch", "add", "p17", "--patient", "P-017", "--email", "coord@example.org", "--every", "daily")
    assert added.exit_code == 0, added.output
    assert run("watch", "add", "mine", "--profile", str(profile_file)).exit_code == 0
    listed = json.loads(run("watch", "list", "--json").stdout)
    assert [(w["name"], w["follows"], w["every"], w["email"]) for w in listed] == [
        ("mine", "profile: spinal cord injury", "weekly", None),
        ("p17", "patient P-017", "daily", "coord@example.org"),
    ]
    assert "Waiting to be sent: 0" in run("watch", "show", "p17").stdout
    assert run("watch", "remove", "p17", "--yes").exit_code == 0
    assert [w["name"] for w in json.loads(run("watch", "list", "--json").stdout)] == ["mine"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("watch", "add", "w", "--condition", "stroke", "--email", "not-an-address"), "is not an email address"),
        (("watch", "add", "w", "--patient", "P-99"), "no patient 'P-99'"),
        (("watch", "add", "mine", "--condition", "stroke"), "already a watch 'mine'"),
        (("watch", "add", "w", "--patient", "P-017", "--ais-grade", "A"), "follows the patient's stored profile"),
        (("watch", "show", "nope"), "no watch 'nope'; known watches: mine"),
        (("digest", "--watch", "nope"), "no watch 'nope'"),
        (("digest", "--as-of", "yesterday"), "--as-of 'yesterday' is not a date"),
    ],
)
def test_watch_errors_are_one_line(imported, profile_file, args, message):
    assert run("patient", "add", "P-017", "--profile", str(profile_file)).exit_code == 0
    assert run("watch", "add", "mine", "--condition", "stroke").exit_code == 0
    result = run(*args)
    assert result.exit_code == 1, result.output
    assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr


# -- email -------------------------------------------------------------------------------------


def test_digest_emails_both_parts_with_every_item(tmp_path, smtp, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org").exit_code == 0
    result = run("digest", "--offline", "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""  # quiet by default
    (message,) = smtp.messages
    assert smtp.envelopes[0].rcpt_tos == ["me@example.org"]
    assert message["To"] == "me@example.org" and message["From"] == "trialfinder@example.org"
    assert message["Subject"] == "trialfinder: 3 updates for mine (2026-11-22)"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    html = message.get_body(("html",)).get_content().replace("\r\n", "\n")
    for part in (text, html):
        assert "New trials that may fit" in part
        for nct_id in ("NCT01000001", "NCT01000002", "NCT01000003"):  # all open, near, may fit: all new
            assert nct_id in part and f"https://clinicaltrials.gov/study/{nct_id}" in part
        assert "not medical advice" in part
    assert "Walking <after> SCI & more" in text
    assert "Walking &lt;after&gt; SCI &amp; more" in html and "<after>" not in html
    assert "Warning sign:" in text and "pay" in text.lower()  # the pay-to-participate trial is flagged
    assert pending(tmp_path) and all(sent for _, sent in pending(tmp_path))

    again = run("digest", "--offline", "--as-of", "2026-11-22", "--watch", "mine")
    assert again.exit_code == 3 and len(smtp.messages) == 1  # nothing new: nothing sent


def test_starttls_and_login_and_the_password_is_never_stored(tmp_path, monkeypatch, imported, profile_file):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret-pass")

    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox, hostname="127.0.0.1", port=port, server_hostname="localhost", tls_context=server_context,
        require_starttls=True, authenticator=authenticator, auth_require_tls=True,
    )  # fmt: skip
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
        for key, value in {"HOST": "localhost", "PORT": str(port), "SECURITY": "starttls", "USER": "tf",
                           "PASSWORD": "s3cret-pass"}.items():  # fmt: skip
            monkeypatch.setenv(f"TRIALFINDER_SMTP_{key}", value)
        assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org").exit_code == 0
        result = run("digest", "--offline")
        assert result.exit_code == 0, result.output
        assert len(inbox.messages) == 1 and logins == [(b"tf", b"s3cret-pass")]
    finally:
        controller.stop()
    for path in (tmp_path / "cache").iterdir():
        assert b"s3cret-pass" not in path.read_bytes()


def test_smtp_settings_come_from_file_and_environment_but_never_the_password_from_a_file(tmp_path, monkeypatch):
    config = tmp_path / "config.toml"
    monkeypatch.setenv("TRIALFINDER_CONFIG", str(config))
    assert smtp_settings() is None  # no file, no host: email is simply not configured
    config.write_text('[smtp]\nhost = "mail.example.org"\nuser = "tf"\nfrom = "Digests <d@example.org>"\n')
    monkeypatch.setenv("TRIALFINDER_SMTP_PASSWORD", "x")
    settings = smtp_settings()
    assert (settings.host, settings.port, settings.security, settings.sender) == (
        "mail.example.org", 587, "starttls", "Digests <d@example.org>",
    )  # fmt: skip
    monkeypatch.setenv("TRIALFINDER_SMTP_PORT", "2525")
    assert smtp_settings().port == 2525  # the environment wins
    monkeypatch.delenv("TRIALFINDER_SMTP_PASSWORD")
    with pytest.raises(InputError, match="TRIALFINDER_SMTP_PASSWORD is not"):
        smtp_settings()
    config.write_text('[smtp]\nhost = "h"\npassword = "oops"\n')
    with pytest.raises(InputError, match="don't keep the SMTP password in a file"):
        smtp_settings()
    config.write_text('[smtp]\nhost = "h"\nsecurity = "tls13"\n')
    with pytest.raises(InputError, match="security must be one of"):
        smtp_settings()


# -- the registry changing between runs ------------------------------------------------------------


def test_each_digest_reports_exactly_what_changed_since_the_last(tmp_path, httpx_mock, smtp, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--every", "daily",
               "--email", "me@example.org").exit_code == 0  # fmt: skip
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)

    # Day 1: A recruiting, B not yet recruiting (open, so both are new).
    httpx_mock.add_response(url=LIST, json=page([A, B]))
    assert run("digest", "--as-of", "2026-11-20").exit_code == 0
    first = smtp.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "NCT01000001" in first and "NCT01000002" in first

    # Day 2: upstream B opens (new status, new date), A's criteria change so it no longer fits,
    # A gets a new site nearby, and a new trial C appears.
    b2 = changed(B, status="RECRUITING", last_update="2026-11-21")
    a2 = changed(
        A, last_update="2026-11-21", criteria="Inclusion Criteria:\n\n* Within 30 days of injury",
        locations=[site(), site("New Clinic", city="Winterthur", lat=47.5, lon=8.72)],
    )  # fmt: skip
    c = study("NCT01000009", title="Arm training after SCI", last_update="2026-11-21")
    httpx_mock.add_response(url=LIST, json=page([b2, a2, c]))
    assert run("digest", "--as-of", "2026-11-21").exit_code == 0
    second = smtp.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
    news = dict(re.findall(r"^\* (NCT\d+) .*\n  (.*)$", second, re.M))
    assert set(news) == {"NCT01000001", "NCT01000002", "NCT01000009"}
    assert news["NCT01000002"] == "Opened: Not yet recruiting → Recruiting."
    assert news["NCT01000001"].startswith("The eligibility criteria changed; verdict was unclear, now not eligible")
    assert "At most 4 weeks since the injury" in news["NCT01000001"]  # the criterion that decided it
    assert news["NCT01000009"].startswith("New trial that may fit (may qualify)")
    assert "New open site" not in second  # A no longer fits, so its new site is not news
    # Only records updated since the last run (with a day of overlap) were asked for.
    asked = [r for r in httpx_mock.get_requests() if r.url.path.endswith("/studies")]
    assert "LastUpdatePostDate" in asked[-1].url.params.get("filter.advanced", "")

    # Day 3: nothing changed upstream: nothing is sent.
    httpx_mock.add_response(url=LIST, json=page([]))
    result = run("digest", "--as-of", "2026-11-22")
    assert result.exit_code == 3 and len(smtp.messages) == 2


def test_new_nearby_site_and_a_shortlisted_trial_closing_are_news(tmp_path, httpx_mock, smtp, profile_file):
    far = site("Far", city="Lisbon", country="Portugal", lat=38.7, lon=-9.1)
    a = changed(A, locations=[far])  # out of reach (100 km), but on the patient's shortlist
    assert run("patient", "add", "P-017", "--profile", str(profile_file)).exit_code == 0
    write_records(tmp_path / "in", [a, B])
    assert run("import", str(tmp_path / "in")).exit_code == 0
    assert run("shortlist", "add", "P-017", "NCT01000001", "--offline").exit_code == 0
    assert (
        run("watch", "add", "p17", "--patient", "P-017", "--email", "c@example.org", "--every", "daily").exit_code == 0
    )
    httpx_mock.add_response(url=f"{API}/version", json=VERSION, is_reusable=True)

    def reasons() -> dict[str, list[str]]:
        body = smtp.messages[-1].get_body(("plain",)).get_content().replace("\r\n", "\n")
        found: dict[str, list[str]] = {}
        for nct_id, reason in re.findall(r"^\* (NCT\d+) .*\n  (.*)$", body, re.M):
            found.setdefault(nct_id, []).append(reason)
        return found

    httpx_mock.add_response(url=LIST, json=page([a, B]))
    assert run("digest", "--as-of", "2026-11-20").exit_code == 0
    assert set(reasons()) == {"NCT01000002"}  # B is near and open; A is out of reach

    b2 = changed(B, last_update="2026-11-21", locations=[site(), site("Second Site", city="Baden", lat=47.47, lon=8.3)])
    httpx_mock.add_response(url=LIST, json=page([b2]))
    assert run("digest", "--as-of", "2026-11-21").exit_code == 0
    assert reasons() == {"NCT01000002": ["New open site within your distance: Second Site, Baden, Switzerland."]}

    a3 = changed(a, status="COMPLETED", last_update="2026-11-22")
    httpx_mock.add_response(url=LIST, json=page([a3]))
    assert run("digest", "--as-of", "2026-11-22").exit_code == 0
    assert reasons() == {"NCT01000001": ["Completed: Recruiting → Completed."]}  # shortlisted, so it is news


def test_a_failed_delivery_is_retried_next_run_with_the_same_items_once(tmp_path, monkeypatch, imported, profile_file):
    port = free_port()  # nothing listens here yet: the mail server is down
    for key, value in {"HOST": "127.0.0.1", "PORT": str(port), "SECURITY": "none"}.items():
        monkeypatch.setenv(f"TRIALFINDER_SMTP_{key}", value)
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org",
               "--every", "daily").exit_code == 0  # fmt: skip

    failed = run("digest", "--offline", "--as-of", "2026-11-22")
    assert failed.exit_code == 1
    assert (
        "digest for 'mine' failed: delivery failed, will retry next run: can't reach the mail server" in failed.stderr
    )
    queued = pending(tmp_path)
    assert queued and all(sent is None for _, sent in queued)  # nothing marked sent
    assert "FAILED" in run("watch", "show", "mine").stdout

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        retried = run("digest", "--offline", "--as-of", "2026-11-22")  # same day: due because items wait
        assert retried.exit_code == 0, retried.output
        assert len(inbox.messages) == 1
        body = inbox.messages[0].get_body(("plain",)).get_content().replace("\r\n", "\n")
        assert [k for k, _ in queued] == [k for k, _ in pending(tmp_path)]
        for key, _ in queued:
            assert key.split(":")[1] in body
        assert run("digest", "--offline", "--as-of", "2026-11-22").exit_code == 3
        assert run("digest", "--offline", "--as-of", "2026-11-23").exit_code == 3
        assert len(inbox.messages) == 1  # sent once
    finally:
        controller.stop()


def test_out_dir_writes_markdown_and_html(tmp_path, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file)).exit_code == 0
    result = run("digest", "--offline", "--out", str(tmp_path / "digests"), "--as-of", "2026-11-22")
    assert result.exit_code == 0, result.output
    md = (tmp_path / "digests" / "mine-2026-11-22.md").read_text()
    html = (tmp_path / "digests" / "mine-2026-11-22.html").read_text()
    assert r"Walking \<after\> SCI \& more" in md
    assert "Walking &lt;after&gt; SCI &amp; more" in html


def test_dry_run_shows_and_records_nothing(tmp_path, smtp, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org").exit_code == 0
    result = run("digest", "--offline", "--dry-run")
    assert result.exit_code == 0
    assert "--- would send to me@example.org ---" in result.stdout and "NCT01000001" in result.stdout
    assert smtp.messages == [] and pending(tmp_path) == []
    assert run("digest", "--offline").exit_code == 0 and len(smtp.messages) == 1  # the real run still sends


def test_without_email_or_out_the_digest_goes_to_stdout(imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file)).exit_code == 0
    result = run("digest", "--offline")
    assert result.exit_code == 0 and "trialfinder: 3 updates for mine" in result.stdout
    assert run("digest", "--offline", "--watch", "mine").exit_code == 3


def test_an_email_watch_without_a_mail_server_fails_and_keeps_its_items(tmp_path, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org").exit_code == 0
    result = run("digest", "--offline")
    assert result.exit_code == 1 and "no mail server is configured" in result.stderr
    assert pending(tmp_path) and all(sent is None for _, sent in pending(tmp_path))


def test_weekly_nothing_new_notice_when_asked(tmp_path, smtp, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org",
               "--notify-empty").exit_code == 0  # fmt: skip
    assert run("digest", "--offline", "--as-of", "2026-11-01").exit_code == 0
    assert run("digest", "--offline", "--as-of", "2026-11-05").exit_code == 3  # not due yet: nothing at all
    assert len(smtp.messages) == 1
    run("digest", "--offline", "--as-of", "2026-11-08")
    assert smtp.messages[-1]["Subject"] == "trialfinder: nothing new for mine (2026-11-08)"


# -- the lock ------------------------------------------------------------------------------------------


def test_two_overlapping_runs_send_once(tmp_path, monkeypatch, imported, profile_file):
    inbox = Inbox(delay=1.5)  # the first run holds the lock while the server is slow to accept
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert run("watch", "add", "mine", "--profile", str(profile_file), "--email", "me@example.org").exit_code == 0
        env = {**os.environ, "TRIALFINDER_SMTP_HOST": "127.0.0.1", "TRIALFINDER_SMTP_PORT": str(port),
               "TRIALFINDER_SMTP_SECURITY": "none"}  # fmt: skip
        command = [sys.executable, "-m", "trialfinder.cli", "digest", "--offline", "--as-of", "2026-11-22"]
        runs = [subprocess.Popen(command, env=env, cwd=tmp_path, stderr=subprocess.PIPE) for _ in range(2)]
        errors = [p.communicate(timeout=60)[1].decode() for p in runs]
        codes = sorted(p.returncode for p in runs)
    finally:
        controller.stop()
    assert len(inbox.messages) == 1
    assert codes == [0, 3], errors  # one sent; the other waited, then found nothing left to send


def test_the_lock_makes_a_second_run_wait(tmp_path):
    lock = tmp_path / "x.lock"
    order = []

    def second():
        with run_lock(lock, wait_s=10, poll_s=0.01):
            order.append("second")

    with run_lock(lock):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(timeout=10)
    assert order == ["first done", "second"]
    with run_lock(lock), pytest.raises(UserDataError, match="another digest run has held"):
        with run_lock(lock, wait_s=0.1, poll_s=0.01):
            pass


def test_clearing_the_cache_neither_loses_a_watch_nor_repeats_its_news(tmp_path, imported, profile_file):
    assert run("watch", "add", "mine", "--profile", str(profile_file), "--every", "daily").exit_code == 0
    assert run("digest", "--offline", "--as-of", "2026-11-20").exit_code == 0
    assert run("cache", "clear", "--yes").exit_code == 0
    assert run("digest", "--offline", "--as-of", "2026-11-21").exit_code == 3  # an empty cache is not news
    assert run("import", str(tmp_path / "in")).exit_code == 0  # the same records again
    assert run("digest", "--offline", "--as-of", "2026-11-22").exit_code == 3  # seen before: not news again
    assert [w["name"] for w in json.loads(run("watch", "list", "--json").stdout)] == ["mine"]


def test_later_runs_compare_only_what_changed_unless_the_profile_changed(tmp_path, imported, profile_file):
    from trialfinder.cache import Cache
    from trialfinder.digest import look
    from trialfinder.profiles import load_profile

    profile = load_profile(profile_file)
    with Cache(tmp_path / "cache" / "trialfinder.db") as cache:
        cache.db.execute("UPDATE studies SET changed_at = '2026-01-01T00:00:00Z'")
        cache.db.execute("UPDATE studies SET changed_at = '2026-03-01T00:00:00Z' WHERE nct_id = 'NCT01000002'")
        cache.db.conn.commit()
        everything, _ = look(cache, profile, set())
        recent, _ = look(cache, profile, set(), since="2026-02-01T00:00:00Z")
        with_shortlist, _ = look(cache, profile, {"NCT01000001"}, since="2026-02-01T00:00:00Z")
    assert set(everything) == {"NCT01000001", "NCT01000002", "NCT01000003"}
    assert set(recent) == {"NCT01000002"}
    assert set(with_shortlist) == {"NCT01000001", "NCT01000002"}  # shortlisted trials are always looked at

    # A changed profile means a full comparison: a patient who moves to Lisbon now has a trial in reach
    # whose record has not changed at all.
    lisbon = study("NCT01000004", title="Lisbon SCI trial", locations=[site("Lisbon Centre", city="Lisbon",
                   country="Portugal", lat=38.7, lon=-9.1)])  # fmt: skip
    write_records(tmp_path / "more", [lisbon])
    assert run("import", str(tmp_path / "more")).exit_code == 0
    assert run("patient", "add", "P-017", "--profile", str(profile_file)).exit_code == 0
    assert run("watch", "add", "p17", "--patient", "P-017", "--every", "daily").exit_code == 0
    first = run("digest", "--offline", "--as-of", "2026-11-20")
    assert first.exit_code == 0 and "NCT01000004" not in first.stdout  # 1,800 km away
    with Cache(tmp_path / "cache" / "trialfinder.db") as cache:
        cache.db.execute("UPDATE studies SET changed_at = '2020-01-01T00:00:00Z'")  # nothing changed since
        cache.db.conn.commit()
    assert run("digest", "--offline", "--as-of", "2026-11-21").exit_code == 3
    assert run("patient", "update", "P-017", "--location", "38.72,-9.14").exit_code == 0
    moved = run("digest", "--offline", "--as-of", "2026-11-22")
    assert moved.exit_code == 0 and "NCT01000004" in moved.stdout and "Now may fit" in moved.stdout
