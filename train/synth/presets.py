"""How much each preset generates: ``demo`` for the walkthrough, ``tiny`` for tests and smoke runs,
``site`` for the shifted-site rounds (the demo's images, test splits five and three times larger: items
are seeded one by one, so its first 40 test images per class are the demo's)."""

from dataclasses import dataclass

from train.synth.errors import SynthError

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class SplitCounts:
    """Items per split (per class, for the classification set)."""

    train: int
    val: int
    test: int

    def items(self) -> tuple[tuple[str, int], ...]:
        return tuple((split, getattr(self, split)) for split in SPLITS)


@dataclass(frozen=True)
class Preset:
    name: str
    classify: SplitCounts
    detect: SplitCounts
    segment: SplitCounts
    video_seconds: float


PRESETS = {
    "demo": Preset(
        "demo", SplitCounts(120, 30, 40), SplitCounts(150, 40, 40), SplitCounts(120, 30, 30), 40.0
    ),
    "site": Preset(
        "site", SplitCounts(120, 30, 200), SplitCounts(150, 40, 120), SplitCounts(120, 30, 30), 8.0
    ),
    "tiny": Preset("tiny", SplitCounts(8, 4, 4), SplitCounts(8, 4, 4), SplitCounts(6, 3, 3), 8.0),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise SynthError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
