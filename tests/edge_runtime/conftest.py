"""A site configuration for the tiny colour bundle and the colour video: rules for red and blue."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def write_site(path: Path, bundle: Path, video: Path, events: Path, **model: object) -> Path:
    site = {
        "model": {"bundle": str(bundle), **model},
        "cameras": [{"name": "cam1", "source": str(video)}],
        "rules": [
            {
                "name": "red-rule",
                "labels": ["red"],
                "min_score": 0.6,
                "debounce": {"hits": 3, "window": 5},
                "cooldown_s": 2.0,
                "event_type": "red_seen",
            },
            {
                "name": "blue-rule",
                "camera": "cam1",
                "labels": ["blue"],
                "min_score": 0.6,
                "debounce": {"hits": 3, "window": 5},
                "cooldown_s": 2.0,
                "event_type": "blue_seen",
            },
        ],
        "sinks": {"jsonl": {"path": str(events)}},
        "outbox": {"path": str(events.parent / "outbox.sqlite")},
    }
    path.write_text(yaml.safe_dump(site, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def colour_site(tmp_path: Path, tiny_bundle: Path, colour_video) -> Path:
    return write_site(
        tmp_path / "site.yaml", tiny_bundle, colour_video.path, tmp_path / "events" / "events.jsonl"
    )
