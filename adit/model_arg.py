"""``model=``: a training checkpoint (``.pt``, workstation) or a bundle (folder or ``.tar.gz``, anywhere),
opened as one ``Predictor`` so ``val`` and ``predict`` treat both alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_runtime.bundle import load_bundle
from edge_runtime.errors import ConfigError
from edge_runtime.model import Predictor, load_model


def is_checkpoint(path: Path) -> bool:
    return path.suffix in (".pt", ".pth")


def open_model(path: Path, artifact: str | None = None) -> tuple[Predictor, dict[str, Any], str]:
    """(predictor, the training configuration it came from, what ran: the artifact or "pytorch")."""
    if not path.exists():
        raise ConfigError(f"model={path}: no such checkpoint or bundle")
    if is_checkpoint(path):
        import torch

        from train.checkpoint import read_checkpoint
        from train.evaluation import torch_infer
        from train.task import get_task

        checkpoint = read_checkpoint(path)
        module = get_task(checkpoint.meta.task).load(checkpoint)
        infer = torch_infer(module, torch.device("cpu"))
        return (
            Predictor(checkpoint.meta.interface, infer, name=str(path)),
            dict(checkpoint.meta.config),
            "pytorch",
        )
    bundle = load_bundle(path)
    model = load_model(bundle, artifact)
    training = bundle.manifest.provenance.get("training_config")
    return model, training if isinstance(training, dict) else {}, model.artifact.key
