"""Detection recipe experiments on a fixed CPU-time budget (issue 14), until detection trains in the
shared task engine (issue 13).

One run: a detector from ``train.detection.lite`` (or any ``detect`` model name), the recipe
pieces of ``train.finetune`` (frozen BatchNorm, frozen stem, backbone learning-rate multiplier,
warm-up + cosine over the time budget, weight EMA), box-aware augmentation
(``train.detection.boxaug``), the light-gated photometric policy and class-balanced sampling;
trains for ``--minutes`` of wall time, then reports COCO mAP through edge_runtime's preprocessing
and decoding (``train.evaluation.evaluate`` with the detect task) on the chosen splits.

    nice -n 15 python -m benchmarks.detect_recipe --data ../shared/data/ppe_construction_rf100 \
        --model fcos_efficientnet_lite0_fpn --minutes 15 --out runs/ppe/fcos-l0
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.geometry import input_map
from edge_runtime.postprocess_spec import BoxesPost
from edge_runtime.preprocess import preprocess, read_image
from train.augment import AugmentConfig, augment
from train.detection.balance import repeat_factors
from train.detection.boxaug import BoxAugmentConfig, Boxed, augment_boxes
from train.detection.data import BoxSample, read_detection_split
from train.evaluation import evaluate, module_predictor
from train.finetune import freeze_batchnorm, freeze_stem, param_groups, warmup_cosine, weight_ema
from train.models import ModelRequest, build_model
from train.photometric import light_statistics, photometric_policy
from train.sampling import EpochSampler
from train.task import get_task

NOMINAL_STEPS = 10_000  # the schedule runs over the time budget, in these units


class Frames(Dataset):
    """In-memory training frames -> (input tensor, target), augmented per (epoch, index)."""

    def __init__(
        self,
        samples: list[BoxSample],
        spec: InputSpec,
        boxes: BoxAugmentConfig,
        photo: AugmentConfig | None,
        seed: int,
    ):
        self.frames = [read_image(s.path) for s in samples]
        self.samples, self.spec, self.boxes, self.photo, self.seed = samples, spec, boxes, photo, seed

    def __len__(self) -> int:
        return len(self.samples)

    def _item(self, index: int) -> Boxed:
        return Boxed(self.frames[index], self.samples[index].boxes, self.samples[index].labels)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        epoch, index = key
        rng = np.random.default_rng([self.seed, epoch, index])
        item = augment_boxes(
            self._item(index), self.boxes, rng, lambda: self._item(int(rng.integers(len(self))))
        )
        image = augment(item.image, self.photo, rng) if self.photo else item.image
        boxes = input_map(image.shape[:2], self.spec).to_input(item.boxes)
        height, width = self.spec.size
        boxes = np.clip(boxes, 0, [width, height, width, height]).astype(np.float32)
        keep = (boxes[:, 2] - boxes[:, 0] >= 1) & (boxes[:, 3] - boxes[:, 1] >= 1)
        target = {
            "boxes": torch.from_numpy(boxes[keep]).reshape(-1, 4),
            "labels": torch.from_numpy(item.labels[keep] + 1),
        }
        return torch.from_numpy(preprocess(image, self.spec)[0]), target


def _collate(batch: list) -> tuple[list[torch.Tensor], list[dict[str, torch.Tensor]]]:
    return [image for image, _ in batch], [target for _, target in batch]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--model", default="fcos_efficientnet_lite0_fpn")
    parser.add_argument("--weights", default="DEFAULT", help="DEFAULT (ImageNet backbone) or none (scratch)")
    parser.add_argument("--size", type=int, nargs=2, default=(320, 320), metavar=("H", "W"))
    parser.add_argument("--resize", choices=("stretch", "letterbox"), default="letterbox")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--backbone-lr-scale", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.05)
    parser.add_argument("--freeze-bn", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--freeze-stages", type=int, default=1, help="stem plus this many stages stay frozen")
    parser.add_argument("--ema", type=float, default=0.998, help="EMA decay; 0 disables")
    parser.add_argument(
        "--clip",
        type=float,
        default=0.0,
        help="gradient-norm clip; 0 disables",
    )
    parser.add_argument("--warmup", type=float, default=0.03, help="share of the budget in linear warm-up")
    parser.add_argument("--hflip", type=float, default=0.5)
    parser.add_argument("--scale-jitter", type=float, default=0.5)
    parser.add_argument("--mosaic", type=float, default=0.0)
    parser.add_argument("--balance", type=float, default=0.0, help="repeat-factor threshold; 0 disables")
    parser.add_argument("--photometric", choices=("auto", "on", "off"), default="auto")
    parser.add_argument("--minutes", type=float, required=True, help="training wall-time budget")
    parser.add_argument("--eval", nargs="+", default=["val"], help="splits to evaluate at the end")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    classes, train = read_detection_split(args.data, "train", "yolo")
    request = ModelRequest(len(classes), weights=args.weights, image_size=tuple(args.size))
    built = build_model("detect", args.model, request)
    spec = InputSpec(size=tuple(args.size), resize=args.resize, colour="rgb", mean=built.mean, std=built.std)
    photo_base = AugmentConfig(resized_crop=0.0, rotate=0.0, hflip=0.0)
    stats = light_statistics([s.path for s in train])
    photo = {"on": photo_base, "off": None, "auto": photometric_policy(stats, photo_base)}[args.photometric]

    model = built.module
    body = model.backbone.body
    if args.freeze_bn:
        model.backbone.body = body = freeze_batchnorm(body)
    if args.freeze_stages >= 0:
        freeze_stem(body, args.freeze_stages)
    groups = param_groups(model, body, args.lr, args.backbone_lr_scale, args.weight_decay)
    optimizer = torch.optim.AdamW(groups)
    scheduler = warmup_cosine(optimizer, NOMINAL_STEPS, int(NOMINAL_STEPS * args.warmup))
    ema = weight_ema(model, args.ema) if args.ema > 0 else None

    dataset = Frames(
        train,
        spec,
        BoxAugmentConfig(hflip=args.hflip, scale_jitter=args.scale_jitter, mosaic=args.mosaic),
        photo,
        args.seed,
    )
    weights = (
        repeat_factors([s.labels for s in train], len(classes), args.balance) if args.balance > 0 else None
    )
    sampler = EpochSampler(len(dataset), seed=args.seed, weights=weights)
    loader = DataLoader(
        dataset,
        batch_size=args.batch,
        sampler=sampler,
        num_workers=1,
        collate_fn=_collate,
        drop_last=True,
        persistent_workers=True,
    )

    budget = args.minutes * 60
    started = time.perf_counter()
    step, epoch, losses, done = 0, 0, [], False
    model.train()
    while not done:
        sampler.set_epoch(epoch)
        for images, targets in loader:
            parts = model(images, targets)
            loss = sum(parts.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if args.clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            optimizer.step()
            step += 1
            elapsed = time.perf_counter() - started
            scheduler.step_update(min(NOMINAL_STEPS, int(NOMINAL_STEPS * elapsed / budget)))
            if ema is not None:
                ema.update(model, step=step)
            losses.append(float(loss.detach()))
            if step % 10 == 0:
                detail = " ".join(f"{k} {float(v):.3f}" for k, v in parts.items())
                summary = f"step {step} epoch {epoch} {elapsed / 60:.1f} min loss {np.mean(losses[-10:]):.3f}"
                print(f"{summary} ({detail})", flush=True)
            if elapsed >= budget:
                done = True
                break
        epoch += 1
    train_seconds = time.perf_counter() - started
    final = ema.module if ema is not None else model
    task = get_task("detect")
    interface = ModelInterface(task="detect", classes=classes, input=spec, postprocess=BoxesPost())
    predictor = module_predictor(interface, task.export_module(final), torch.device("cpu"), False)
    results = {}
    for split in args.eval:
        _, samples = read_detection_split(args.data, split, "yolo", classes)
        results[split] = evaluate(task, predictor, samples).model_dump()
    report = {
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "light": vars(stats) | {"daylight": stats.daylight},
        "photometric": photo.model_dump() if photo else None,
        "steps": step,
        "epochs": step * args.batch / len(dataset),
        "train_minutes": train_seconds / 60,
        "seconds_per_step": train_seconds / max(step, 1),
        "loadavg": os.getloadavg(),
        "final_loss": float(np.mean(losses[-50:])),
        "results": {
            split: {"map50": r["value"], "map": r["figures"]["map"], "per_class": r["per_class"]}
            for split, r in results.items()
        },
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    torch.save({"state_dict": final.state_dict()}, args.out / "model.pt")
    print(
        json.dumps(
            {
                "out": str(args.out),
                "steps": step,
                "s/step": report["seconds_per_step"],
                **{s: r["value"] for s, r in results.items()},
            }
        )
    )


if __name__ == "__main__":
    main()
