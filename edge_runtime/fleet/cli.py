"""``python -m edge_runtime.fleet status|rollout|forget|serve --broker HOST[:PORT]``: the fleet from anywhere.

``status``, ``rollout``, ``forget`` and ``web.serve`` are plain functions that a unified ``adit``
command can wrap. Exit codes: 0 done; 1 a rollout rolled back or some device failed; 2 bad input
(an unsigned or broken bundle, an empty group, an unreachable broker). The broker's password is
read from ``$ADIT_MQTT_PASSWORD``, never from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from edge_runtime.cli_types import non_negative_float, positive_float
from edge_runtime.errors import AditError, ConfigError
from edge_runtime.fleet.messages import FleetTopics
from edge_runtime.fleet.rollout import Rollout, RolloutPlan, prepare
from edge_runtime.fleet.view import Broker, FleetView, moved, table
from edge_runtime.logs import setup_logging
from edge_runtime.signing import trust_of

PUBLISH_TIMEOUT_S = 10.0


def open_view(broker: Broker, topic: str) -> FleetView:
    """A connected fleet view holding every retained device message (ConfigError if the broker is away)."""
    view = FleetView(broker, FleetTopics(topic))
    view.settle()
    if not view.client.is_connected():
        view.close()
        raise ConfigError(f"--broker {broker.host}:{broker.port}: cannot connect to the broker")
    return view


def status(
    broker: Broker,
    *,
    topic: str = "adit/fleet",
    group: str | None = None,
    watch: bool = False,
    say: Callable[[str], None] = print,
) -> int:
    """Print every device (of ``group``) in a table; with ``watch``, again after every change."""
    view = open_view(broker, topic)
    try:
        while True:
            rows = [
                row for row in view.rows() if group is None or (row.message and row.message.group == group)
            ]
            say(table(rows) if rows else f"no device has reported under {topic}/devices/ on {broker.host}")
            if not watch:
                return 0
            view.wait(partial(moved, view, view.updates), 3600.0)
            say(f"\n{time.strftime('%H:%M:%S')}")
    finally:
        view.close()


def rollout(
    bundle: str,
    group: str,
    broker: Broker,
    *,
    canary: str = "10%",
    hold_s: float = 60.0,
    timeout_s: float = 600.0,
    trust: tuple[Path, ...] = (),
    topic: str = "adit/fleet",
    say: Callable[[str], None] = print,
) -> int:
    """Roll ``bundle`` out to ``group``: canaries first, then the rest (exit 0), or roll back (exit 1)."""
    keys = trust_of(trust)
    with tempfile.TemporaryDirectory(prefix="adit-rollout-") as staging:
        desired = prepare(bundle, keys, Path(staging))
    view = open_view(broker, topic)

    def publish(target: str, payload: str) -> None:
        info = view.client.publish(target, payload, qos=1, retain=True)
        info.wait_for_publish(PUBLISH_TIMEOUT_S)
        if not info.is_published():
            raise ConfigError(f"--broker {broker.host}:{broker.port}: {target} was not acknowledged")

    try:
        plan = RolloutPlan(group=group, canary=canary, hold_s=hold_s, timeout_s=timeout_s)
        outcome = Rollout(view, publish, plan, say=say).run(desired)
        rows = [row for row in view.rows() if row.message and row.message.group == group]
        say(table(rows))
        offline = sorted(name for name, what in outcome.devices.items() if what == "offline")
        say(
            f"rollout {desired.rollout}: {outcome.phase}" + (f" ({outcome.reason})" if outcome.reason else "")
        )
        if offline and outcome.phase in ("done", "failed"):
            say(f"offline now, switching when they reconnect (retained desired state): {', '.join(offline)}")
        return 0 if outcome.ok else 1
    finally:
        view.close()


def forget(
    device: str, broker: Broker, *, topic: str = "adit/fleet", say: Callable[[str], None] = print
) -> int:
    """Clear a retired device's retained topics, so ``status`` no longer lists it (a live one reappears)."""
    topics = FleetTopics(topic)
    view = open_view(broker, topic)
    try:
        if view.row(device) is None:
            raise ConfigError(f"{device}: no such device under {topic}/devices/")
        for leaf in ("state", "status", "desired"):
            view.client.publish(topics.device(device, leaf), b"", qos=1, retain=True).wait_for_publish(
                PUBLISH_TIMEOUT_S
            )
        say(f"forgot {device}")
        return 0
    finally:
        view.close()


def _broker(args: argparse.Namespace) -> Broker:
    try:
        return Broker.parse(
            args.broker,
            username=args.username,
            password=os.environ.get("ADIT_MQTT_PASSWORD"),
            ca_file=args.ca_file,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_runtime.fleet", description="adit's fleet over MQTT."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--broker", default="localhost:1883", help="HOST[:PORT] of the fleet's MQTT broker")
    common.add_argument("--username", help="broker login (password: $ADIT_MQTT_PASSWORD)")
    common.add_argument("--ca-file", type=Path, help="CA certificate: connect with TLS")
    common.add_argument("--topic", default="adit/fleet", help="the devices' fleet.topic")
    commands = parser.add_subparsers(dest="command", required=True)
    show = commands.add_parser("status", parents=[common], help="every device in a table")
    show.add_argument("--group", help="only this device group")
    show.add_argument("--watch", action="store_true", help="print the table again after every change")
    roll = commands.add_parser("rollout", parents=[common], help="roll a signed bundle out to a device group")
    roll.add_argument("bundle", help="http(s) URL of a .tar.gz, or a folder or .tar.gz on a shared volume")
    roll.add_argument("--to", required=True, dest="group", help="the device group (fleet.group)")
    roll.add_argument("--canary", default="10%", help="canaries: a share (10%%) or a count (2); 0: none")
    roll.add_argument(
        "--hold", type=non_negative_float, default=60.0, help="seconds the canaries must stay healthy"
    )
    roll.add_argument(
        "--timeout", type=positive_float, default=600.0, help="the most seconds each phase may take"
    )
    roll.add_argument(
        "--trust", type=Path, nargs="*", default=[], help="public keys the bundle must be signed by"
    )
    retire = commands.add_parser("forget", parents=[common], help="clear a retired device's retained topics")
    retire.add_argument("device")
    serve = commands.add_parser("serve", parents=[common], help="a small web page of the fleet")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8391)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        broker = _broker(args)
        if args.command == "status":
            return status(broker, topic=args.topic, group=args.group, watch=args.watch)
        if args.command == "rollout":
            return rollout(
                args.bundle,
                args.group,
                broker,
                canary=args.canary,
                hold_s=args.hold,
                timeout_s=args.timeout,
                trust=tuple(args.trust),
                topic=args.topic,
            )
        if args.command == "forget":
            return forget(args.device, broker, topic=args.topic)
        from edge_runtime.fleet.web import serve as serve_page

        return serve_page(broker, topic=args.topic, host=args.host, port=args.port)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
