"""The running-belt video and its ground truth: ``belt.avi``, ``truth.jsonl`` and ``frames.csv``.

One long stretch of coal (a tape) scrolls past a fixed camera at belt speed while the script's
events happen. Whether something counts as seen in a frame is measured from its position (at
least ``VISIBLE_ENOUGH`` of its extent in frame), and load from the drawn coal mask.

The belt's load follows ``loadplan`` (light, normal and overloaded stretches). Its truth for the
belt-load monitor is the coal share of the visible belt region (``belt_region.json``, 0..1 of the
frame) in each frame's final mask, written as ``frames.csv``'s ``belt_load`` column; runs of at least
``OVERLOAD_MIN_S`` above ``OVERLOAD_AT`` are the intervals of ``belt_truth.jsonl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from edge_runtime.beltload import load_fraction, region_mask
from train.synth.backdrop import sample_backdrop
from train.synth.camera import sample_camera
from train.synth.errors import SynthError
from train.synth.geometry import BeltView, sample_view
from train.synth.labels import COAL
from train.synth.load import BED_STEP_M, BeltLoad, sample_load
from train.synth.loadplan import DRIFT, planned_level
from train.synth.objects import BeltObject, sample_object
from train.synth.render import Renderer
from train.synth.scene import Stage
from train.synth.seeding import item_rng
from train.synth.textures import smooth_series
from train.synth.timeline import BELT_SPEED_MPS, EmptyStretch, Event, Passage, Visit, plan_events

VIDEO_SIZE = (640, 360)
FPS = 15
VISIBLE_M = 7.0
VISIBLE_ENOUGH = 0.6  # share of a thing's extent that must be in frame for it to count as seen
EMPTY_BELOW = 0.03  # a frame whose coal covers less of the belt than this shows an empty belt
# The frame label when several things are seen at once: the most urgent wins.
PRIORITY = ("person_near_belt", "foreign_object", "oversized_lump")
REGION_INSET = 0.05  # share of the belt's width left out of the load region at either edge
OVERLOAD_AT = 0.8  # belt_truth.jsonl: the belt is overloaded where the region's coal share reaches this
OVERLOAD_MIN_S = 1.0  # ... for at least this long


@dataclass(frozen=True, eq=False)
class Tape:
    """What the belt carries for the whole video, at its time-0 positions."""

    load: BeltLoad
    objects: tuple[BeltObject, ...]
    outlines: dict[int, np.ndarray]  # event index -> belt-metre outline of what that passage carries


@dataclass(frozen=True, eq=False)
class VideoScript(Stage):
    """Everything the video shows, decided before a frame is drawn."""

    events: tuple[Event, ...]
    tape: Tape
    frames: int

    def seen(self, index: int, frame: int) -> bool:
        """Whether event ``index`` is in frame enough to be recognised (empty stretches: see the load)."""
        event, t = self.events[index], frame / FPS
        if isinstance(event, Visit):
            person = event.person_at(t, self.view)
            return person is not None and _in_frame(person.bounds(), self.view) >= VISIBLE_ENOUGH
        if isinstance(event, Passage):
            points = self.view.project(self.tape.outlines[index] + (BELT_SPEED_MPS * t, 0.0))
            (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
            return _in_frame((x0, y0, x1, y1), self.view) >= VISIBLE_ENOUGH
        return False


def video_script(seed: int, seconds: float) -> VideoScript:
    """The camera, roadway, events and belt contents of the video for ``seed``."""
    rng = item_rng(seed, "video", 0)
    view = sample_view(rng, *VIDEO_SIZE, length_m=VISIBLE_M, mirror=False)
    backdrop = sample_backdrop(rng)
    camera = sample_camera(rng)
    camera = replace(camera, ambient=max(camera.ambient, 0.35), haze=min(camera.haze, 0.2), blur_px=3.0)
    events = plan_events(rng, view, seconds)
    return VideoScript(
        view, backdrop, camera, events, _build_tape(rng, view, events, seconds), round(seconds * FPS)
    )


def write_video(folder: Path, seed: int, seconds: float) -> dict[str, object]:
    """Render and write the video and its truth files; returns frame and event counts."""
    script = video_script(seed, seconds)
    view, tape = script.view, script.tape
    renderer = Renderer(view, script.backdrop, script.camera, seg=True)
    load, belt_load = np.zeros(script.frames), np.zeros(script.frames)
    region = belt_region(view)
    region_pixels = region_mask(region, (view.height, view.width))
    folder.mkdir(parents=True)
    path = folder / "belt.avi"
    writer = cv2.VideoWriter(
        str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"), FPS, VIDEO_SIZE
    )
    if not writer.isOpened():
        raise SynthError(f"{path}: OpenCV cannot write MJPG video here")
    try:
        for frame in range(script.frames):
            t, shift = frame / FPS, BELT_SPEED_MPS * frame / FPS
            people = [
                p for e in script.events if isinstance(e, Visit) and (p := e.person_at(t, view)) is not None
            ]
            carried = [o for o in tape.objects if -o.reach() < o.x + shift < view.length_m + o.reach()]
            noise_seed = (script.camera.noise_seed, frame)
            shot = renderer.render(tape.load, carried, people, noise_seed=noise_seed, shift=shift)
            writer.write(shot.image)
            load[frame] = shot.load_fraction
            belt_load[frame] = load_fraction(shot.seg, region_pixels, COAL)
    finally:
        writer.release()
    _check_video(path, script.frames)
    seen = np.array(
        [[script.seen(i, frame) for frame in range(script.frames)] for i in range(len(script.events))]
    )
    labels = _frame_labels(script.events, seen, load)
    truth = _truth(script.events, seen, labels)
    (folder / "truth.jsonl").write_text("".join(json.dumps(item) + "\n" for item in truth))
    rows = "".join(
        f"{frame},{label},{fraction:.4f},{belt:.4f}\n"
        for frame, (label, fraction, belt) in enumerate(zip(labels, load, belt_load, strict=True))
    )
    (folder / "frames.csv").write_text("frame,label,load_fraction,belt_load\n" + rows)
    (folder / "belt_region.json").write_text(json.dumps({"region": region}) + "\n")
    overloads = _overloads(belt_load)
    (folder / "belt_truth.jsonl").write_text("".join(json.dumps(item) + "\n" for item in overloads))
    return {
        "frames": script.frames,
        "fps": FPS,
        "size": list(VIDEO_SIZE),
        "events": len(truth),
        "overloads": len(overloads),
    }


def belt_region(view: BeltView) -> list[tuple[float, float]]:
    """The belt's carrying width as a 0..1 polygon (far-left, far-right, near-right, near-left).

    Inset ``REGION_INSET`` of the belt's width from either edge, where a site would draw it: between
    the skirt boards, not on the belt's bare rims that even a full load leaves uncovered.
    """
    corners = []
    for x, near in ((0.0, False), (view.width, False), (view.width, True), (0.0, True)):
        far_y, near_y = float(view.edge_y(x, near=False)), float(view.edge_y(x, near=True))
        inset = REGION_INSET * (near_y - far_y)
        y = (near_y - inset if near else far_y + inset) / view.height
        corners.append((round(x / view.width, 3), round(min(max(y, 0.0), 1.0), 3)))
    return corners


def _overloads(belt_load: np.ndarray) -> list[dict[str, object]]:
    """Runs of frames at or above ``OVERLOAD_AT`` lasting ``OVERLOAD_MIN_S``, as truth intervals."""
    above = np.concatenate([[0], (belt_load >= OVERLOAD_AT).astype(np.int8), [0]])
    edges = np.flatnonzero(np.diff(above))
    return [
        {"type": "belt_overload", "label": "overload", "start_frame": int(start), "end_frame": int(stop - 1)}
        for start, stop in zip(edges[::2], edges[1::2], strict=True)
        if stop - start >= OVERLOAD_MIN_S * FPS
    ]


def _build_tape(rng: np.random.Generator, view: BeltView, events: tuple[Event, ...], seconds: float) -> Tape:
    """Coal at the plan's level (drifting a little), gaps for empty stretches, and the carried things."""
    xs = np.arange(-BELT_SPEED_MPS * seconds - 1.0, view.length_m + 1.0, BED_STEP_M)
    drift = DRIFT * smooth_series(rng, len(xs), 10.0 / BED_STEP_M)
    level = np.clip(planned_level(xs, view, seconds) + drift, 0.15, 1.0)
    for event in events:
        if isinstance(event, EmptyStretch):
            lo, hi = event.tape_range(view)
            level[(xs > lo - 0.2) & (xs < hi + 0.2)] = 0.0
    passages = {i: e for i, e in enumerate(events) if isinstance(e, Passage)}
    big = {i: (e.tape_x(view), view.belt_m * 0.5) for i, e in passages.items() if e.kind == "oversized_lump"}
    load = sample_load(rng, xs, level, view.belt_m, big_at=list(big.values()))
    objects = {
        i: sample_object(rng, e.kind, e.tape_x(view), view.belt_m * rng.uniform(0.4, 0.6))
        for i, e in passages.items()
        if e.kind != "oversized_lump"
    }
    outlines = {i: np.concatenate([obj.placed(part) for part in obj.parts]) for i, obj in objects.items()}
    for i, (x, _) in big.items():
        stored = int(np.argmin(np.abs(load.big.centres[:, 0] - x)))
        outlines[i] = load.big.centres[stored] + load.big.outlines[stored]
    return Tape(load, tuple(objects.values()), outlines)


