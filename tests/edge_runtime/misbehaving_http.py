"""A real HTTP server on a real socket that answers each request with whatever bytes a test chooses.

``http.server`` cannot send a garbled status line or a body shorter than its Content-Length; this
reads the request (headers and body) itself and writes the raw answer, so the client meets exactly
what a broken proxy or a half-crashed receiver sends.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def event(self) -> dict:
        return json.loads(self.body)


Answer = Callable[[Request], bytes]


def status(code: int, reason: str = "X", headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {code} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class RawHttpServer:
    """Records every request; ``answer`` (changeable at any time) gives the raw bytes sent back."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[Request] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            first, *lines = head.decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)
            }
            while len(body) < int(headers.get("content-length", 0)):
                body += conn.recv(65536)
            method, path, _ = first.split(" ", 2)
            request = Request(method, path, headers, body)
            self.requests.append(request)
            conn.sendall(self.answer(request))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._server.close()
