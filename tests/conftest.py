from __future__ import annotations

import os
from pathlib import Path

import pytest

from trialfinder.api import Client, RetryPolicy
from trialfinder.cache import Cache

API = "https://ctgov.test/api/v2"
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TRIALFINDER_SHARED", REPO.parent / "shared"))
STUDIES = SHARED / "ctgov" / "studies"

needs_shared = pytest.mark.skipif(not STUDIES.is_dir(), reason=f"real records not found at {STUDIES}")


@pytest.fixture(autouse=True)
def env_setup(tmp_path, monkeypatch):
    """Every test gets its own working directory, cache path and a fake API URL; no retry waits."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIALFINDER_DB", str(tmp_path / "cache" / "trialfinder.db"))
    monkeypatch.setenv("TRIALFINDER_API_URL", API)
    monkeypatch.setenv("TRIALFINDER_RETRY_SECONDS", "0")
    monkeypatch.delenv("TRIALFINDER_USER_DB", raising=False)
    # Never read the developer's own mail settings.
    monkeypatch.setenv("TRIALFINDER_CONFIG", str(tmp_path / "no-config.toml"))
    for key in ("HOST", "PORT", "SECURITY", "USER", "PASSWORD", "FROM"):
        monkeypatch.delenv(f"TRIALFINDER_SMTP_{key}", raising=False)


class FakeTime:
    """A clock that only moves when something sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def client(fake_time):
    """A client on the fake API whose waits cost no real time (jitter fixed at the midpoint)."""
    retry = RetryPolicy(max_total=120)
    with Client(API, retry=retry, clock=fake_time.clock, sleep=fake_time.sleep, rng=lambda: 0.5) as c:
        yield c


@pytest.fixture
def cache(tmp_path):
    with Cache(tmp_path / "test.db") as c:
        yield c
