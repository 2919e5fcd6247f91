"""Fine-tune a torchvision detector; evaluate with COCO mAP through edge_runtime's pre/post-processing."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader

from edge_runtime.bundle import InputSpec
from edge_runtime.detection import decode_boxes
from edge_runtime.preprocess import preprocess, read_image
from edge_runtime.yamlconfig import save_config
from train.dense import files_fingerprint, run_training, select_device
from train.detection.config import DetectTrainConfig
from train.detection.data import BoxSample, DetectionDataset, collate_detection, read_detection_split
from train.detection.metrics import coco_map
from train.detection.models import GRAPH_MIN_SCORE, build_detector, detector_normalisation


def postprocess_spec(score_threshold: float) -> dict[str, Any]:
    """The manifest's ``postprocess`` for a detector exported by ``DetectorForExport``."""
    return {
        "type": "boxes",
        "outputs": ["boxes", "scores", "labels"],
        "box_format": "xyxy",
        "coordinates": "input_pixels",
        "score_threshold": score_threshold,
        "min_score": GRAPH_MIN_SCORE,
        "batch": 1,
    }


@torch.no_grad()
def evaluate_detector(model: nn.Module, samples: list[BoxSample], spec: InputSpec, classes: list[str], device: torch.device) -> dict:
    """PyTorch predictions decoded exactly as the device decodes the exported model's."""
    model.eval()
    post = postprocess_spec(0.0)
    predictions, sizes = [], []
    for sample in samples:
        frame = read_image(sample.path)
        result = model([torch.from_numpy(preprocess(frame, spec)[0]).to(device)])[0]
        outputs = [result["boxes"].cpu().numpy(), result["scores"].cpu().numpy(), (result["labels"] - 1).cpu().numpy()]
        predictions.append(decode_boxes(outputs, frame.shape[:2], spec, classes, post, min_score=0.0))
        sizes.append(frame.shape[:2])
    return coco_map(samples, predictions, classes, sizes)


def fit_detector(config: DetectTrainConfig) -> dict[str, Any]:
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "config.yaml")
    data = config.data
    classes, train_samples = read_detection_split(data.root, "train", data.format, data.classes)
    splits = {split: read_detection_split(data.root, split, data.format, classes)[1] for split in ("val", "test")}
    mean, std = detector_normalisation(config.model.name)
    spec = InputSpec(size=data.image_size, resize=data.resize, colour="rgb", mean=mean, std=std)
    model = build_detector(
        config.model.name, len(classes), data.image_size, config.model.weights, config.model.weights_backbone, config.model.trainable_backbone_layers
    ).to(device)
    loader = DataLoader(
        DetectionDataset(train_samples, spec, config.augment, seed=config.seed),
        batch_size=config.optim.batch_size,
        shuffle=True,
        num_workers=data.workers,
        collate_fn=collate_detection,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=len(train_samples) > config.optim.batch_size,  # BatchNorm cannot train on a batch of one
    )

    def loss_fn(net: nn.Module, batch: tuple[list[torch.Tensor], list[dict]]) -> torch.Tensor:
        images, targets = batch
        losses = net([i.to(device) for i in images], [{k: v.to(device) for k, v in t.items()} for t in targets])
        return sum(losses.values())

    meta = {
        "task": "detect",
        "model": config.model.name,
        "classes": classes,
        "input": spec.model_dump(mode="json"),
        "postprocess": postprocess_spec(config.model.score_threshold),
        "dataset_fingerprint": files_fingerprint(s.path for s in train_samples + splits["val"] + splits["test"]),
    }
    return run_training(
        config=config,
        model=model,
        loader=loader,
        loss_fn=loss_fn,
        evaluate=lambda split: evaluate_detector(model, splits[split], spec, classes, device),
        metric="map50",
        meta=meta,
    )
