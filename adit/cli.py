"""``adit VERB [key=value ...]``: one command for every stage, Ultralytics style.

Each verb runs the stage's own command line (``python -m train fit``, ``python -m export build``, ...)
with the ``key=value`` items translated onto its options and configuration; those commands keep
working. Exit codes are the stage's; an unknown verb, an unknown key or a bad value is 2.
"""

from __future__ import annotations

import importlib
import sys

from adit.keys import config_keys, describe, subparser, to_argv
from adit.verbs import VERBS, WORKSTATION_BENCH, WORKSTATION_BENCH_KEYS, Verb
from edge_runtime.errors import ConfigError

WORKSTATION_MODULES = ("torch", "torchvision", "timm", "nncf", "onnx", "matplotlib")
HIDDEN = ("bench-workstation",)


def usage() -> str:
    lines = ["usage: adit VERB [key=value ...]   (adit VERB --help lists its keys)", "", "verbs:"]
    for verb in VERBS.values():
        if verb.name not in HIDDEN:
            name = verb.name.replace("fleet-", "fleet ")
            lines.append(f"  {name:<14} {verb.help}{'' if verb.edge else '  [workstation]'}")
    lines += ["", "[workstation]: needs `pip install .[workstation]` (torch); the rest runs on `.[edge]`."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name == "fleet" and rest and not rest[0].startswith("-"):
        name, rest = f"fleet-{rest[0]}", rest[1:]
    elif name == "fleet":  # `adit fleet` or `adit fleet --help`: the fleet's own verbs
        fleet_verbs = [line for line in usage().splitlines() if line.startswith("  fleet ")]
        print("\n".join(fleet_verbs), file=sys.stdout if rest else sys.stderr)
        return 0 if rest else 2
    verb = VERBS.get(name)
    if verb is None or name in HIDDEN:
        print(
            f"error: unknown verb {name!r}; verbs: {', '.join(v for v in VERBS if v not in HIDDEN)}",
            file=sys.stderr,
        )
        return 2
    if verb.name == "bench" and any(i.partition("=")[0] in WORKSTATION_BENCH_KEYS for i in rest):
        verb = WORKSTATION_BENCH
    try:
        return _run(verb, rest)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(verb: Verb, items: list[str]) -> int:
    try:
        module = importlib.import_module(verb.module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] in WORKSTATION_MODULES:
            raise ConfigError(
                f"adit {verb.name} needs the workstation install (pip install '.[workstation]'): {exc}"
            ) from None
        raise
    parser = subparser(getattr(module, verb.parser)(), verb.command)
    if "-h" in items or "--help" in items:
        print(help_text(verb, parser, [i for i in items if i not in ("-h", "--help")]))
        return 0
    items = [_aliased(verb, item) for item in items]
    if verb.prepare is not None:
        items = verb.prepare(items)
    stage_argv = ([verb.command] if verb.command else []) + to_argv(verb.name, parser, items)
    return int(module.main(stage_argv) or 0)


def _aliased(verb: Verb, item: str) -> str:
    name, sep, value = item.partition("=")
    return f"{verb.aliases[name]}={value}" if sep and name in verb.aliases else item


def help_text(verb: Verb, parser: object, items: list[str]) -> str:
    lines = [f"adit {verb.name.replace('fleet-', 'fleet ')}: {verb.help}", "", "keys:"]
    lines += describe(parser)  # type: ignore[arg-type]
    if verb.aliases:
        lines += ["", "short keys:"] + [f"  {short}= -> {full}=" for short, full in verb.aliases.items()]
    if verb.name == "train":
        lines += [
            "  data= -> a YOLO data.yaml, a COCO json, a VOC folder, images/+masks/ or class folders",
            "  imgsz=N -> data.image_size=[N,N]",
        ]
    if verb.config is not None:
        model = verb.config(items)
        lines += ["", f"configuration keys ({model.__name__}; key=value overrides the YAML):"]
        lines += config_keys(model)
    return "\n".join(lines)
