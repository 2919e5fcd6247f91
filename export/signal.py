"""Signal checkpoint -> verified bundle (task ``signal``), INT8 through the same routes and gate.

The manifest carries the ``signal`` section (sampling rate, window, spectrogram settings and
normalisation), so the device rebuilds the exact input with ``edge_runtime.signal``. Every
artifact is measured through ``BundleModel`` on the held-out test segments of the load the
checkpoint was tuned for; an INT8 artifact ships only within the accuracy budget.

``python -m export.signal --checkpoint runs/signal/cwru/target_k20.pt --out runs/signal/cwru/bundle``
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch

import train.signal.models  # noqa: F401  (registers signal_cnn1d)
from edge_runtime.bundle import (
    Bundle,
    InputSpec,
    Manifest,
    load_bundle,
    write_manifest,
)
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.model import BundleModel
from edge_runtime.signal import SignalSpec, prepare_windows
from export.build import apply_gate, summary
from export.calibration import CalibrationSet
from export.errors import ExportError
from export.gate import GateBudget
from export.manifest_files import artifact_entry
from export.onnx_export import check_parity, export_onnx
from export.openvino_export import convert_to_ir
from export.provenance import code_version
from export.quantize import quantize_onnx, quantize_openvino
from train.metrics import classification_report
from train.models import build_model
from train.signal.config import SignalTrainConfig
from train.signal.engine import load_recordings
from train.signal.split import Windows, split_windows, take_per_class

log = logging.getLogger(__name__)
SIGNAL_FORMATS = ("onnx-fp32", "onnx-int8", "openvino-fp32", "openvino-int8")


def evaluate_signal(model: BundleModel, data: Windows, batch_size: int = 64) -> dict:
    """Top-1 and per-class recall of one artifact on sample windows, through edge_runtime."""
    predictions = [c.index for i in range(0, len(data), batch_size) for c in model.classify(data.x[i : i + batch_size])]
    return classification_report(data.y, np.array(predictions), model.manifest.classes)


def _held_out(config: SignalTrainConfig, classes: list[str], load: int) -> tuple[Windows, Windows]:
    """(train, test) windows of ``load``; the split is the one training used."""
    recordings = [r for r in load_recordings(config) if r.load == load]
    splits = split_windows(recordings, classes, config.features.window, config.features.hop, config.data.fractions)
    return splits["train"], splits["test"]


def export_signal_bundle(checkpoint_path: Path, out: Path, budget: GateBudget = GateBudget(), calibration_size: int = 100) -> Bundle:
    if not checkpoint_path.is_file():
        raise ExportError(f"{checkpoint_path}: checkpoint not found")
    meta = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    if meta.get("task") != "signal":
        raise ExportError(f"{checkpoint_path}: not a signal checkpoint (task {meta.get('task')!r}); use `python -m export build`")
    config = SignalTrainConfig.model_validate(meta["config"])
    spec = SignalSpec.model_validate(meta["signal"])
    classes = list(meta["classes"])
    model = build_model(meta["model"], len(classes), "none").module
    model.load_state_dict(meta["state_dict"])
    model.eval()
    train, test = _held_out(config, classes, meta["eval_load"])

    out.mkdir(parents=True, exist_ok=True)
    calib = take_per_class(train, max(1, calibration_size // len(classes)), config.seed)
    calibration = CalibrationSet(batches=[prepare_windows(w[None], spec) for w in calib.x], files=list(calib.source))
    onnx_fp32 = export_onnx(model, prepare_windows(test.x[:1], spec), out / "model.onnx")
    parity = check_parity(model, onnx_fp32, prepare_windows(test.x[:16], spec))
    produced = {
        "onnx-fp32": onnx_fp32,
        "onnx-int8": quantize_onnx(onnx_fp32, calibration, out / "model-int8.onnx"),
        "openvino-fp32": convert_to_ir(onnx_fp32, out / "openvino" / "model.xml", fp16=False),
    }
    produced["openvino-int8"] = quantize_openvino(produced["openvino-fp32"], calibration, out / "openvino-int8" / "model.xml")
    artifacts = [artifact_entry(out, key, path) for key, path in produced.items()]
    height, width = (1, spec.window) if spec.representation == "waveform" else spec.image_size
    manifest = Manifest(
        name=out.name,
        task="signal",
        classes=classes,
        input=InputSpec(size=(height, width), scale=1.0),
        signal=spec,
        postprocess={"softmax": True},
        artifacts=artifacts,
        provenance={
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "code_version": code_version(),
            "model": meta["model"],
            "checkpoint": str(checkpoint_path),
            "training_config": meta["config"],
            "evaluation_set": {"load": meta["eval_load"], "windows": len(test), "split": "test segments"},
            "calibration_set": {"windows": len(calibration), "fingerprint": calibration.fingerprint, "seed": config.seed},
            "onnx_parity": parity.as_dict(),
        },
    )
    write_manifest(out, manifest)
    bundle = load_bundle(out)
    measured = {}
    for artifact in bundle.manifest.artifacts:
        runner = BundleModel(bundle, artifact)
        measured[artifact.key] = (evaluate_signal(runner, test), runner.runtime_precision)
        log.info("%s: top-1 %.4f", artifact.key, measured[artifact.key][0]["top1"])
    write_manifest(out, apply_gate(manifest, measured, budget))
    return load_bundle(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m export.signal", description="Export a signal checkpoint to a gated bundle.")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--max-drop", type=float, default=0.5, help="INT8 top-1 budget in percentage points")
    parser.add_argument("--calibration-size", type=int, default=100)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        bundle = export_signal_bundle(args.checkpoint, args.out, GateBudget(max_top1_drop_pp=args.max_drop), args.calibration_size)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(bundle))
    return 0


if __name__ == "__main__":
    sys.exit(main())
