"""``python -m edge_runtime.siteloop``: captures out to labelling tools, labels back, reference statistics.

Exit codes: 0 done; 2 bad input (a message naming it, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edge_runtime.bundle import load_bundle
from edge_runtime.cli_types import positive_int
from edge_runtime.errors import AditError, ConfigError
from edge_runtime.siteloop.captures import read_captures
from edge_runtime.siteloop.labelling import LS_IMAGE_URL, export, list_formats, pre_annotation
from edge_runtime.siteloop.labels_in import list_readers, read_labels, write_dataset
from edge_runtime.siteloop.pick import DEFAULT, list_picks, pick_captures
from edge_runtime.siteloop.reference import add_reference, image_files
from edge_runtime.siteloop.signal_windows import labelled_windows, write_npz
from edge_runtime.web.acks import AckStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m edge_runtime.siteloop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    out = commands.add_parser("export", help="captured frames + pre-annotations as a labelling task")
    out.add_argument("--captures", type=Path, required=True, help="site_loop.capture.folder of the device")
    out.add_argument("--bundle", type=Path, required=True, help="the bundle whose classes the task labels")
    out.add_argument("--format", required=True, choices=list_formats())
    out.add_argument("--out", type=Path, required=True)
    out.add_argument(
        "--acks", type=Path, help="the dashboard's acks.sqlite: operator feedback corrects the task"
    )
    out.add_argument("--reasons", help="comma-separated: only captures with one of these reasons")
    out.add_argument("--limit", type=positive_int, help="at most this many, newest first")
    out.add_argument(
        "--budget",
        type=positive_int,
        help="a labelling round of this many classification captures: feedback first, then --pick",
    )
    out.add_argument(
        "--pick",
        choices=list_picks(),
        help=f"with --budget: which captures fill it (default {DEFAULT}: the smallest margins first; "
        "balanced: each predicted class in turn, near-duplicates passed over, measured worse)",
    )
    out.add_argument("--image-url", help=f"Label Studio: prefix of each image URL (default {LS_IMAGE_URL})")
    back = commands.add_parser("import", help="corrected labels back as training data")
    back.add_argument("--format", required=True, choices=list_readers())
    back.add_argument("--labels", type=Path, required=True, help="the tool's export (file or folder)")
    back.add_argument("--images", type=Path, required=True, help="folder holding the labelled images")
    back.add_argument(
        "--bundle", type=Path, required=True, help="the bundle being retrained: task and classes"
    )
    back.add_argument(
        "--out", type=Path, required=True, help="class folders (classify) or YOLO data (detect)"
    )
    signal = commands.add_parser(
        "signal-export", help="machine event windows with operator feedback as few-shot training windows"
    )
    signal.add_argument("--windows", type=Path, required=True, help="the machine event-window folder")
    signal.add_argument("--acks", type=Path, required=True, help="the dashboard's acks.sqlite")
    signal.add_argument("--bundle", type=Path, required=True, help="the signal bundle: its classes")
    signal.add_argument("--out", type=Path, required=True, help=".npz for train's data.feedback")
    signal.add_argument(
        "--normal-label", help="a false alarm makes its window this class (else it is left out)"
    )
    reference = commands.add_parser("reference", help="write a bundle's reference statistics for drift")
    reference.add_argument("bundle", type=Path)
    reference.add_argument("images", type=Path, help="held-out images the bundle was validated on")
    reference.add_argument("--artifact", help="format-precision key (default: the first shipped)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "export":
            return _export(args)
        if args.command == "signal-export":
            return _signal_export(args)
        if args.command == "import":
            manifest = load_bundle(args.bundle, verify="none").manifest
            items = read_labels(args.format, args.labels, args.images)
            print(json.dumps(write_dataset(items, args.out, manifest.task, manifest.classes)))
            return 0
        stats = add_reference(args.bundle, image_files(args.images), args.artifact)
        print(f"{args.bundle}: reference statistics of {stats.brightness.samples} images written")
        return 0
    except (AditError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _export(args: argparse.Namespace) -> int:
    if args.pick is not None and args.budget is None:
        raise ConfigError(f"--pick {args.pick}: picks within a labelling round; give --budget N too")
    manifest = load_bundle(args.bundle, verify="none").manifest
    captures = list(read_captures(args.captures))
    if args.reasons:
        wanted = set(args.reasons.split(","))
        captures = [c for c in captures if wanted & set(c.reasons)]
    if args.limit is not None:
        captures = captures[-args.limit :]
    if args.budget is not None:
        captures = pick_captures(captures, args.budget, args.pick or DEFAULT)
    feedback = _feedback(args.acks) if args.acks is not None else {}
    items = [
        pre_annotation(c, next((feedback[e] for e in c.event_ids if e in feedback), None)) for c in captures
    ]
    options = {
        "task": manifest.task,
        "image_url": args.image_url,
        "name": f"{manifest.name} {manifest.version}",
    }
    written = export(items, manifest.classes, args.out, args.format, **options)
    print(f"{len(items)} capture(s) -> {', '.join(str(p) for p in written)}")
    return 0


def _feedback(acks: Path) -> dict:
    if not acks.is_file():
        raise ConfigError(f"--acks {acks}: no such file")
    store = AckStore(acks)
    try:
        return store.feedback()
    finally:
        store.close()


def _signal_export(args: argparse.Namespace) -> int:
    manifest = load_bundle(args.bundle, verify="none").manifest
    if manifest.signal is None:
        raise ConfigError(f"--bundle {args.bundle}: not a signal bundle (task {manifest.task!r})")
    windows = labelled_windows(args.windows, _feedback(args.acks), manifest.classes, args.normal_label)
    written = write_npz(windows, args.out)
    counts = {label: windows.labels.count(label) for label in sorted(set(windows.labels))}
    print(f"{len(windows.labels)} labelled window(s) -> {written}: {json.dumps(counts)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
