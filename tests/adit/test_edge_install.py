"""The torch-free install: a fresh virtual environment with only ``.[edge]`` verifies, benchmarks and selects
a bundle this test session built, through ``adit`` (pip serves from its local cache)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_verify_bench_select_without_torch(tiny_bundle: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "edge-venv"
    subprocess.run([sys.executable, "-m", "venv", env_dir], check=True, timeout=300)
    python, adit = env_dir / "bin" / "python", env_dir / "bin" / "adit"
    subprocess.run([python, "-m", "pip", "install", "--quiet", f"{ROOT}[edge]"], check=True, timeout=1200)
    probe = subprocess.run([python, "-c", "import torch"], capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'torch'" in probe.stderr
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    for argv in (
        ["verify", f"bundle={bundle}"],
        ["bench", f"bundle={bundle}", "seconds=0.1", f"out={tmp_path / 'edge.json'}"],
        ["select", f"bundle={bundle}", "seconds=0.1"],
    ):
        done = subprocess.run([adit, *argv], capture_output=True, text=True, cwd=tmp_path, timeout=600)
        assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "edge.json").read_text())["rows"]
    assert {r["artifact"] for r in rows} == {"onnx-fp32", "openvino-fp32"}
    selection = json.loads((bundle / "selection.json").read_text())
    assert selection["artifact"] in {"onnx-fp32", "openvino-fp32"}
    # a workstation verb says what it needs instead of a traceback
    done = subprocess.run([adit, "train", "--help"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 2 and "workstation install" in done.stderr, done.stderr
    assert sys.executable != str(python)
