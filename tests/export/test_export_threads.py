"""``adit export threads=N``: every runtime export measures with gets N threads; fewer than 1 is refused."""

import pytest

from adit.cli import main as adit_main
from edge_runtime.backends.onnxruntime_backend import OnnxRuntimeBackend
from edge_runtime.backends.openvino_backend import OpenVinoBackend
from edge_runtime.bundle import load_bundle

# ONNX Runtime's default is 0 (every core); OpenVINO reports every core, and caps a larger count at them
THREADS = 1


def test_the_thread_count_reaches_every_backend_export_measures_with(
    tiny_checkpoint, tmp_path, monkeypatch, capsys
):
    created = []  # (backend, threads asked for, threads its runtime was set to)

    def spy(backend_type, threads_set):
        load = backend_type.load

        def spied(self):
            load(self)
            created.append((self.name, self.options.threads, threads_set(self)))

        monkeypatch.setattr(backend_type, "load", spied)

    spy(OnnxRuntimeBackend, lambda b: b.session.get_session_options().intra_op_num_threads)
    spy(OpenVinoBackend, lambda b: int(b.compiled.get_property("INFERENCE_NUM_THREADS")))
    out = tmp_path / "bundle"
    code = adit_main(
        [
            "export",
            f"model={tiny_checkpoint}",
            f"out={out}",
            "formats=onnx-fp32,openvino-fp32",
            "calibration_size=4",
            f"threads={THREADS}",
        ]
    )
    assert code == 0, capsys.readouterr().err
    # the gate (both artifacts on val and test), the recommendation's latencies, the drift reference
    assert len(created) >= 7 and {name for name, _, _ in created} == {"onnxruntime", "openvino"}
    assert set(created) == {("onnxruntime", THREADS, THREADS), ("openvino", THREADS, THREADS)}
    assert load_bundle(out).manifest.provenance["inference_threads"] == THREADS


@pytest.mark.parametrize("threads", ["0", "-2"])
def test_fewer_than_one_thread_is_refused_naming_the_key_before_any_work(tmp_path, capsys, threads):
    out = tmp_path / "never"
    code = adit_main(["export", f"model={tmp_path / 'absent.pt'}", f"out={out}", f"threads={threads}"])
    assert code == 2
    assert f"threads: {threads!r} must be a positive integer" in capsys.readouterr().err
    assert not out.exists()
