"""``python -m edge_runtime promote``: ask the running daemon to promote its shadow candidate, and wait.

The daemon does the work (``POST /api/promote``: evidence, verification into the bundle store, then the
supervisor's atomic switch, health window and rollback); this client finds it from the site file
(``http.host``, ``http.port``, ``http.token``), posts the request and follows ``/status`` through the
restart until the promotion has an outcome. ``parser`` and ``main`` are what ``adit promote`` runs;
``add_arguments`` and ``promote_command`` serve ``python -m edge_runtime promote``.

Exit codes: 0 the candidate runs (or already ran); 1 refused (not enough shadow evidence, or a
promotion already running) or rolled back after failing its health window; 2 bad input (site file,
candidate bundle) or no daemon answering.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_runtime.cli_types import positive_float
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import AditError, ConfigError

POLL_S = 0.5
MARGIN_S = 120.0  # beyond the health window: stopping the old pipeline and loading the new model


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="the daemon's site YAML (demo defaults when omitted)")
    parser.add_argument("--bundle", type=Path, help="the candidate (default: the one running in shadow)")
    parser.add_argument("--force", action="store_true", help="promote without the shadow run's evidence")
    parser.add_argument("--by", default="", help="who promotes (recorded with the promotion)")
    parser.add_argument("--url", help="the daemon's HTTP address (default: from the site file)")
    parser.add_argument(
        "--timeout",
        type=positive_float,
        help="seconds to wait for the outcome (default: health window + 120)",
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the site file")


def promote_command(args: argparse.Namespace, clock: Callable[[], float] = time.monotonic) -> int:
    try:
        config = load_site_config(args.config, args.overrides)
        promote = config.site_loop.promote
        if promote is None:
            raise ConfigError(f"{args.config or 'the site'}: site_loop.promote is not set; promotion is off")
        daemon = _Daemon(args.url or _url(config), config)
        body = {"by": args.by, "force": args.force, "bundle": str(args.bundle) if args.bundle else None}
        code, answer = daemon.call("POST", "/api/promote", body)
        if code in (400, 422):
            raise ConfigError(answer.get("error", f"HTTP {code}"))
        if code != 202:
            print(f"refused: {answer.get('error', f'HTTP {code}')}", file=sys.stderr)
            return 1
        stored = answer["bundle_id"][:16]
        print(f"promotion {answer['id']}: {answer['candidate']} verified as {stored}; switching", flush=True)
        window = config.fleet.health.window_s if config.fleet is not None else promote.window_s
        outcome = _outcome(daemon, answer["id"], clock() + (args.timeout or window + MARGIN_S), clock)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(outcome))
    if outcome["status"] == "rolled_back":
        print(f"rolled back: {outcome['reason']}; the previous bundle runs again", file=sys.stderr)
        return 1
    print(f"{outcome['status']}: {outcome['candidate']} runs")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command on its own (``adit promote``); ``python -m edge_runtime promote`` has the same."""
    made = argparse.ArgumentParser(
        prog="python -m edge_runtime promote", description="promote the running daemon's shadow candidate"
    )
    add_arguments(made)
    return made


def main(argv: list[str] | None = None) -> int:
    return promote_command(parser().parse_args(argv))


def _url(config: SiteConfig) -> str:
    if not config.http.enabled:
        raise ConfigError("http.enabled is false: the daemon has no API to promote through")
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(config.http.host, config.http.host)
    return f"http://{f'[{host}]' if ':' in host else host}:{config.http.port}"


class _Daemon:
    def __init__(self, url: str, config: SiteConfig) -> None:
        self.url = url.rstrip("/")
        token = config.http.token
        self.headers = {"Content-Type": "application/json"}
        if token is not None:
            self.headers["Authorization"] = f"Bearer {token.get_secret_value()}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {"error": f"HTTP {exc.code} {exc.reason}"}
        except (urllib.error.URLError, OSError) as exc:
            raise ConfigError(f"no daemon answers at {self.url} ({exc})") from exc


def _outcome(daemon: _Daemon, promotion: str, deadline: float, clock: Callable[[], float]) -> dict[str, Any]:
    """/status's record of the promotion once it finished; the daemon restarts meanwhile, so it may not
    answer for a while."""
    while clock() < deadline:
        try:
            code, status = daemon.call("GET", "/status")
        except ConfigError:
            code, status = 0, {}
        latest = (status.get("promotion") or {}).get("latest") if code == 200 else None
        if latest is not None and latest["id"] == promotion and latest["finished"] is not None:
            return dict(latest)
        time.sleep(POLL_S)
    raise ConfigError(f"promotion {promotion}: no outcome on {daemon.url}/status in time; see the daemon log")
