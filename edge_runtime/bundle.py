"""The model bundle: the one contract between the workstation and the device.

A bundle is a directory holding ``manifest.json`` and the model artifacts it lists. The manifest
carries everything the runtime needs (classes, preprocessing, post-processing, artifact digests),
so nothing is re-typed on the device. Every artifact's sha256 is checked before it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge_runtime.bundle_archive import is_archive, unpack
from edge_runtime.errors import BundleError
from edge_runtime.jsonsafe import nesting
from edge_runtime.postprocess_spec import LEGACY_KIND, PostProcess
from edge_runtime.signal import SignalSpec
from edge_runtime.siteloop.framestats import ReferenceStats

log = logging.getLogger(__name__)

# 2: typed postprocess (``type`` required, inferred from the task for schema 1), ``precision_hint``.
SCHEMA_VERSION = 2
MANIFEST_NAME = "manifest.json"
SIGNATURE_NAME = "signature.json"  # signatures of the manifest (edge_runtime.signing): it cannot list them
# The device's own choice of artifact (``adit select``), beside the manifest and never inside it, so a
# signed manifest stays as signed; it can only name one of the manifest's shipped, digest-checked artifacts.
SELECTION_NAME = "selection.json"

ArtifactFormat = Literal["onnx", "openvino"]
Precision = Literal["fp32", "fp16", "int8"]
InferencePrecision = Literal["f32", "bf16", "f16"]  # what a runtime computes in (OpenVINO's hint names)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class InputSpec(_Strict):
    """How a raw BGR uint8 frame becomes the model's input tensor (see ``preprocess``)."""

    size: tuple[int, int] = Field(description="(height, width) of the model input")
    resize: Literal["stretch", "letterbox", "center_crop"] = "stretch"
    colour: Literal["rgb", "bgr"] = "rgb"
    scale: float = Field(1.0 / 255.0, gt=0, description="multiplier applied before mean/std")
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    layout: Literal["NCHW", "NHWC"] = "NCHW"

    @field_validator("size")
    @classmethod
    def _positive_size(cls, size: tuple[int, int]) -> tuple[int, int]:
        if min(size) < 1:
            raise ValueError(f"input size must be positive, got {size}")
        return size

    @field_validator("std")
    @classmethod
    def _nonzero_std(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s == 0 for s in std):
            raise ValueError("std must not contain 0")
        return std


class FileDigest(_Strict):
    """A file inside the bundle with its expected content digest."""

    file: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    bytes: int = Field(ge=0)


class QuantAttempt(_Strict):
    """One try at an INT8 artifact: how it was made and what it scored against the gate."""

    method: str = Field(description="e.g. ort-minmax, nncf-mixed, nncf-accuracy-control")
    options: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    passed: bool
    note: str = ""


class Artifact(FileDigest):
    """One runnable model file (plus OpenVINO's weights file) and its measured metrics."""

    format: ArtifactFormat
    precision: Precision
    weights: FileDigest | None = Field(None, description="OpenVINO .bin beside the .xml")
    data: list[FileDigest] = Field(
        default_factory=list, description="other files the runtime reads for it: ONNX external data"
    )
    metrics: dict[str, float] = Field(default_factory=dict)
    status: Literal["shipped", "rejected"] = "shipped"
    note: str = ""
    # The compute precision the runtime really used when it was measured (OpenVINO picks bf16 on
    # CPUs that have it), and every attempt the gate judged, in the order they were tried (added
    # within schema 1: defaults keep older manifests valid).
    runtime_precision: str | None = None
    attempts: list[QuantAttempt] = Field(default_factory=list)
    precision_hint: InferencePrecision | None = Field(
        None, description="the precision the gate measured; the device applies it unless the site chooses"
    )

    @property
    def key(self) -> str:
        """Short name used on the command line and in reports, e.g. ``openvino-int8``."""
        return f"{self.format}-{self.precision}"

    @property
    def total_bytes(self) -> int:
        return sum(entry.bytes for entry in self.files())

    def files(self) -> list[FileDigest]:
        """Every file the runtime reads for this artifact, each checked against its digest."""
        return [self, *([self.weights] if self.weights else []), *self.data]

    @model_validator(mode="after")
    def _weights_beside_the_ir(self) -> Artifact:
        # OpenVINO reads NAME.bin beside NAME.xml whatever the manifest says: list that file, no other
        expected = Path(self.file).with_suffix(".bin").as_posix()
        if self.format == "openvino" and self.weights is not None and self.weights.file != expected:
            raise ValueError(f"{self.file}: weights {self.weights.file!r} is not {expected!r}, OpenVINO's")
        return self


class Recommendation(_Strict):
    """Which artifact to run where the site names none: the fastest (p50, batch 1) of those the gate shipped."""

    artifact: str = Field(pattern=r"^[a-z]+-[a-z0-9]+$", description="format-precision key")
    p50_ms: dict[str, float] = Field(description="p50 latency at batch 1 of every shipped artifact, ms")
    host: str = Field(description="the CPU the latencies were measured on")
    created: str = ""


