"""What DDP promises, held on any x86 CPU: each rank sees its shard, gradients are averaged, rank 0
writes once, and two processes follow the loss trajectory of one within a tolerance.

Weights are not compared bit-close: one process with two threads and two processes with one run
different kernels (AVX-512 VNNI/BF16 CPUs pick other code paths than AVX2 ones), so equality of
trained weights is a property of one CPU, not of DDP.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from train_tiny_data import write_class_folders

from edge_runtime.bundle import InputSpec, ModelInterface
from edge_runtime.model import Predictor
from edge_runtime.postprocess_spec import ScoresPost
from train.__main__ import main as train_main
from train.evaluation import evaluate
from train.runtime import ProcessGroup, close_process_group, init_process_group
from train.sampling import EpochSampler

INTERFACE = ModelInterface(task="echo", classes=["a"], input=InputSpec(size=(2, 2)), postprocess=ScoresPost())
ARGS = [
    "data.image_size=[32,32]",
    "data.workers=0",
    "model.name=timm:convnext_atto",  # LayerNorm, no BatchNorm: per-rank statistics do not differ
    "model.weights=none",
    "optim.epochs=2",
    "optim.warmup_epochs=1",
    "optim.batch_size=8",
    "optim.lr=0.002",
    "amp=off",  # DDP's promise, not autocast's numerics
]


@pytest.mark.parametrize(("size", "world"), [(10, 2), (11, 2), (12, 3)])
def test_each_rank_sees_its_shard_of_the_one_order(size, world):
    single = list(EpochSampler(size, seed=3))
    shards = [list(EpochSampler(size, seed=3, rank=rank, world=world)) for rank in range(world)]
    assert len({len(shard) for shard in shards}) == 1  # every rank takes as many steps
    interleaved = [shard[i] for i in range(len(shards[0])) for shard in shards]
    assert interleaved[:size] == single  # step by step, the ranks' batches are the one-process batch
    assert {index for _, index in interleaved} == set(range(size))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Echo:
    """A task whose measurement of a sample is the sample itself and whose score lists them: shows what
    ``evaluate`` gathered from the ranks, and in which order."""

    def measure(self, predictor, samples):
        return [(dist.get_rank(), sample) for sample in samples]

    def score(self, evidence, samples, classes):
        return evidence


def _ranks_do_their_part(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    group = init_process_group("cpu")  # the engine's own way in: gloo on a CPU
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    inputs, targets = torch.randn(8, 4, generator=torch.Generator().manual_seed(1)), torch.arange(8) % 2
    wrapped = DistributedDataParallel(model)
    shard = slice(rank, None, world)
    torch.nn.functional.cross_entropy(wrapped(inputs[shard]), targets[shard]).backward()
    gathered = evaluate(_Echo(), Predictor(INTERFACE, lambda batch: []), list(range(7)), group)  # type: ignore[arg-type]
    if group.is_main:
        torch.save(
            {"grad": model.weight.grad, "inputs": inputs, "targets": targets, "gathered": gathered}, out
        )
    dist.barrier()
    close_process_group(group)


def test_gradients_are_averaged_and_evaluation_gathers_every_shard(tmp_path):
    out = tmp_path / "grad.pt"
    mp.spawn(_ranks_do_their_part, args=(2, _free_port(), str(out)), nprocs=2, join=True)
    saved = torch.load(out, weights_only=True)
    assert saved["gathered"] == [
        (i % 2, i) for i in range(7)
    ]  # each rank measured its shard; all come back in order
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)  # the same initial weights, one process, the whole batch
    torch.nn.functional.cross_entropy(model(saved["inputs"]), saved["targets"]).backward()
    torch.testing.assert_close(saved["grad"], model.weight.grad, rtol=1e-4, atol=1e-6)


def test_two_processes_follow_one_process_and_rank_0_writes_once(tmp_path):
    data = write_class_folders(tmp_path / "discs", {"train": 16, "val": 5, "test": 4})
    one, two = tmp_path / "one", tmp_path / "two"
    assert train_main(["fit", f"out={one}", f"data.root={data}", *ARGS]) == 0
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "train", "fit", f"out={two}", f"data.root={data}", *ARGS]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path.cwd())}
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert finished.returncode == 0, finished.stderr[-3000:]
    logs = [[json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()] for out in (one, two)]
    assert [e["stage"] for e in logs[1]] == ["head", "full"]  # one line per epoch: rank 0 wrote, once
    losses = [[e["train_loss"] for e in log] for log in logs]
    assert losses[1] == pytest.approx(
        losses[0], rel=0.02
    )  # float reduction order differs, the trajectory does not
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    metrics = json.loads((two / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 12  # rank 0 measured the whole test split, not its shard


def test_batch_that_does_not_split_across_processes_is_refused(tmp_path, monkeypatch, capsys):
    data = write_class_folders(tmp_path / "discs", {"train": 2, "val": 1, "test": 1})
    monkeypatch.setattr("train.engine.init_process_group", lambda device: ProcessGroup(rank=0, world=2))
    assert (
        train_main(
            [
                "fit",
                f"out={tmp_path / 'run'}",
                f"data.root={data}",
                "optim.batch_size=7",
                "model.weights=none",
            ]
        )
        == 2
    )
    assert "batch_size=7" in capsys.readouterr().err
