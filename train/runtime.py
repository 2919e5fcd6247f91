"""Where and how a run computes: device, mixed precision and the distributed process group.

Mixed precision is chosen per device because it only helps where the hardware has it: on CUDA
bf16 (or fp16 with loss scaling on older cards); on a CPU only with AVX512-BF16 or AMX, since
elsewhere bf16 is emulated and slower than fp32.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
import torch.distributed as dist

from edge_runtime.errors import AditError

log = logging.getLogger(__name__)

AmpChoice = Literal["auto", "off", "bf16", "fp16"]


class RuntimeSetupError(AditError):
    """The requested device, precision or process group cannot be used on this machine."""


def select_device(choice: str, local_rank: int = 0) -> torch.device:
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeSetupError(
                "device=cuda was asked for, but no CUDA device is available (use device=auto or cpu)"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    return torch.device(choice)


def cpu_has_fast_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """AVX512-BF16 or AMX: the CPU instructions that make bf16 autocast faster than fp32."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next(
        (line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []
    )
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def resolve_amp(choice: AmpChoice, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``choice`` on ``device``, or None for full fp32."""
    if choice == "off":
        return None
    if device.type == "cuda":
        if choice == "auto":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if choice == "bf16" else torch.float16
    if choice == "fp16":
        raise RuntimeSetupError(
            "amp=fp16 needs a CUDA device; on a CPU use amp=bf16 (with AVX512-BF16/AMX) or off"
        )
    if choice == "bf16":
        if not cpu_has_fast_bf16():
            log.warning("amp=bf16 on a CPU without AVX512-BF16/AMX: expect it to be slower than fp32")
        return torch.bfloat16
    return torch.bfloat16 if cpu_has_fast_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place in a (possibly one-process) run; only rank 0 writes files."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1


def init_process_group(device_choice: str) -> ProcessGroup:
    """Join the group ``torchrun`` describes in the environment; a plain run is a group of one."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return ProcessGroup()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    uses_cuda = device_choice == "cuda" or (device_choice == "auto" and torch.cuda.is_available())
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if uses_cuda else "gloo")
    return ProcessGroup(rank=rank, world=world, local_rank=local_rank)


def close_process_group(group: ProcessGroup) -> None:
    if group.distributed and dist.is_initialized():
        dist.destroy_process_group()


class TimeBudget:
    """``optim.max_minutes`` on an injected monotonic clock; rank 0's clock decides for every rank."""

    def __init__(self, minutes: float | None, clock: Callable[[], float], group: ProcessGroup) -> None:
        self.minutes, self.clock, self.group = minutes, clock, group
        self.deadline: float | None = None

    def start(self) -> None:
        if self.minutes is not None:
            self.deadline = self.clock() + 60 * self.minutes

    def spent(self) -> bool:
        if self.deadline is None:
            return False
        spent = torch.tensor(float(self.clock() >= self.deadline))
        if self.group.distributed:
            dist.broadcast(spent, src=0)
        return bool(spent.item())


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
