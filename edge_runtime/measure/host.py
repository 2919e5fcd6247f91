"""What the figures were measured on: CPU, instruction sets that matter for inference, libraries."""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path

# Instruction sets that change which kernels ONNX Runtime and OpenVINO pick.
ISA_FLAGS = (
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
)
LIBRARIES = (
    "torch",
    "torchvision",
    "onnx",
    "onnxruntime",
    "openvino",
    "nncf",
    "opencv-python-headless",
    "numpy",
    "timm",
)


def _cpuinfo() -> dict[str, str]:
    path = Path("/proc/cpuinfo")
    info: dict[str, str] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    return info


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def host_info() -> dict:
    cpu = _cpuinfo()
    flags = set(cpu.get("flags", "").split())
    memory_kb = (
        next(
            (
                int(line.split()[1])
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            ),
            0,
        )
        if Path("/proc/meminfo").is_file()
        else 0
    )
    return {
        "cpu": cpu.get("model name", platform.processor() or "unknown"),
        "cores": os.cpu_count(),
        "isa": [flag for flag in ISA_FLAGS if flag in flags],
        "memory_gib": round(memory_kb / 2**20, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "libraries": {name: _version(name) for name in LIBRARIES},
        # other work on the box skews every figure; a reader should see how busy it was
        "load_avg_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
    }