class DeviceSelection(Recommendation):
    """``selection.json``: the recommendation re-decided on the device, for the manifest it was made for."""

    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ModelInterface(_Strict):
    """What a model takes and gives. The checkpoint and the manifest carry the same typed block, so
    export copies it from training and the device reads it; nothing is typed twice."""

    task: str = Field(pattern=r"^[a-z][a-z0-9_]*$", description="the task that trained it (classify, ...)")
    classes: list[str] = Field(min_length=1)
    input: InputSpec
    postprocess: PostProcess
    signal: SignalSpec | None = Field(None, description="sample windows in: how they become the input tensor")

    @model_validator(mode="before")
    @classmethod
    def _legacy_postprocess(cls, data: Any) -> Any:
        """Manifests written before ``postprocess.type`` existed: the kind follows from the task."""
        if isinstance(data, dict) and isinstance(data.get("postprocess", {}), dict):
            post = dict(data.get("postprocess", {}))
            task = data.get("task")
            if "type" not in post and isinstance(task, str) and task in LEGACY_KIND:
                post["type"] = LEGACY_KIND[task]
            return {**data, "postprocess": post}
        return data

    @field_validator("classes")
    @classmethod
    def _unique_classes(cls, classes: list[str]) -> list[str]:
        repeated = sorted({c for c in classes if classes.count(c) > 1})
        if repeated:
            raise ValueError(f"class names must be unique; repeated: {repeated}")
        return classes


class Manifest(ModelInterface):
    """``manifest.json``: what the bundle is, how to feed it, and what each artifact scored."""

    schema_version: int = Field(SCHEMA_VERSION, alias="schema")
    name: str
    version: str = "0.1.0"
    artifacts: list[Artifact] = Field(min_length=1)
    provenance: dict[str, Any] = Field(default_factory=dict)
    reference: ReferenceStats | None = Field(
        None, description="statistics of the training data the daemon's drift check compares cameras with"
    )
    recommended: Recommendation | None = Field(None, description="export's measurement and gate's choice")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)

    @field_validator("schema_version")
    @classmethod
    def _known_schema(cls, version: int) -> int:
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"manifest schema {version} is newer than this runtime understands "
                f"({SCHEMA_VERSION}); upgrade adit's edge_runtime"
            )
        return version

    @model_validator(mode="after")
    def _recommends_a_shipped_artifact(self) -> Manifest:
        shipped = [a.key for a in self.artifacts if a.status == "shipped"]
        if self.recommended is not None and self.recommended.artifact not in shipped:
            raise ValueError(
                f"recommended {self.recommended.artifact!r} is not a shipped artifact: {shipped}"
            )
        return self

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True, indent=2)


def file_digest(path: Path, relative_to: Path) -> FileDigest:
    """Digest a file for the manifest; ``file`` is stored relative to the bundle root."""
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            sha.update(chunk)
    return FileDigest(
        file=path.relative_to(relative_to).as_posix(), sha256=sha.hexdigest(), bytes=path.stat().st_size
    )


@dataclass(frozen=True)
class Bundle:
    """A verified bundle on disk."""

    root: Path
    manifest: Manifest
    selection: DeviceSelection | None = None  # this device's own choice (``adit select``), if any

    def path_of(self, entry: FileDigest) -> Path:
        return _inside(self.root, entry.file)

    def artifact(self, key: str | None = None) -> Artifact:
        """The artifact named ``format-precision``; when ``key`` is None the recommended one (see
        ``recommended``)."""
        if key is None:
            return self.recommended()[0]
        for artifact in self.manifest.artifacts:
            if artifact.key == key:
                return artifact
        known = ", ".join(a.key for a in self.manifest.artifacts)
        raise BundleError(f"{self.root}: no artifact {key!r} in the bundle; it has: {known}")

    def recommended(self) -> tuple[Artifact, str]:
        """What runs where the site names no artifact, and why: this device's selection, else the
        export-time recommendation, else the first shipped artifact (bundles made before either)."""
        shipped = {a.key: a for a in self.manifest.artifacts if a.status == "shipped"}
        if not shipped:
            raise BundleError(f"{self.root}: no shipped artifact in the manifest")
        if self.selection is not None and self.selection.artifact in shipped:
            return shipped[self.selection.artifact], f"selected on this device ({self.selection.host})"
        if self.manifest.recommended is not None:
            return shipped[
                self.manifest.recommended.artifact
            ], f"recommended at export ({self.manifest.recommended.host})"
        return next(
            iter(shipped.values())
        ), "the first shipped artifact (the bundle records no recommendation)"


def _inside(root: Path, relative: str) -> Path:
    """Resolve a manifest path, refusing anything that escapes the bundle directory."""
    candidate = (root / relative).resolve()
    if not candidate.is_relative_to(root.resolve()):
        raise BundleError(f"{root}: manifest names {relative!r}, which lies outside the bundle")
    return candidate


