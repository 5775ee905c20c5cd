"""An unreachable registry fails fast, in one line that fits the command; reading commands never create a cache.

The client-level retry policy is tested in test_api.py; here are the command lines, in this process
(CliRunner with pytest-httpx) and as real processes against a refused port on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from records import name_not_found_error, refused_error
from trialfinder.cli import cli

API = "https://ctgov.test/api/v2"
COMMAND = [sys.executable, "-m", "trialfinder.cli"]


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def error_line(result) -> str:
    """Exit status 1, no traceback, and stderr is exactly one line starting with Error:."""
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


def closed_port() -> int:
    """A loopback port that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the message fits the command ----------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("search", "-c", "stroke"),
        ("show", "NCT06347575"),
        ("match", "--condition", "stroke", "--age", "60"),
        ("criteria", "NCT06347575"),
    ],
    ids=["search", "show", "match", "criteria"],
)
@pytest.mark.parametrize(
    ("fault", "says"), [(refused_error, "was refused"), (name_not_found_error, "could not be looked up")]
)
def test_commands_with_offline_say_where_and_suggest_offline(httpx_mock, monkeypatch, args, fault, says):
    monkeypatch.setenv("TRIALFINDER_RETRY_SECONDS", "60")  # the quick retry needs a budget; it must not use it
    httpx_mock.add_exception(fault(), is_reusable=True)
    line = error_line(run(*args))
    assert f"can't reach the registry at {API}: " in line and says in line
    assert "--api-url" in line and "TRIALFINDER_API_URL" in line and "network" in line
    assert "--offline" in line
    assert len(httpx_mock.get_requests()) == 2  # one quick retry, then stop


def test_sync_has_no_offline_so_its_message_does_not_suggest_it(httpx_mock):
    httpx_mock.add_exception(refused_error(), is_reusable=True)
    line = error_line(run("sync", "--condition", "stroke"))
    assert f"can't reach the registry at {API}: " in line and "was refused" in line
    assert "--api-url" in line and "network" in line
    assert "offline" not in line.replace("online", "")


def test_sync_giving_up_on_a_failing_registry_does_not_suggest_offline_either(httpx_mock):
    httpx_mock.add_response(status_code=503, text="busy", is_reusable=True)
    line = error_line(run("sync", "--condition", "stroke"))
    assert "HTTP 503" in line and f"{API}/version" in line
    assert "--offline" not in line
    assert "resumes" in line


def test_search_giving_up_on_a_failing_registry_still_suggests_offline(httpx_mock):
    httpx_mock.add_response(status_code=503, text="busy", is_reusable=True)
    line = error_line(run("search", "-c", "stroke"))
    assert "HTTP 503" in line and "--offline" in line


# -- real processes, real refused port -----------------------------------------------------------


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", PYTHONDONTWRITEBYTECODE="1")
    env.pop("TRIALFINDER_RETRY_SECONDS", None)  # the default budget (60 s): fast anyway
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("args", "offline"),
    [(("show", "NCT06347575"), True), (("search", "-c", "stroke"), True), (("sync", "-c", "stroke"), False)],
    ids=["show", "search", "sync"],
)
def test_a_refused_port_fails_in_seconds_with_one_line(tmp_path, args, offline):
    url = f"http://127.0.0.1:{closed_port()}/api/v2"
    began = time.monotonic()
    done = subprocess.run(
        [*COMMAND, *args, "--api-url", url, "--db", str(tmp_path / "c.db")],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - began
    assert done.returncode == 1, done
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr  # no "retrying in 27s" lines before it
    assert lines[0].startswith(f"Error: can't reach the registry at {url}: ")
    assert ("--offline" in lines[0]) == offline
    assert took < 6, took  # was 41-55 s: a one-second retry and the interpreter's start


# -- reading offline never creates a cache ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("search", "-c", "stroke", "--offline"),
        ("show", "NCT06347575", "--offline"),
        ("match", "--condition", "stroke", "--age", "60", "--offline"),
        ("explain", "NCT06347575", "--condition", "stroke", "--offline"),
        ("criteria", "NCT06347575", "--offline"),
    ],
    ids=["search", "show", "match", "explain", "criteria"],
)
def test_offline_on_a_missing_cache_is_one_line_and_creates_nothing(tmp_path, httpx_mock, args):
    where = tmp_path / "x" / "none" / "x.db"
    line = error_line(run(*args, "--db", str(where)))
    assert f"no cache at {where} yet" in line
    assert "without --offline" in line and "trialfinder sync" in line and "trialfinder import" in line
    assert not (tmp_path / "x").exists()
    assert httpx_mock.get_requests() == []


def test_offline_on_the_default_missing_cache_creates_no_folder(tmp_path):
    line = error_line(run("search", "-c", "stroke", "--offline"))
    assert "no cache at" in line
    assert not (tmp_path / "cache").exists()


def test_cache_info_on_a_missing_cache_says_so_and_creates_nothing(tmp_path):
    where = tmp_path / "x" / "none" / "x.db"
    result = run("cache", "info", "--db", str(where))
    assert result.exit_code == 0, result.output
    assert f"no cache at {where} yet" in result.output and "trialfinder sync" in result.output
    assert not (tmp_path / "x").exists()


def test_cache_clear_on_a_missing_cache_has_nothing_to_clear_and_creates_nothing(tmp_path):
    where = tmp_path / "x" / "none" / "x.db"
    result = run("cache", "clear", "--yes", "--db", str(where))
    assert result.exit_code == 0, result.output
    assert f"no cache at {where} yet" in result.output and "nothing to clear" in result.output
    assert not (tmp_path / "x").exists()
