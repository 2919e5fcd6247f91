"""The daemon's command line: ``run`` a site, ``replay`` a video deterministically against truth, or
``promote`` the running daemon's shadow candidate (``edge_runtime.promote_cli``).

Exit codes: 0 success; 1 a replay's events do not match the ground truth; 2 a configuration,
bundle or source error (printed as a message, without a traceback).

Signals to ``run``: SIGINT and SIGTERM stop it (draining the outbox); SIGHUP reloads: the daemon
drains and stops as for SIGTERM, reads the configuration file again and starts on it, or, when the
new one fails its checks, logs why and starts again on the one it had.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from edge_runtime.cli_types import non_negative_int
from edge_runtime.config import SiteConfig, load_site_config
from edge_runtime.errors import AditError
from edge_runtime.events import JsonlSink, compare_events, read_truth
from edge_runtime.fleet.supervisor import run_supervised, supervised, verify_supervised
from edge_runtime.logs import setup_logging
from edge_runtime.pipeline import run
from edge_runtime.promote_cli import add_arguments as add_promote_arguments
from edge_runtime.promote_cli import promote_command
from edge_runtime.redact import redact
from edge_runtime.replay import ReplayResult, replay, replay_tolerance
from edge_runtime.startup import SiteBundles, verify_daemon
from edge_runtime.systemd import SystemdNotifier
from edge_runtime.yamlconfig import save_config

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime", description="adit's edge daemon: cameras and monitored machines."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser(
        "run", help="run the site's cameras and machines until they end or SIGINT/SIGTERM (SIGHUP: reload)"
    )
    run_parser.add_argument("--config", type=Path, help="site YAML (demo defaults when omitted)")
    run_parser.add_argument(
        "--validate", action="store_true", help="check configuration and bundle, then exit"
    )
    run_parser.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. model.artifact=openvino-int8"
    )
    replay_parser = commands.add_parser("replay", help="run every frame of a video deterministically")
    replay_parser.add_argument("video", type=Path)
    replay_parser.add_argument("--config", type=Path, help="site YAML (demo defaults when omitted)")
    replay_parser.add_argument(
        "--camera", help="whose settings (name, stride) the video takes; default: the first"
    )
    replay_parser.add_argument("--expect", type=Path, help="truth.jsonl; exit 1 on any missed or false event")
    replay_parser.add_argument(
        "--tolerance",
        type=non_negative_int,
        help="frames an event may trail its interval (default: rule window)",
    )
    replay_parser.add_argument("--out", type=Path, help="write the events to this JSONL file (replaced)")
    replay_parser.add_argument(
        "overrides", nargs="*", help="key=value overrides, e.g. model.artifact=onnx-int8"
    )
    add_promote_arguments(
        commands.add_parser(
            "promote", help="switch the running daemon to its shadow candidate; rolls back on failed health"
        )
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    # Overrides may follow options (`replay VIDEO --expect T model.artifact=X`), which argparse's
    # positional matching alone refuses; anything else unknown is still an error.
    args, unknown = parser.parse_known_args(argv)
    stray = [item for item in unknown if item.startswith("-") or "=" not in item]
    if stray:
        parser.error(f"unrecognized arguments: {' '.join(stray)}")
    args.overrides += unknown
    setup_logging()
    if args.command == "promote":
        return promote_command(args)
    try:
        config = load_site_config(args.config, args.overrides)
        if args.command == "replay":
            return _replay(config, args)
        return _run(config, args)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(config: SiteConfig, args: argparse.Namespace) -> int:
    if args.validate:
        bundles = verify_daemon(config)
        print(json.dumps(redact(config.model_dump(mode="json")), indent=2))  # as /status shows it
        used = [
            f"{b.root} ({b.artifact(config.model.artifact).key})" for b in [bundles.cameras] if b is not None
        ]
        used += [f"{model.bundle.root} ({model.artifact.key})" for model in bundles.machines.values()]
        print(
            f"OK: {', '.join(used)}; {len(config.cameras)} camera(s), {len(config.machines)} machine(s), "
            f"{len(config.rules)} rule(s)"
        )
        return 0
    notifier = SystemdNotifier.from_env()
    verified: SiteBundles | None = None  # a reload's checked bundles and compiled models, for its run
    with _Signals() as signals:
        while True:
            if config.sinks.jsonl is not None:
                save_config(config, config.sinks.jsonl.path.with_suffix(".config.yaml"))
            if supervised(config):  # the store's current bundle runs, checked by the reload or the run
                summary = run_supervised(config, signals.stop, notifier, verified=verified)
            else:
                summary = run(config, signals.stop, notifier, verified=verified)
            verified = None  # each run takes over its models once
            print(json.dumps(summary.to_dict(), indent=2), flush=True)
            if not signals.reload or signals.terminate:
                return 0
            notifier.notify("RELOADING=1")
            signals.reset()
            config, verified = _reloaded(config, args)


class _Signals:
    """SIGINT/SIGTERM: stop. SIGHUP: stop, then run again on the re-read configuration (a reload)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.reload = self.terminate = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        handlers = {signal.SIGINT: self._end, signal.SIGTERM: self._end, signal.SIGHUP: self._hup}
        for sig, handler in handlers.items():
            self._previous[sig] = signal.signal(sig, handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _end(self, *_: object) -> None:
        self.terminate = True
        self.stop.set()

    def _hup(self, *_: object) -> None:
        self.reload = True
        self.stop.set()

    def reset(self) -> None:
        self.reload = False
        self.stop.clear()


def _reloaded(current: SiteConfig, args: argparse.Namespace) -> tuple[SiteConfig, SiteBundles | None]:
    """The configuration file read and checked again, with its verified bundles (whose models the next
    run takes over); the current configuration, to verify again, when the new one fails."""
    try:
        config = load_site_config(args.config, args.overrides)
        verified = verify_supervised(config) if supervised(config) else verify_daemon(config)
    except AditError as exc:
        log.error("SIGHUP: the configuration was not reloaded, running on with the previous one: %s", exc)
        return current, None
    log.info("SIGHUP: configuration %s reloaded", args.config or "(defaults)")
    return config, verified


def _replay(config: SiteConfig, args: argparse.Namespace) -> int:
    truth = read_truth(args.expect) if args.expect else None  # a bad truth file fails before any work
    sinks = []
    if args.out:
        args.out.unlink(missing_ok=True)  # a replay's output is its own, not appended to an older one
        sinks.append(JsonlSink(args.out))
        save_config(config, args.out.with_suffix(".config.yaml"))
    try:
        result = replay(config, args.video, camera=args.camera, sinks=sinks)
    finally:
        for sink in sinks:
            sink.close()
    _print_replay(result)
    if truth is None:
        return 0
    tolerance = args.tolerance if args.tolerance is not None else replay_tolerance(config, args.camera)
    match = compare_events(result.events, truth, tolerance)
    print(match.table())
    return 0 if match.ok else 1


def _print_replay(result: ReplayResult) -> None:
    for event in result.events:
        print(f"frame {event.frame:>6}  {event.phase:<5}  {event.rule}  {event.label}  {event.score:.3f}")
    summary = result.summary
    infer = summary.timing_ms.get("infer")
    latency = f", infer p50 {infer.p50_ms:.2f} ms" if infer else ""
    print(
        f"{summary.frames} frames, {summary.events} events, {summary.fps} fps ({summary.artifact}{latency})"
    )
