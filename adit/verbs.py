"""The verbs of ``adit``: each names the stage command it runs, by module path, so a verb imports its stage
(and torch, for the workstation ones) only when it runs; ``adit --help`` imports none of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

from pydantic import BaseModel

from adit.data import data_overrides


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    module: str  # the stage's command-line module, with ``main(argv)``
    parser: str = "parser"  # the module's factory of its argparse parser
    command: str | None = None  # the stage's sub-command, e.g. ``fit``
    aliases: dict[str, str] = field(default_factory=dict)  # short key -> the stage's key
    prepare: Callable[[list[str]], list[str]] | None = None  # rewrites items before translation
    config: Callable[[list[str]], type[BaseModel]] | None = None  # the configuration model --help lists
    edge: bool = False  # works on the torch-free install


VERBS: dict[str, Verb] = {}


def register(verb: Verb) -> Verb:
    if verb.name in VERBS:
        raise ValueError(f"verb {verb.name!r} registered twice")
    VERBS[verb.name] = verb
    return verb


def _train_items(items: list[str]) -> list[str]:
    """``data=`` read as whichever layout it is (its task unless one is given); ``imgsz=N`` as N x N."""
    out, task = [], None
    for item in items:
        name, _, value = item.partition("=")
        if name == "data":
            task, overrides = data_overrides(value)
            out += overrides
        elif name == "imgsz":
            out.append(
                f"data.image_size=[{value},{value}]" if "," not in value else f"data.image_size=[{value}]"
            )
        else:
            out.append(item)
    given = any(i.startswith(("task=", "config=", "--config")) for i in out)
    return out + ([f"task={task}"] if task and not given else [])


def _train_config(items: list[str]) -> type[BaseModel]:
    from train.__main__ import task_of
    from train.task import get_task

    config = next((i.partition("=")[2] for i in items if i.startswith("config=")), None)
    return get_task(task_of(config, items)).config_type


def _site_config(items: list[str]) -> type[BaseModel]:
    return importlib.import_module("edge_runtime.config").SiteConfig


def _doctor_config(items: list[str]) -> type[BaseModel]:
    return importlib.import_module("train.doctor").DoctorConfig


TRAIN_ALIASES = {
    "model": "model.name",
    "epochs": "optim.epochs",
    "batch": "optim.batch_size",
    "lr": "optim.lr",
}
SITE_ALIASES = {"model": "model.bundle", "bundle": "model.bundle", "artifact": "model.artifact"}

register(
    Verb(
        "train",
        "fine-tune any task (data=, model=, epochs=, imgsz=, or any config key)",
        "train.__main__",
        command="fit",
        aliases=TRAIN_ALIASES,
        prepare=_train_items,
        config=_train_config,
    )
)
register(
    Verb("val", "evaluate a checkpoint or bundle on a split of its data (model=, data=, split=)", "adit.val")
)
register(
    Verb(
        "predict",
        "run a checkpoint or bundle on images or a video; annotated images + JSON",
        "adit.predict",
        aliases={"source": "source"},
    )
)
register(
    Verb(
        "export",
        "checkpoint -> verified bundle: ONNX, OpenVINO, INT8, gated",
        "export.__main__",
        parser="_parser",
        command="build",
        aliases={"model": "checkpoint"},
    )
)
register(
    Verb(
        "verify",
        "check a bundle's digests and run each artifact once (no torch)",
        "edge_runtime.measure.cli",
        command="verify",
        aliases={"model": "bundle"},
        edge=True,
    )
)
register(
    Verb(
        "bench",
        "every shipped artifact on this CPU: latency p50/p90/p99, throughput, memory, top-1 "
        "(no torch); checkpoint=/video= run the workstation benchmark",
        "edge_runtime.measure.cli",
        command="bench",
        aliases={"model": "bundle"},
        edge=True,
    )
)
register(
    Verb(
        "promote",
        "switch the running daemon to its shadow candidate; it rolls back by itself on failed health",
        "edge_runtime.promote_cli",
        aliases={"site": "config", "model": "bundle"},
        edge=True,
    )
)
register(
    Verb(
        "select",
        "re-decide the recommended artifact for this CPU and record it (no torch)",
        "edge_runtime.measure.cli",
        command="select",
        aliases={"model": "bundle"},
        edge=True,
    )
)
register(
    Verb(
        "run",
        "run the site's cameras and machines (the daemon)",
        "edge_runtime.cli",
        parser="_parser",
        command="run",
        aliases=SITE_ALIASES,
        config=_site_config,
        edge=True,
    )
)
register(
    Verb(
        "replay",
        "run every frame of a video deterministically, optionally against truth",
        "edge_runtime.cli",
        parser="_parser",
        command="replay",
        aliases={**SITE_ALIASES, "source": "video"},
        config=_site_config,
        edge=True,
    )
)
register(
    Verb(
        "doctor",
        "data-quality report of any layout, box sizes at image_size=/imgsz= (exit 1 on errors)",
        "train.__main__",
        command="doctor",
        aliases={"imgsz": "image_size"},  # as `adit train imgsz=N`: the size box sizes are judged at
        config=_doctor_config,
    )
)
register(Verb("synth", "write adit's generated mine data set", "train.synth.__main__"))
for _name in ("status", "rollout", "forget", "serve"):
    register(
        Verb(
            f"fleet-{_name}",
            f"fleet: `python -m edge_runtime.fleet {_name}`",
            "edge_runtime.fleet.cli",
            parser="_parser",
            command=_name,
            edge=True,
        )
    )

# `adit bench` keys that need the workstation benchmark (PyTorch baseline, pipeline, report)
WORKSTATION_BENCH = register(
    Verb(
        "bench-workstation",
        "the workstation benchmark: PyTorch eager against every artifact, pipeline, cameras, report.md/html",
        "benchmarks.__main__",
        parser="bench_parser",
        aliases={"model": "bundle"},
    )
)
WORKSTATION_BENCH_KEYS = ("checkpoint", "video", "site", "cameras", "data", "lang")
