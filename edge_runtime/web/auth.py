"""The token gate in front of every route: off on a loopback address, required on any other.

Browsers open any page once with ``?token=...``: the gate answers with an HttpOnly, SameSite=Strict
cookie and sends them on without the token in the address bar. Scrapers and scripts send
``Authorization: Bearer <token>``. ``/healthz`` stays open for watchdogs and load balancers, but
without the token it says only ``{"ok": ...}``, not which camera or sink is failing.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

COOKIE = "adit_token"
OPEN_PATHS = frozenset({"/healthz"})
_LOGIN = """<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>adit</title></head>
<body style="font-family:sans-serif;max-width:28em;margin:4em auto">
<h1>adit</h1><p>This dashboard needs its access token. 此页面需要访问令牌。</p>
<form method="get"><input name="token" type="password" autofocus size="32" aria-label="token">
<button>Open 打开</button></form></body></html>"""


class TokenGate:
    """ASGI middleware; sets ``scope["state"]["authorised"]`` for the routes that show less without it."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token
        # the cookie carries a digest, so a copied cookie is not the token itself
        self.cookie = hashlib.sha256(f"adit-dashboard:{token}".encode()).hexdigest() if token else ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        authorised = self.token is None or self._presented(request)
        scope.setdefault("state", {})["authorised"] = authorised
        if authorised or request.url.path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        await self._refuse(request)(scope, receive, send)

    def _presented(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Bearer ") and _same(header[7:], self.token):
            return True
        return _same(request.cookies.get(COOKIE, ""), self.cookie)

    def _refuse(self, request: Request) -> Response:
        offered = request.query_params.get("token")
        if offered is not None and _same(offered, self.token):
            rest = urlencode([(k, v) for k, v in parse_qsl(request.url.query) if k != "token"])
            response: Response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), 303)
            response.set_cookie(COOKIE, self.cookie, httponly=True, samesite="strict")
            return response
        if "text/html" in request.headers.get("accept", ""):
            return HTMLResponse(_LOGIN, status_code=401)
        return PlainTextResponse(
            "401: send 'Authorization: Bearer <http.token>'\n", 401, headers={"WWW-Authenticate": "Bearer"}
        )


def _same(offered: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(offered.encode(), expected.encode())
