"""Exceptions raised by trialfinder.

The library raises these; only ``cli.py`` turns them into a one-line message
and an exit code. Each message says what went wrong and, where there is one,
how to fix it.

    TrialFinderError
    ├── APIError            the registry answered with an error (status, url)
    │   └── StudyNotFound   no study with that NCT id
    ├── NetworkError        no usable answer in the time allowed
    │   └── RegistryUnreachable  no connection at all (refused, unknown name, no route)
    ├── CacheError          the cache or user database can't be read or written
    ├── InputError          a file, an option or a profile is not usable
    │   └── ProfileError    a patient profile is invalid (names the field)
    └── UserDataError       a shortlist, patient or watch operation is not allowed
"""

from __future__ import annotations


class TrialFinderError(Exception):
    """Base class: every error the library means to report to a user."""


class APIError(TrialFinderError):
    """The registry answered, but with an error status."""

    def __init__(self, message: str, *, status: int | None = None, url: str | None = None):
        super().__init__(message)
        self.status = status
        self.url = url


class StudyNotFound(APIError):
    """The registry has no study with this NCT id."""


class NetworkError(TrialFinderError):
    """The registry could not be reached, or kept failing, within the retry time."""

    def __init__(self, message: str, *, url: str | None = None):
        super().__init__(message)
        self.url = url


class RegistryUnreachable(NetworkError):
    """No connection could be made to the registry at all: refused, a name that doesn't resolve, no route.

    The message says why (``the connection to 127.0.0.1:1 was refused``); ``url``
    is the API base URL that was tried, so the fix (another --api-url, the
    network, --offline) can be suggested next to it.
    """


class CacheError(TrialFinderError):
    """A database file could not be opened, read or written."""


class InputError(TrialFinderError):
    """Something the user gave us (file, option value) can't be used."""


class ProfileError(InputError):
    """A patient profile is invalid; the message names the field and what is allowed."""


class UserDataError(TrialFinderError):
    """An operation on patients, shortlists or watches is not allowed as asked."""
