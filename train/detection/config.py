"""The detection training configuration (``task: detect``), validated at start-up."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from edge_runtime.postprocess_spec import DEFAULT_SCORE_THRESHOLD
from train.config import DataSection, DenseModelConfig, DenseRunConfig


class DetectDataConfig(DataSection):
    root: Path = Field(
        Path("runs/demo/data/detect"), description="YOLO root (data.yaml), COCO root, or VOC root"
    )
    format: Literal["yolo", "coco", "voc"] = "yolo"
    classes: list[str] | None = Field(None, description="class order; default: from the data")
    image_size: tuple[int, int] = Field((320, 320), description="model input (height, width)")
    resize: Literal["stretch", "letterbox"] = "stretch"


class DetectModelConfig(DenseModelConfig):
    name: str = "fasterrcnn_mobilenet_v3_large_320_fpn"
    trainable_backbone_layers: int | None = Field(None, ge=0, le=6)
    score_threshold: float = Field(
        DEFAULT_SCORE_THRESHOLD, ge=0, le=1, description="the device's default score filter (manifest)"
    )


class DetectTrainConfig(DenseRunConfig):
    task: Literal["detect"] = "detect"
    out: Path = Path("runs/demo/train-detect")
    data: DetectDataConfig = DetectDataConfig()
    model: DetectModelConfig = DetectModelConfig()
