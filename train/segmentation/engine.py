"""Fine-tune a torchvision segmenter; evaluate mIoU at frame resolution through edge_runtime."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from edge_runtime.bundle import InputSpec
from edge_runtime.preprocess import preprocess, read_image
from edge_runtime.segmentation import IGNORE_INDEX, decode_masks
from edge_runtime.yamlconfig import save_config
from train.dense import files_fingerprint, run_training, select_device
from train.segmentation.config import SegmentTrainConfig
from train.segmentation.data import (
    MaskDataset,
    MaskSample,
    collate_masks,
    read_classes,
    read_mask,
    read_mask_splits,
)
from train.segmentation.metrics import accumulate, iou_report
from train.segmentation.models import build_segmenter, segmenter_normalisation

POSTPROCESS = {"type": "mask", "output": "logits", "layout": "NCHW", "decode": "argmax", "coordinates": "input_pixels", "background": 0}


@torch.no_grad()
def evaluate_segmenter(model: nn.Module, samples: list[MaskSample], spec: InputSpec, classes: list[str], device: torch.device) -> dict:
    """PyTorch logits decoded exactly as the device decodes the exported model's, scored per frame pixel."""
    model.eval()
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    for sample in samples:
        frame = read_image(sample.path)
        logits = model(torch.from_numpy(preprocess(frame, spec)).to(device))["out"].cpu().numpy()
        predicted = decode_masks([logits], [frame.shape[:2]], spec, classes)[0].mask
        accumulate(matrix, frame_mask(sample, frame.shape[:2]), predicted)
    return iou_report(matrix, classes)


def frame_mask(sample: MaskSample, frame_hw: tuple[int, int]) -> np.ndarray:
    import cv2

    mask = read_mask(sample.mask)
    return mask if mask.shape == frame_hw else cv2.resize(mask, frame_hw[::-1], interpolation=cv2.INTER_NEAREST)


def fit_segmenter(config: SegmentTrainConfig) -> dict[str, Any]:
    torch.manual_seed(config.seed)
    device = select_device(config.device)
    config.out.mkdir(parents=True, exist_ok=True)
    save_config(config, config.out / "config.yaml")
    data = config.data
    classes = read_classes(data.root, data.classes)
    splits = read_mask_splits(data.root, config.seed, data.val_fraction, data.test_fraction)
    mean, std = segmenter_normalisation(config.model.name)
    spec = InputSpec(size=data.image_size, resize=data.resize, colour="rgb", mean=mean, std=std)
    model = build_segmenter(config.model.name, len(classes), config.model.weights, config.model.weights_backbone).to(device)
    loader = DataLoader(
        MaskDataset(splits["train"], spec, config.augment, seed=config.seed),
        batch_size=config.optim.batch_size,
        shuffle=True,
        num_workers=data.workers,
        collate_fn=collate_masks,
        generator=torch.Generator().manual_seed(config.seed),
        drop_last=len(splits["train"]) > config.optim.batch_size,  # BatchNorm cannot train on a batch of one
    )

    def loss_fn(net: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        images, labels = batch[0].to(device), batch[1].to(device)
        outputs = net(images)
        loss = F.cross_entropy(outputs["out"], labels, ignore_index=IGNORE_INDEX)
        if "aux" in outputs:
            loss = loss + 0.5 * F.cross_entropy(outputs["aux"], labels, ignore_index=IGNORE_INDEX)
        return loss

    every = splits["train"] + splits["val"] + splits["test"]
    meta = {
        "task": "segment",
        "model": config.model.name,
        "classes": classes,
        "input": spec.model_dump(mode="json"),
        "postprocess": POSTPROCESS,
        "splits": {split: [s.path.name for s in samples] for split, samples in splits.items()},
        "dataset_fingerprint": files_fingerprint([s.path for s in every] + [s.mask for s in every]),
    }
    return run_training(
        config=config,
        model=model,
        loader=loader,
        loss_fn=loss_fn,
        evaluate=lambda split: evaluate_segmenter(model, splits[split], spec, classes, device),
        metric="miou",
        meta=meta,
    )
