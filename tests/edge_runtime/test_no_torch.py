"""The edge device has no torch: the daemon must replay a video with torch impossible to import."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).parents[2]
BLOCKER = """import sys
for name in ("torch", "torchvision", "nncf"):
    sys.modules[name] = None  # any import of them now raises ImportError
"""


def test_replay_runs_where_torch_cannot_be_imported(colour_site, colour_video, tmp_path):
    blocker = tmp_path / "no_torch"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(BLOCKER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(REPO)])}
    probe = subprocess.run([sys.executable, "-c", "import torch"], env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "import of torch halted" in probe.stderr  # the blocker works
    replayed = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime",
            "replay",
            str(colour_video.path),
            "--config",
            str(colour_site),
            "--expect",
            str(colour_video.truth_path),
            "model.artifact=openvino-fp32",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "3 matched, 0 missed, 0 false" in replayed.stdout
