"""Defaults and the environment variables that override them."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_API_URL = "https://clinicaltrials.gov/api/v2"
DEFAULT_DB_PATH = Path("cache") / "trialfinder.db"

ENV_API_URL = "TRIALFINDER_API_URL"
ENV_DB = "TRIALFINDER_DB"
ENV_USER_DB = "TRIALFINDER_USER_DB"
ENV_RETRY_SECONDS = "TRIALFINDER_RETRY_SECONDS"

# The registry refreshes its data once a day, so a search repeated within a
# day is answered from the cache.
DEFAULT_FRESHNESS_HOURS = 24.0
# The public API allows about 50 requests per minute per client.
DEFAULT_RATE_LIMIT = 50
DEFAULT_RATE_WINDOW_S = 60.0
DEFAULT_PAGE_SIZE = 100
# A request that keeps failing is given up after this long (all retries).
DEFAULT_RETRY_SECONDS = 60.0
DEFAULT_TIMEOUT_S = 30.0

REGISTRY_STUDY_URL = "https://clinicaltrials.gov/study/{nct_id}"


def db_path(explicit: str | os.PathLike | None = None) -> Path:
    """The cache database path: explicit argument, then $TRIALFINDER_DB, then the default."""
    return Path(explicit or os.environ.get(ENV_DB) or DEFAULT_DB_PATH)


def user_db_path(explicit: str | os.PathLike | None = None, cache_db: Path | None = None) -> Path:
    """Where patients, shortlists and watches live: a separate file beside the cache.

    Kept apart so that clearing or deleting the cache never touches a user's work.
    """
    if explicit or os.environ.get(ENV_USER_DB):
        return Path(explicit or os.environ[ENV_USER_DB])
    cache_db = cache_db or db_path()
    return cache_db.with_name(cache_db.stem + "-userdata" + (cache_db.suffix or ".db"))


def api_url(explicit: str | None = None) -> str:
    """The API base URL: explicit argument, then $TRIALFINDER_API_URL, then the public API."""
    return (explicit or os.environ.get(ENV_API_URL) or DEFAULT_API_URL).rstrip("/")


def retry_seconds() -> float:
    """How long to keep retrying one request: $TRIALFINDER_RETRY_SECONDS or the default."""
    value = os.environ.get(ENV_RETRY_SECONDS)
    try:
        return max(0.0, float(value)) if value else DEFAULT_RETRY_SECONDS
    except ValueError:
        return DEFAULT_RETRY_SECONDS
