"""``adit predict model=CKPT|BUNDLE source=IMAGES|VIDEO out=DIR``: every image (or video frame) through the
model as the daemon runs it; each written annotated (``out/<name>.jpg``) and all predictions as JSON lines
(``out/predictions.jsonl``). A bundle needs no torch."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from adit.model_arg import open_model
from edge_runtime.cli_types import positive_int
from edge_runtime.errors import AditError, ConfigError
from edge_runtime.live import Seen
from edge_runtime.measure.labelled import IMAGE_SUFFIXES
from edge_runtime.postprocess import Classification, Detections, Prediction
from edge_runtime.preprocess import read_image
from edge_runtime.segmentation import Segmentation
from edge_runtime.sources import Frame
from edge_runtime.web.annotate import annotate


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="adit predict", description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="checkpoint (.pt) or bundle")
    parser.add_argument("--source", type=Path, required=True, help="an image, a folder of images, or a video")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for annotated images + predictions.jsonl"
    )
    parser.add_argument("--artifact", help="bundle artifact (default: the recommended one)")
    parser.add_argument("--width", type=positive_int, default=960, help="annotated images at most this wide")
    return parser


def frames(source: Path) -> Iterator[tuple[str, np.ndarray]]:
    """(name, BGR frame) of an image, a folder's images, or a video's frames."""
    if source.is_dir():
        for path in sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            yield path.stem, read_image(path)
    elif source.suffix.lower() in IMAGE_SUFFIXES:
        yield source.stem, read_image(source)
    else:
        capture = cv2.VideoCapture(str(source))
        if not capture.isOpened():
            raise ConfigError(f"source={source}: not an image, a folder of images or a readable video")
        index = 0
        while (ok := capture.read())[0]:
            yield f"{source.stem}-{index:06d}", ok[1]
            index += 1
        capture.release()


def as_json(prediction: Prediction) -> dict[str, object]:
    if isinstance(prediction, Classification):
        return {"label": prediction.label, "score": round(prediction.score, 4)}
    if isinstance(prediction, Detections):
        return {
            "objects": [
                {"label": o.label, "score": round(o.score, 4), "box": list(o.box)} for o in prediction.objects
            ]
        }
    if isinstance(prediction, Segmentation):
        return {"fractions": prediction.fractions}
    return {}


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if not args.source.exists():
            raise ConfigError(f"source={args.source}: no such file or folder")
        model, _, ran = open_model(args.model, args.artifact)
        args.out.mkdir(parents=True, exist_ok=True)
        count = 0
        with (args.out / "predictions.jsonl").open("w") as lines:
            for index, (name, image) in enumerate(frames(args.source)):
                prediction = model.postprocess(model.infer(model.prepare([image])), [image.shape[:2]])[0]
                lines.write(json.dumps({"source": name, **as_json(prediction)}) + "\n")
                seen = Seen(Frame("predict", index, 0.0, 0.0, image), prediction)
                cv2.imwrite(str(args.out / f"{name}.jpg"), annotate(seen, [], args.width))
                count += 1
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{count} frame(s) through {args.model} ({ran}): {args.out}/predictions.jsonl and annotated images")
    return 0
