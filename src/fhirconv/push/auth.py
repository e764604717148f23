"""Credentials for a FHIR server: bearer token, HTTP basic, SMART backend services.

Each is an ``httpx.Auth``. Secrets are read from the environment or a file, never taken
from a command-line value, and never shown: ``repr`` masks them and
:meth:`PushAuth.secrets` lets the client scrub them from every message it produces.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Generator
from pathlib import Path

import httpx

from .errors import AuthError


class PushAuth(httpx.Auth):
    """Base class: an ``httpx.Auth`` that can list its secrets for redaction."""

    def secrets(self) -> list[str]:
        return []

    def describe(self) -> str:
        return self.__class__.__name__

    def __repr__(self) -> str:
        return f"<{self.describe()}>"


def _check_header_secret(value: str, what: str, *, ascii_only: bool = True) -> None:
    """Refuse, before any request, a secret that cannot stand in an HTTP header. The message never
    contains the value: an HTTP library's own error would echo the whole header."""
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) == 0x7F:
            raise AuthError(f"the {what} contains a control character (a line break or a tab?); it must be one "
                            "line of printable characters: fix the variable or file that holds it")
        if ascii_only and ord(ch) > 0x7E:
            raise AuthError(f"the {what} contains a character outside printable ASCII; an HTTP header "
                            "cannot carry it: check the variable or file that holds it")


class BearerAuth(PushAuth):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        token = token.strip()
        if not token:
            raise AuthError("the bearer token is empty; set the environment variable or file to the token")
        _check_header_secret(token, "bearer token")
        self._token = token

    @classmethod
    def from_env(cls, name: str) -> BearerAuth:
        value = os.environ.get(name)
        if value is None:
            raise AuthError(f"environment variable {name} is not set; export the token in it "
                            "(e.g. read -s TOKEN && export TOKEN) or use --token-file")
        if not value.strip():
            raise AuthError(f"environment variable {name} is empty; put the bearer token in it")
        return cls(value)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> BearerAuth:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(f"cannot read the token file {path}: {exc.__class__.__name__}; "
                            "check the path and its permissions") from exc
        if not value:
            raise AuthError(f"the token file {path} is empty; write the bearer token in it")
        return cls(value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def secrets(self) -> list[str]:
        return [self._token]

    def describe(self) -> str:
        return "bearer token"


class BasicAuth(PushAuth):
    """HTTP basic authentication."""

    def __init__(self, username: str, password: str) -> None:
        # basic credentials travel base64-encoded (UTF-8 allowed); a control character is still a mistake
        _check_header_secret(username, "user name", ascii_only=False)
        _check_header_secret(password, "password", ascii_only=False)
        self._username = username
        self._password = password
        self._header = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode("ascii")

    @classmethod
    def from_env(cls, username: str, password_env: str) -> BasicAuth:
        value = os.environ.get(password_env)
        if value is None:
            raise AuthError(f"environment variable {password_env} is not set; export the password in it")
        return cls(username, value)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def secrets(self) -> list[str]:
        return [s for s in (self._password, self._header.split(" ", 1)[1]) if s]

    def describe(self) -> str:
        return f"basic auth as {self._username}"


def redact(text: str, secrets: list[str]) -> str:
    """Replace every secret (of 4+ characters) in ``text`` by ``***``."""
    for s in sorted(secrets, key=len, reverse=True):
        if s and len(s) >= 4:
            text = text.replace(s, "***")
    return text
