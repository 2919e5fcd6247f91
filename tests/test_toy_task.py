"""Adding a task is one module: a toy task registered here trains, exports, verifies and replays
through the one engine, the one bundle builder and the daemon, with nothing else changed.

The toy tells solid colours apart; its frames are made from the sample itself, so it needs no
files. It builds on the shared classifier block (measure, score, parity) like the built-in tasks.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import yaml
from pydantic import Field
from torch import nn

from edge_runtime.bundle import InputSpec, ModelInterface, load_bundle
from edge_runtime.cli import main as edge_main
from edge_runtime.postprocess_spec import ScoresPost
from edge_runtime.preprocess import preprocess
from export.__main__ import main as export_main
from export.build import ExportRequest, export_bundle
from train.config import DataSection, ModelConfig, OptimConfig, RunConfig
from train.data import KeyedDataset, fingerprint
from train.engine import fit
from train.models import BuiltModel, ModelRequest, register_model
from train.task import LossFn, TaskData, register_task
from train.tasks.base import ClassifierTask

COLOURS = {"red": (0, 0, 230), "green": (0, 230, 0), "blue": (230, 0, 0), "grey": (90, 90, 90)}


class ToyData(DataSection):
    workers: int = 0
    per_class: int = Field(10, ge=1, description="frames per class and split")


class ToyConfig(RunConfig):
    task: Literal["toy_colour"] = "toy_colour"
    data: ToyData = ToyData()
    model: ModelConfig = ModelConfig(name="toy_colour_net", weights="none")
    optim: OptimConfig = OptimConfig(epochs=8, batch_size=8, lr=0.05, warmup_epochs=0, backbone_lr_scale=1.0)


@register_model("classify", "toy_colour_net")
def build_toy_net(request: ModelRequest) -> BuiltModel:
    head = nn.Linear(8, request.num_classes)
    net = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)
    return BuiltModel(net, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), head=head)


def _frame(sample: tuple[int, int]) -> np.ndarray:
    """A noisy solid-colour BGR frame, a pure function of (class, seed)."""
    label, seed = sample
    noise = np.random.default_rng(seed).normal(0, 12, (40, 56, 3))
    return np.clip(np.array(list(COLOURS.values())[label]) + noise, 0, 255).astype(np.uint8)


def _load(
    spec: InputSpec, sample: tuple[int, int], rng: np.random.Generator | None
) -> tuple[torch.Tensor, int]:
    return torch.from_numpy(preprocess(_frame(sample), spec)[0]), sample[0]


@register_task
class ToyColour(ClassifierTask):  # a class per frame: the shared measure, score and parity of classifiers
    name = "toy_colour"
    config_type = ToyConfig

    def read_data(self, config: ToyConfig, root: Path | None = None) -> TaskData:
        n = config.data.per_class
        split = {
            s: [(c, 1000 * i + k) for c in range(len(COLOURS)) for k in range(n)]
            for i, s in enumerate(("train", "val", "test"))
        }
        return TaskData(
            list(COLOURS), split["train"], split["val"], split["test"], fingerprint([f"toy:{n}"]), "generated"
        )

    def frame(self, sample: tuple[int, int]) -> np.ndarray:
        return _frame(sample)

    def label(self, sample: tuple[int, int]) -> int:
        return sample[0]

    def train_set(self, config: ToyConfig, samples: Sequence[Any], interface: ModelInterface) -> KeyedDataset:
        return KeyedDataset(samples, partial(_load, interface.input), seed=config.seed)

    def interface(self, config: ToyConfig, data: TaskData, built: BuiltModel) -> ModelInterface:
        spec = InputSpec(size=(24, 24), mean=built.mean, std=built.std)
        return ModelInterface(task=self.name, classes=data.classes, input=spec, postprocess=ScoresPost())

    def loss_fn(self, config: ToyConfig, data: TaskData, device: torch.device) -> LossFn:
        return lambda model, images, labels: nn.functional.cross_entropy(model(images), labels)


def test_a_registered_toy_task_trains_exports_verifies_and_replays(tmp_path, colour_video, capsys):
    metrics = fit(ToyConfig(out=tmp_path / "train"))
    assert metrics["task"] == "toy_colour" and metrics["test"]["value"] >= 0.9  # solid colours: easy

    request = ExportRequest(
        tmp_path / "train" / "best.pt", tmp_path / "bundle", formats=("onnx-fp32", "openvino-fp32")
    )
    bundle = export_bundle(request)
    assert bundle.manifest.task == "toy_colour" and bundle.manifest.postprocess.type == "scores"
    assert [a.status for a in bundle.manifest.artifacts] == ["shipped", "shipped"]
    assert export_main(["verify", str(bundle.root)]) == 0

    site = {
        "model": {"bundle": str(bundle.root)},
        "cameras": [{"name": "cam1", "source": str(colour_video.path), "health": {"enabled": False}}],
        "rules": [
            {
                "name": f"{c}-rule",
                "labels": [c],
                "min_score": 0.6,
                "debounce": {"hits": 3, "window": 5},
                "cooldown_s": 2.0,
                "event_type": f"{c}_seen",
            }
            for c in ("red", "blue")
        ],  # fmt: skip
        "sinks": {"jsonl": {"path": str(tmp_path / "events.jsonl")}},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "http": {"port": 0},
    }
    (tmp_path / "site.yaml").write_text(yaml.safe_dump(site), encoding="utf-8")
    code = edge_main(
        [
            "replay",
            str(colour_video.path),
            "--config",
            str(tmp_path / "site.yaml"),
            "--expect",
            str(colour_video.truth_path),
        ]
    )
    assert code == 0, capsys.readouterr().out
    assert load_bundle(bundle.root).manifest.provenance["gate"]["metric"] == "top1"
