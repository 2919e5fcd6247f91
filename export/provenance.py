"""Provenance shared by every exporter (classification, dense, signal): which code made a bundle."""

from __future__ import annotations

import subprocess
from pathlib import Path


def code_version() -> str:
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