def _in_frame(bounds: tuple[float, float, float, float], view: BeltView) -> float:
    """Share of a box's area inside the frame."""
    x0, y0, x1, y1 = bounds
    inside = max(0.0, min(x1, view.width) - max(x0, 0.0)) * max(0.0, min(y1, view.height) - max(y0, 0.0))
    area = (x1 - x0) * (y1 - y0)
    return inside / area if area > 0 else 0.0


def _frame_labels(events: tuple[Event, ...], seen: np.ndarray, load: np.ndarray) -> list[str]:
    """The belt state each frame shows: the most urgent thing seen, else empty or normal belt."""
    labels = []
    for frame in range(seen.shape[1]):
        present = {event.label for event, row in zip(events, seen, strict=True) if row[frame]}
        urgent = [label for label in PRIORITY if label in present]
        labels.append(urgent[0] if urgent else "empty_belt" if load[frame] < EMPTY_BELOW else "normal_load")
    return labels


def _truth(events: tuple[Event, ...], seen: np.ndarray, labels: list[str]) -> list[dict[str, object]]:
    """One record per event that was actually seen, with its first and last frame (inclusive).

    An empty stretch is seen where the measured load says the belt is empty, within a second of
    the time the script planned for it.
    """
    empty = np.array([label == "empty_belt" for label in labels])
    truth = []
    for event, row in zip(events, seen, strict=True):
        if isinstance(event, EmptyStretch):
            planned = np.zeros_like(empty)
            planned[
                max(0, round((event.start_s - 1) * FPS)) : round((event.start_s + event.seconds + 1) * FPS)
            ] = True
            row = empty & planned
        frames = np.flatnonzero(row)
        if len(frames):
            truth.append(
                {
                    "type": event.event_type,
                    "label": event.label,
                    "start_frame": int(frames[0]),
                    "end_frame": int(frames[-1]),
                }
            )
    return truth


def _check_video(path: Path, frames: int) -> None:
    """Read the file back: the container must report every frame and the first must decode."""
    capture = cv2.VideoCapture(str(path))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, _ = capture.read()
    finally:
        capture.release()
    if not ok or count != frames:
        raise SynthError(
            f"{path}: wrote {frames} frames but OpenCV reads back {count} (first frame ok: {ok})"
        )
