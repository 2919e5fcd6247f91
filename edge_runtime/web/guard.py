"""Request hardening in front of the dashboard: a bounded body, and the Host header checked when open.

Bodies: the one form that posts (a rule draft) is a few hundred bytes; without a bound an
authorised client could POST 400 MB and the daemon held it all in memory (measured +800 MB RSS).
A body announced or streamed beyond ``MAX_BODY_BYTES`` is refused with 413 before it is read.

Host: on a loopback address without a token, any web page the operator opens could make the
browser call the dashboard under the page's own name (DNS rebinding: ``evil.example`` resolving
to 127.0.0.1), read /status and post rules. Only the loopback names reach it then. With a token
the gate already refuses such requests: the page never has the token, nor its cookie.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


class _TooLarge(Exception):
    pass


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``max_bytes``, by Content-Length or as it streams."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _TooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        text = f"413: request body over {self.max_bytes} bytes\n"
        await PlainTextResponse(text, status_code=413, headers={"Connection": "close"})(scope, receive, send)


def host_check(app: ASGIApp, configured_host: str) -> ASGIApp:
    """Only requests addressed to a loopback name (or the configured address) pass; others get 400."""
    shown = f"[{configured_host}]" if ":" in configured_host else configured_host
    allowed = sorted({*LOOPBACK_NAMES, shown})
    return TrustedHostMiddleware(app, allowed_hosts=allowed, www_redirect=False)
