"""The same entry point under torchrun: 2 CPU processes (gloo) train the model one process trains.

ConvNeXt-atto uses LayerNorm and no dropout, so one step's per-rank gradients average to exactly
the single-process gradient of the same global batch; with BatchNorm each rank would normalise by
its own half batch (SyncBatchNorm is CUDA-only) and the runs would legitimately drift apart.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from train_tiny_data import write_class_folders

from train.__main__ import main as train_main
from train.runtime import ProcessGroup

ARGS = [
    "data.image_size=[32,32]",
    "data.workers=0",
    "model.name=timm:convnext_atto",
    "model.weights=none",
    "optim.epochs=2",
    "optim.warmup_epochs=1",
    "optim.batch_size=8",
    "optim.lr=0.002",
]


def test_two_processes_train_the_same_model_as_one(tmp_path):
    data = write_class_folders(tmp_path / "discs", {"train": 16, "val": 5, "test": 4})
    one, two = tmp_path / "one", tmp_path / "two"
    assert train_main(["fit", f"out={one}", f"data.root={data}", *ARGS]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "train", "fit", f"out={two}", f"data.root={data}", *ARGS]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    single = torch.load(one / "last.pt", weights_only=True)["state_dict"]
    distributed = torch.load(two / "last.pt", weights_only=True)["state_dict"]
    for key, tensor in single.items():
        torch.testing.assert_close(distributed[key], tensor, rtol=1e-4, atol=1e-5, msg=key)
    logs = [[json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()] for out in (one, two)]
    assert [e["stage"] for e in logs[1]] == ["head", "full"]
    assert [e["val_top1"] for e in logs[1]] == [e["val_top1"] for e in logs[0]]  # val shards gathered from both ranks
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())  # rank 0 wrote, once


def test_batch_that_does_not_split_across_processes_is_refused(tmp_path, monkeypatch, capsys):
    data = write_class_folders(tmp_path / "discs", {"train": 2, "val": 1, "test": 1})
    monkeypatch.setattr("train.engine.init_process_group", lambda device: ProcessGroup(rank=0, world=2))
    assert train_main(["fit", f"out={tmp_path / 'run'}", f"data.root={data}", "optim.batch_size=7", "model.weights=none"]) == 2
    assert "batch_size=7" in capsys.readouterr().err
