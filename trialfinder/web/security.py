"""What keeps the local web app to its one user: host check, access token, CSRF, strict headers.

- **Host check.** On loopback only requests addressed to 127.0.0.1, localhost or
  [::1] are answered, so a web page elsewhere cannot reach the app through a
  DNS name it controls (DNS rebinding).
- **Access token.** When the app is exposed beyond this machine (``serve
  --host``), every request needs the token: once as ``?token=…`` (the link
  ``serve`` prints), then from a cookie; or as ``Authorization: Bearer …``.
- **CSRF.** Every change is a POST carrying a hidden ``csrf`` field that must be
  the HMAC, under a secret made when the process starts, of a random value in
  a SameSite=Strict cookie (double submit). Anything else gets 403.
- **Headers.** A Content-Security-Policy that allows no scripts and nothing
  from elsewhere, no referrer to other sites (profile fields sit in query strings), no framing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_COOKIE = "trialfinder_csrf"
CSRF_FIELD = "csrf"
TOKEN_COOKIE = "trialfinder_token"
TOKEN_PARAM = "token"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
    "cache-control": "no-store",
}


class Csrf:
    """Double-submit CSRF tokens bound to a per-process secret."""

    def __init__(self, secret: bytes | None = None):
        self.secret = secret or secrets.token_bytes(32)

    def token_for(self, nonce: str) -> str:
        return hmac.new(self.secret, nonce.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def nonce(request: Request) -> tuple[str, bool]:
        """The browser's CSRF cookie value, or a new one (and True: it must be set on the response)."""
        value = request.cookies.get(CSRF_COOKIE, "")
        if len(value) >= 32 and value.isalnum():
            return value, False
        return secrets.token_hex(24), True

    def valid(self, request: Request, submitted: str | None) -> bool:
        nonce = request.cookies.get(CSRF_COOKIE, "")
        if not nonce or not submitted:
            return False
        if not _same_origin(request):
            return False
        return hmac.compare_digest(self.token_for(nonce), submitted)

    @staticmethod
    def set_cookie(response: Response, nonce: str) -> None:
        response.set_cookie(CSRF_COOKIE, nonce, httponly=True, samesite="strict", path="/")


def _same_origin(request: Request) -> bool:
    """A browser's Origin header, when sent, must name this app (a second check beside the token)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":  # not sent, or withheld for privacy: the token decides
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


class Guard:
    """ASGI middleware: host check, access token (when set), and the security headers on every answer."""

    def __init__(self, app: ASGIApp, *, token: str | None, allowed_hosts: Iterable[str] | None):
        self.app = app
        self.token = token
        self.allowed_hosts = {h.lower() for h in allowed_hosts} if allowed_hosts is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.decode("latin-1").lower() for k, _ in headers}
                for name, value in HEADERS.items():
                    if name not in present:
                        headers.append((name.encode(), value.encode()))
                if "content-security-policy" not in present:
                    headers.append((b"content-security-policy", CSP.encode()))
                message["headers"] = headers
            await send(message)

        headers = Headers(scope=scope)
        if self.allowed_hosts is not None and _host_name(headers.get("host", "")) not in self.allowed_hosts:
            response: Response = PlainTextResponse("Unknown host: open trialfinder at http://127.0.0.1", 400)
            await response(scope, receive, send_with_headers)
            return
        if self.token is not None:
            response_or_none = self._check_token(scope, headers)
            if response_or_none is not None:
                await response_or_none(scope, receive, send_with_headers)
                return
        await self.app(scope, receive, send_with_headers)

    def _check_token(self, scope: Scope, headers: Headers) -> Response | None:
        assert self.token is not None
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        given = dict(query).get(TOKEN_PARAM)
        if given is not None and hmac.compare_digest(given.encode(), self.token.encode()):
            # The token came in the link: keep it in a cookie and drop it from the address bar.
            rest = urlencode([(k, v) for k, v in query if k != TOKEN_PARAM])
            response = RedirectResponse(scope["path"] + (f"?{rest}" if rest else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict", path="/")
            return response
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header: treat as absent
            cookie = SimpleCookie()
        candidates = [cookie[TOKEN_COOKIE].value] if TOKEN_COOKIE in cookie else []
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            candidates.append(auth[7:].strip())
        if any(hmac.compare_digest(c.encode(), self.token.encode()) for c in candidates):
            return None
        return HTMLResponse(
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>Access token needed</title></head>"
            "<body><h1>Access token needed</h1><p>This trialfinder is shared on the network, so it needs its "
            "access token. Open the link that <code>trialfinder serve</code> printed (it ends in "
            "<code>?token=…</code>), or ask the person who started it.</p></body></html>",
            status_code=401,
            headers={"www-authenticate": "Bearer"},
        )


def _host_name(host: str) -> str:
    """``127.0.0.1:8765`` → ``127.0.0.1``; ``[::1]:8765`` → ``[::1]``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
