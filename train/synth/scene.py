"""Scene descriptions, and how each data set samples them.

A ``Scene`` is pure data (camera pose, roadway, coal, foreign objects, people, camera effects) and
``render.render`` draws it. Keeping it data is what lets a test drop one element and re-render.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from train.synth.backdrop import Backdrop, sample_backdrop
from train.synth.camera import Camera, LightPool, sample_camera
from train.synth.errors import SynthError
from train.synth.geometry import BeltView, sample_view
from train.synth.labels import BELT_STATES, FOREIGN_KINDS
from train.synth.load import BED_STEP_M, BeltLoad, sample_load
from train.synth.objects import BeltObject, sample_object
from train.synth.people import Person, sample_person
from train.synth.textures import smooth_series

STILL_MARGIN_M = 0.6  # coal is laid a little beyond both ends of the visible belt


@dataclass(frozen=True, eq=False)
class Stage:
    """Where it is filmed: the belt as the camera sees it, the roadway behind it, the camera."""

    view: BeltView
    backdrop: Backdrop
    camera: Camera


@dataclass(frozen=True, eq=False)
class Scene(Stage):
    """One still: everything ``render`` needs, and nothing random left to draw."""

    load: BeltLoad
    objects: tuple[BeltObject, ...]
    people: tuple[Person, ...]


def classify_scene(rng: np.random.Generator, state: str, width: int, height: int) -> Scene:
    """A frame whose belt state is ``state`` (one of ``labels.BELT_STATES``) and nothing else."""
    if state not in BELT_STATES:
        raise SynthError(f"unknown belt state {state!r}; expected one of {BELT_STATES}")
    view, backdrop, camera = sample_view(rng, width, height), sample_backdrop(rng), sample_camera(rng)
    if state == "empty_belt" or (state == "person_near_belt" and rng.random() < 0.2):
        level = 0.0
    else:
        level = rng.uniform(0.2, 1.0) if state == "normal_load" else rng.uniform(0.15, 0.85)
    big = [_big_lump_spot(rng, view)] if state == "oversized_lump" else []
    load = _still_load(rng, view, level, big_at=big, strays=int(rng.integers(0, 12)) if level == 0 else 0)
    objects = _objects(rng, view, int(rng.integers(1, 3)), big) if state == "foreign_object" else ()
    crowd = 1 if rng.random() < 0.8 else 2
    people = _people(rng, view, crowd, heights=(0.45, 0.85)) if state == "person_near_belt" else ()
    return Scene(view, backdrop, _lit(camera, view, people), load, objects, people)


def detect_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A frame with any mix of people (with or without hard hats), foreign objects and a big lump."""
    view, backdrop, camera, load, big = _stage_and_load(rng, width, height, low=0.1, big_p=0.35)
    objects = _objects(rng, view, int(rng.choice(3, p=(0.35, 0.4, 0.25))), big)
    people = _people(
        rng, view, int(rng.choice(4, p=(0.35, 0.35, 0.2, 0.1))), heights=(0.25, 0.85), helmet_p=0.55
    )
    return Scene(view, backdrop, _lit(camera, view, people), load, objects, people)


def segment_scene(rng: np.random.Generator, width: int, height: int) -> Scene:
    """A frame of belt and coal only (any load, sometimes a big lump): what a load estimator sees."""
    view, backdrop, camera, load, _ = _stage_and_load(rng, width, height, low=0.05, big_p=0.15)
    return Scene(view, backdrop, camera, load, (), ())


def _stage_and_load(
    rng: np.random.Generator, width: int, height: int, *, low: float, big_p: float
) -> tuple[BeltView, Backdrop, Camera, BeltLoad, list[tuple[float, float]]]:
    """A stage and a still load: empty one time in seven, else ``low``..1 full, a big lump with ``big_p``."""
    view, backdrop, camera = sample_view(rng, width, height), sample_backdrop(rng), sample_camera(rng)
    level = 0.0 if rng.random() < 0.15 else rng.uniform(low, 1.0)
    big = [_big_lump_spot(rng, view)] if rng.random() < big_p else []
    load = _still_load(rng, view, level, big_at=big, strays=int(rng.integers(0, 12)) if level == 0 else 0)
    return view, backdrop, camera, load, big


def _lit(camera: Camera, view: BeltView, people: tuple[Person, ...]) -> Camera:
    """Where people work there is light (theirs and their mates' cap lamps): a pool around each."""
    pools = tuple(
        LightPool(
            p.x / view.width, (p.foot_y - 0.6 * p.height) / view.height, 0.5 * p.height / view.width, 0.5
        )
        for p in people
    )
    return replace(camera, pools=camera.pools + pools)


def _still_load(
    rng: np.random.Generator, view: BeltView, level: float, *, big_at: list[tuple[float, float]], strays: int
) -> BeltLoad:
    """Coal over the visible belt, its level wandering around ``level`` along the belt."""
    xs = np.arange(-STILL_MARGIN_M, view.length_m + STILL_MARGIN_M, BED_STEP_M)
    profile = level * np.clip(1 + 0.3 * smooth_series(rng, len(xs), 30), 0.3, 1.5)
    return sample_load(rng, xs, np.clip(profile, 0, 1), view.belt_m, big_at=big_at, strays=strays)


def _big_lump_spot(rng: np.random.Generator, view: BeltView) -> tuple[float, float]:
    return rng.uniform(0.25, 0.75) * view.length_m, view.belt_m * rng.uniform(0.4, 0.6)


def _objects(
    rng: np.random.Generator, view: BeltView, count: int, big_at: list[tuple[float, float]]
) -> tuple[BeltObject, ...]:
    """``count`` foreign objects fully in frame, apart from each other and from any big lump."""
    placed: list[BeltObject] = []
    for _ in range(count):
        kind = FOREIGN_KINDS[rng.integers(len(FOREIGN_KINDS))]
        for _attempt in range(30):
            obj = sample_object(
                rng, kind, rng.uniform(0.1, 0.9) * view.length_m, rng.uniform(0.3, 0.7) * view.belt_m
            )
            x0, _, x1, _ = obj.pixel_bounds(view)
            clear = all(np.hypot(obj.x - o.x, obj.y - o.y) > 0.8 * (obj.reach() + o.reach()) for o in placed)
            clear &= all(np.hypot(obj.x - bx, obj.y - by) > obj.reach() + 0.45 for bx, by in big_at)
            if clear and x0 >= 2 and x1 <= view.width - 2:
                break
        placed.append(obj)
    return tuple(placed)


def _people(
    rng: np.random.Generator,
    view: BeltView,
    count: int,
    *,
    heights: tuple[float, float],
    helmet_p: float = 0.6,
) -> tuple[Person, ...]:
    """``count`` workers side by side along the walkway, each in a slot of its own."""
    slots = np.linspace(0.1, 0.9, count + 1) * view.width
    return tuple(
        sample_person(
            rng,
            view,
            float(rng.uniform(lo + 0.15 * (hi - lo), hi - 0.15 * (hi - lo))),
            heights=heights,
            helmet_p=helmet_p,
        )
        for lo, hi in itertools.pairwise(slots)
    )
