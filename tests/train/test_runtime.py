"""Device and mixed-precision choice: bf16 autocast on a CPU only where the CPU has the instructions."""

import pytest
import torch

from train.runtime import RuntimeSetupError, cpu_has_fast_bf16, resolve_amp

CPUINFO = "processor\t: 0\nflags\t\t: fpu sse avx2 {extra}\n\nprocessor\t: 1\n"


@pytest.mark.parametrize(
    ("extra", "expected"), [("", False), ("avx512f avx512_bf16", True), ("amx_tile amx_bf16", True)]
)
def test_cpu_bf16_is_detected_from_the_flags(tmp_path, extra, expected):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO.format(extra=extra))
    assert cpu_has_fast_bf16(cpuinfo) is expected


def test_auto_on_this_cpu_follows_its_flags():
    assert resolve_amp("auto", torch.device("cpu")) == (torch.bfloat16 if cpu_has_fast_bf16() else None)


def test_off_and_explicit_bf16_on_cpu():
    assert resolve_amp("off", torch.device("cpu")) is None
    assert resolve_amp("bf16", torch.device("cpu")) is torch.bfloat16


def test_fp16_on_cpu_is_refused_with_the_alternatives():
    with pytest.raises(RuntimeSetupError, match="amp=bf16"):
        resolve_amp("fp16", torch.device("cpu"))


def test_amp_off_survives_yaml(tmp_path):
    from edge_runtime.yamlconfig import load_config
    from train.config import ClassifyConfig

    assert load_config(ClassifyConfig, None, ["amp=off"]).amp == "off"
