"""Measure an artifact of the bundle being built, as the device runs it, on a split of the data.

Through ``edge_runtime``'s backends and ``Predictor`` (the device's preprocessing and decoding) and
the task's own measure-and-score, so the gate judges the figure the device would produce. Each
result records the precision the runtime really computed in. Results are kept by the file's
digest, precision hint and split, so nothing is measured twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from edge_runtime.backends import BackendOptions, backend_for_format, create_backend
from edge_runtime.bundle import ModelInterface
from edge_runtime.model import Predictor, check_signature
from export.errors import ExportError
from train.evaluation import EvalReport, evaluate
from train.task import Task, TaskData

log = logging.getLogger(__name__)


class ArtifactFailed(ExportError):
    """A runtime could not run an artifact: it is rejected, the export goes on."""


@dataclass(frozen=True)
class Measured:
    report: EvalReport
    precision: str  # what the runtime computed in, e.g. fp32, bf16, int8+bf16


@dataclass(frozen=True)
class Candidate:
    """An artifact file of the bundle being built."""

    key: str  # format-precision, e.g. openvino-int8
    path: Path

    @property
    def format(self) -> str:
        return self.key.split("-")[0]

    @property
    def precision(self) -> str:
        return self.key.split("-")[1]


class Measurer:
    def __init__(
        self, task: Task, interface: ModelInterface, data: TaskData, threads: int | None = None
    ) -> None:
        """``threads``: inference threads of every backend it creates (None: the runtime's default)."""
        self.task, self.interface, self.data, self.threads = task, interface, data, threads
        self._done: dict[tuple[str, str | None, str], Measured] = {}

    def measure(self, candidate: Candidate, split: str, hint: str | None = None) -> Measured:
        """``candidate`` on ``split`` (val or test) at the precision ``hint`` (None: the runtime's choice)."""
        key = (digest(candidate.path), hint, split)
        if key not in self._done:
            backend = create_backend(
                backend_for_format(candidate.format),
                candidate.path,
                BackendOptions(precision_hint=hint, threads=self.threads),
                candidate.precision,
            )
            check_signature(self.interface, backend.signature(), str(candidate.path))
            predictor = Predictor(self.interface, backend.infer, name=str(candidate.path))
            try:
                report = evaluate(self.task, predictor, self.data.split(split))
            except Exception as exc:  # runtimes raise their own unrelated types; the artifact cannot ship
                raise ArtifactFailed(f"{candidate.key} fails to run on the {split} split ({exc})") from exc
            self._done[key] = Measured(report, backend.runtime_precision)
            log.info(
                "%s on %s: %s %.4f (ran in %s)",
                candidate.key,
                split,
                report.metric,
                report.value,
                backend.runtime_precision,
            )
        return self._done[key]


def digest(path: Path) -> str:
    """sha256 of a model file and, for an OpenVINO IR, of its weights beside it."""
    sha = hashlib.sha256()
    for file in (path, path.with_suffix(".bin")):
        if file.is_file():
            with file.open("rb") as handle:
                for chunk in iter(partial(handle.read, 1 << 20), b""):
                    sha.update(chunk)
    return sha.hexdigest()
