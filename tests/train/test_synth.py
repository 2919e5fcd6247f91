"""The synthetic data generator: determinism, layouts, labels that match pixels, and the video's truth.

Everything runs on the ``tiny`` preset (a few seconds); the demo video's script is checked without
rendering it.
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from train.synth import Box, Scene, SynthError, classify_scene, detect_scene, generate, render
from train.synth.__main__ import main
from train.synth.camera import Camera
from train.synth.datasets import CLASSIFY_SIZE, DETECT_SIZE, write_classify
from train.synth.labels import BELT_STATES, DETECT_CLASSES, SEGMENT_CLASSES
from train.synth.presets import PRESETS, SPLITS
from train.synth.seeding import item_rng
from train.synth.timeline import Passage, Visit
from train.synth.video import FPS, VIDEO_SIZE, video_script
from train.synth.writers import JPEG_QUALITY

TINY = PRESETS["tiny"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "data"
    generate(out, seed=0, preset="tiny")
    return out


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _without_yaml_path(text: bytes) -> bytes:
    return b"\n".join(line for line in text.splitlines() if not line.startswith(b"path:"))


def test_same_seed_gives_identical_bytes_and_replaces_an_earlier_run(tiny: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    (again / "classify").mkdir(parents=True)
    (again / "classify" / "stale.jpg").write_bytes(b"left over")
    (again / "dataset.json").write_text(json.dumps({"generator": "adit.synth"}))
    generate(again, seed=0, preset="tiny")
    first, second = _files(tiny), _files(again)
    assert first.keys() == second.keys()
    yaml_name = str(Path("detect") / "data.yaml")
    for name in first:
        if name == yaml_name:  # holds its own absolute folder, as Ultralytics needs
            assert _without_yaml_path(first[name]) == _without_yaml_path(second[name])
        else:
            assert first[name] == second[name], name


def test_other_seed_gives_other_images(tiny: Path, tmp_path: Path) -> None:
    write_classify(tmp_path / "classify", 1, TINY.classify)
    ours = _files(tiny / "classify")
    theirs = _files(tmp_path / "classify")
    assert ours.keys() == theirs.keys()
    assert all(ours[name] != theirs[name] for name in ours)


def test_an_item_depends_only_on_its_address(tiny: Path) -> None:
    """Rendering one item alone reproduces the file the full run wrote (order does not matter)."""
    split, state, number = "val", "foreign_object", 2
    rng = item_rng(0, "classify", SPLITS.index(split), BELT_STATES.index(state), number)
    image = render(classify_scene(rng, state, *CLASSIFY_SIZE)).image
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    assert data.tobytes() == (tiny / "classify" / split / state / f"{number:05d}.jpg").read_bytes()


def test_classify_layout(tiny: Path) -> None:
    for split, count in TINY.classify.items():
        assert sorted(p.name for p in (tiny / "classify" / split).iterdir()) == sorted(BELT_STATES)
        for state in BELT_STATES:
            files = sorted((tiny / "classify" / split / state).iterdir())
            assert [p.name for p in files] == [f"{i:05d}.jpg" for i in range(count)]
            assert cv2.imread(str(files[0])).shape == (CLASSIFY_SIZE[1], CLASSIFY_SIZE[0], 3)


def test_detect_layout_and_data_yaml(tiny: Path) -> None:
    root = tiny / "detect"
    for split, count in TINY.detect.items():
        images = sorted(p.stem for p in (root / "images" / split).glob("*.jpg"))
        labels = sorted(p.stem for p in (root / "labels" / split).glob("*.txt"))
        assert images == labels == [f"{i:05d}" for i in range(count)]
    data = yaml.safe_load((root / "data.yaml").read_text())
    assert Path(data["path"]) == root.resolve()
    assert (data["train"], data["val"], data["test"]) == ("images/train", "images/val", "images/test")
    assert data["names"] == dict(enumerate(DETECT_CLASSES))


def test_yolo_labels_are_the_rendered_boxes(tiny: Path) -> None:
    frame = render(detect_scene(item_rng(0, "detect", SPLITS.index("test"), 3), *DETECT_SIZE), boxes=True)
    assert frame.boxes
    lines = (tiny / "detect" / "labels" / "test" / "00003.txt").read_text().splitlines()
    assert len(lines) == len(frame.boxes)
    width, height = DETECT_SIZE
    for line, box in zip(lines, frame.boxes, strict=True):
        cls, cx, cy, w, h = line.split()
        assert DETECT_CLASSES[int(cls)] == box.label
        edges = (
            (float(cx) - float(w) / 2) * width,
            (float(cy) - float(h) / 2) * height,
            (float(cx) + float(w) / 2) * width,
            (float(cy) + float(h) / 2) * height,
        )
        assert np.allclose(edges, (box.x0, box.y0, box.x1, box.y1), atol=1e-3)


def test_yolo_labels_are_valid(tiny: Path) -> None:
    found = set()
    for path in (tiny / "detect" / "labels").rglob("*.txt"):
        for line in path.read_text().splitlines():
            fields = line.split()
            assert len(fields) == 5, f"{path}: {line!r}"
            cls, (cx, cy, w, h) = int(fields[0]), map(float, fields[1:])
            assert 0 <= cls < len(DETECT_CLASSES)
            assert w > 0 and h > 0
            assert cx - w / 2 >= -1e-6 and cx + w / 2 <= 1 + 1e-6
            assert cy - h / 2 >= -1e-6 and cy + h / 2 <= 1 + 1e-6
            found.add(DETECT_CLASSES[cls])
    assert (
        {"person", "large_lump"} <= found
        and found & {"helmet", "head"}
        and found & {"anchor_rod", "wood", "metal"}
    )


def _detect_scene_with(predicate: Callable[[Scene], bool]) -> Scene:
    """The first detection scene (seeds 0, 1, ...) that ``predicate`` accepts."""
    for number in range(200):
        scene = detect_scene(item_rng(0, "detect", 9, number), *DETECT_SIZE)
        if predicate(scene):
            return scene
    raise AssertionError("no such scene in 200 tries")


def _diff_box(a: np.ndarray, b: np.ndarray) -> tuple[int, int, int, int]:
    changed = np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 0
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _assert_box_matches(box: Box, changed: tuple[int, int, int, int]) -> None:
    """Label boxes come from the id map; anti-aliased edges may reach a pixel or two further."""
    labelled = (box.x0, box.y0, box.x1, box.y1)
    assert _contains(changed, box), (labelled, changed)
    assert all(abs(a - b) <= 2 for a, b in zip(labelled, changed, strict=True)), (labelled, changed)


def _contains(outer: tuple[int, int, int, int], box: Box) -> bool:
    return outer[0] <= box.x0 and outer[1] <= box.y0 and box.x1 <= outer[2] and box.y1 <= outer[3]


def test_person_boxes_cover_exactly_the_person() -> None:
    scene = dataclasses.replace(_detect_scene_with(lambda s: len(s.people) == 1), camera=Camera.neutral())
    full = render(scene, boxes=True)
    without = render(dataclasses.replace(scene, people=())).image
    (person,) = (b for b in full.boxes if b.label == "person")
    _assert_box_matches(person, _diff_box(full.image, without))
    (head,) = (b for b in full.boxes if b.label in ("helmet", "head"))
    assert head.label == ("head" if scene.people[0].helmet is None else "helmet")
    assert person.x0 <= head.x0 and head.x1 <= person.x1 and person.y0 == head.y0
    assert head.y1 - head.y0 < 0.3 * (person.y1 - person.y0)


def test_object_and_lump_boxes_cover_what_was_drawn() -> None:
    scene = _detect_scene_with(lambda s: len(s.objects) > 0 and len(s.load.big) > 0 and not s.people)
    scene = dataclasses.replace(scene, camera=Camera.neutral())
    full = render(scene, boxes=True)
    without = render(dataclasses.replace(scene, objects=scene.objects[1:])).image
    box = next(b for b in full.boxes if b.label == scene.objects[0].kind)
    changed = _diff_box(full.image, without)
    # The object's shadow falls on the coal beside it, so the change reaches a few pixels further.
    assert _contains(changed, box)
    assert all(abs(a - b) <= 5 for a, b in zip((box.x0, box.y0, box.x1, box.y1), changed, strict=True))
    no_lump = dataclasses.replace(scene.load, big=scene.load.big.window(1e9, 1e9))
    lump_only = dataclasses.replace(scene, objects=())
    rendered = render(lump_only, boxes=True)
    changed = _diff_box(rendered.image, render(dataclasses.replace(lump_only, load=no_lump)).image)
    (lump,) = (b for b in rendered.boxes if b.label == "large_lump")
    assert _contains(changed, lump)
    box_area = (lump.x1 - lump.x0) * (lump.y1 - lump.y0)
    assert box_area > 0.6 * (changed[2] - changed[0]) * (changed[3] - changed[1])


def test_boxes_stand_out_through_the_real_camera() -> None:
    scene = _detect_scene_with(lambda s: len(s.people) == 1)
    full = render(scene, boxes=True)
    (box,) = (b for b in full.boxes if b.label == "person")
    diff = np.abs(full.image.astype(int) - render(dataclasses.replace(scene, people=())).image.astype(int))
    diff = diff.sum(axis=2).astype(float)
    inside = diff[box.y0 : box.y1, box.x0 : box.x1]
    outside_mean = (diff.sum() - inside.sum()) / (diff.size - inside.size)
    assert inside.mean() > 20 and inside.mean() > 5 * outside_mean


def test_segment_masks(tiny: Path) -> None:
    root = tiny / "segment"
    assert json.loads((root / "classes.json").read_text()) == list(SEGMENT_CLASSES)
    coal = 0
    for split, count in TINY.segment.items():
        masks = sorted((root / "masks" / split).glob("*.png"))
        assert [p.stem for p in masks] == sorted(p.stem for p in (root / "images" / split).glob("*.jpg"))
        assert len(masks) == count
        for path in masks:
            mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            assert mask.dtype == np.uint8 and mask.shape == (180, 320)
            assert set(np.unique(mask)) <= {0, 1, 2}
            assert np.count_nonzero(mask == 1) > 0
            coal += np.count_nonzero(mask == 2)
    assert coal > 0


def test_video_reads_back(tiny: Path) -> None:
    capture = cv2.VideoCapture(str(tiny / "video" / "belt.avi"))
    assert capture.get(cv2.CAP_PROP_FPS) == FPS
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        assert frame.shape == (VIDEO_SIZE[1], VIDEO_SIZE[0], 3)
        frames += 1
    capture.release()
    assert frames == round(TINY.video_seconds * FPS)


def test_video_truth_agrees_with_frames(tiny: Path) -> None:
    frames = round(TINY.video_seconds * FPS)
    with (tiny / "video" / "frames.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["frame"]) for r in rows] == list(range(frames))
    assert all(r["label"] in BELT_STATES and 0 <= float(r["load_fraction"]) <= 1 for r in rows)
    assert max(float(r["load_fraction"]) for r in rows) > 0.2
    truth = [json.loads(line) for line in (tiny / "video" / "truth.jsonl").read_text().splitlines()]
    assert truth
    for event in truth:
        assert set(event) == {"type", "label", "start_frame", "end_frame"}
        assert event["label"] in BELT_STATES
        assert 0 <= event["start_frame"] <= event["end_frame"] < frames
        labels = {rows[f]["label"] for f in range(event["start_frame"], event["end_frame"] + 1)}
        assert labels == {event["label"]}


def test_demo_video_script_has_the_promised_events() -> None:
    script = video_script(0, PRESETS["demo"].video_seconds)
    intervals = []
    for index, event in enumerate(script.events):
        seen = [f for f in range(script.frames) if script.seen(index, f)]
        if seen:
            intervals.append((seen[0], seen[-1], event))
    foreign = [e for *_, e in intervals if isinstance(e, Passage) and e.kind != "oversized_lump"]
    assert len(foreign) >= 2
    assert sum(isinstance(e, Visit) for *_, e in intervals) >= 2
    assert any(isinstance(e, Passage) and e.kind == "oversized_lump" for *_, e in intervals)
    for (_, end, _), (start, _, _) in itertools.pairwise(intervals):
        assert start > end + FPS // 2, "events must be separated by ordinary belt"


def test_dataset_json_and_readme(tiny: Path) -> None:
    info = json.loads((tiny / "dataset.json").read_text())
    assert info["synthetic"] is True and info["generator"] == "adit.synth" and info["version"] == 1
    assert (info["seed"], info["preset"]) == (0, "tiny")
    assert info["counts"]["classify"]["train"] == dict.fromkeys(BELT_STATES, TINY.classify.train)
    assert info["counts"]["video"]["frames"] == round(TINY.video_seconds * FPS)
    assert "not field figures" in info["note"]
    assert "synthetic" in (tiny / "README.md").read_text().lower()


def test_bad_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SynthError, match="preset"):
        generate(tmp_path / "a", preset="huge")
    with pytest.raises(SynthError, match="seed"):
        generate(tmp_path / "b", seed=-1, preset="tiny")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(SynthError, match="not empty"):
        generate(foreign, preset="tiny")
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert main(["--out", str(foreign), "--preset", "tiny"]) == 2
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "c"), "--preset", "huge"])


def test_needs_no_torch() -> None:
    code = "import sys, train.synth; assert 'torch' not in sys.modules, 'train.synth imported torch'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