MAX_NESTING = 32  # a manifest nests a few levels; hundreds parse, then fail where they are written back


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise BundleError(f"{root}: no {MANIFEST_NAME}; is this a bundle directory?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if nesting(data) > MAX_NESTING:
            raise BundleError(f"{path}: nested more than {MAX_NESTING} levels deep; not a manifest")
        return Manifest.model_validate(data)
    except RecursionError as exc:
        raise BundleError(f"{path}: nested too deeply to be a manifest") from exc
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path}: not valid JSON ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise BundleError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except ValidationError as exc:
        raise BundleError(f"{path}: invalid manifest:\n{exc}") from exc


def verify_file(root: Path, entry: FileDigest) -> None:
    """Raise BundleError naming the file when it is missing or its digest differs."""
    path = _inside(root, entry.file)
    if not path.is_file():
        raise BundleError(f"{root}: artifact {entry.file} is missing")
    actual = file_digest(path, root.resolve())
    if actual.bytes != entry.bytes or actual.sha256 != entry.sha256:
        raise BundleError(
            f"{root}: {entry.file} does not match the manifest (sha256 {actual.sha256[:12]}... "
            f"!= {entry.sha256[:12]}...); the bundle was modified or corrupted"
        )


def load_bundle(path: str | Path, *, verify: Literal["all", "none"] = "all") -> Bundle:
    """Read a bundle directory (or ``.tar.gz``), checking every artifact's digest by default.

    Every file in the bundle must be listed in the manifest: a runtime reads files an artifact
    names only implicitly (OpenVINO's ``.bin``, ONNX external data), and an unlisted one would be
    read without its digest ever being checked.
    """
    root = Path(path)
    if is_archive(root):
        root = unpack(root, MANIFEST_NAME)
    if not root.is_dir():
        raise BundleError(f"{root}: bundle directory not found")
    _refuse_pickles(root)
    manifest = read_manifest(root)
    entries = [entry for artifact in manifest.artifacts for entry in artifact.files()]
    for entry in entries:
        _inside(root, entry.file)
    _refuse_unlisted(root, manifest)
    if verify == "all":
        for entry in entries:
            verify_file(root, entry)
    return Bundle(root=root, manifest=manifest, selection=read_selection(root))


def read_selection(root: Path) -> DeviceSelection | None:
    """The device's choice when it was made for this very manifest; a stale or unreadable one is ignored
    (logged): the bundle's own recommendation still holds."""
    path = root / SELECTION_NAME
    if not path.is_file():
        return None
    try:
        selection = DeviceSelection.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        log.warning("%s ignored: not a device selection (%s)", path, str(exc).splitlines()[0])
        return None
    if selection.manifest_sha256 != hashlib.sha256((root / MANIFEST_NAME).read_bytes()).hexdigest():
        log.warning("%s ignored: it was made for another manifest (the bundle was replaced)", path)
        return None
    return selection


def write_selection(bundle: Bundle, selection: Recommendation) -> Path:
    """Record the device's choice atomically beside the manifest (a reader sees the old or the new file)."""
    if not (bundle.root / MANIFEST_NAME).is_file():
        raise BundleError(f"{bundle.root}: not a bundle directory; unpack the archive to record a selection")
    digest = hashlib.sha256((bundle.root / MANIFEST_NAME).read_bytes()).hexdigest()
    document = DeviceSelection(**selection.model_dump(), manifest_sha256=digest)
    path = bundle.root / SELECTION_NAME
    partial = path.with_name(path.name + ".partial")
    try:
        partial.write_text(document.model_dump_json(indent=2) + "\n", encoding="utf-8")
        os.replace(partial, path)
    except OSError as exc:
        raise BundleError(f"{path}: cannot record the selection ({exc})") from exc
    return path


# Files that unpickle on load can run code; a bundle carries ONNX/IR and JSON only.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".pt", ".pth", ".ckpt", ".joblib")


def _refuse_pickles(root: Path) -> None:
    found = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES
    )
    if found:
        raise BundleError(f"{root}: bundle holds pickle-bearing file(s) {found}; a bundle must not have them")


def _refuse_unlisted(root: Path, manifest: Manifest) -> None:
    listed = {MANIFEST_NAME, SIGNATURE_NAME, SELECTION_NAME} | {
        e.file for a in manifest.artifacts for e in a.files()
    }
    present = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()}
    unlisted = sorted(present - {Path(name).as_posix() for name in listed})
    if unlisted:
        raise BundleError(
            f"{root}: file(s) not listed in the manifest: {unlisted}; every file a runtime may read "
            "(OpenVINO weights, ONNX external data) must be listed with its sha256"
        )


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write atomically (temp file, then rename): a reader never sees half a manifest."""
    path = root / MANIFEST_NAME
    partial = path.with_suffix(".json.partial")
    partial.write_text(manifest.to_json() + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path
