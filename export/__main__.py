"""``python -m export build --checkpoint CKPT --out BUNDLE`` (any task), ``verify BUNDLE`` and
``sign BUNDLE --key KEY``.

Exit codes: 0 done (a rejected INT8 artifact is a verdict, not a failure); 1 the FP32 model is below
its task's floor, so nothing ships (not fit to deploy; ``--accept-below-floor`` overrides); 2 bad input
or a bundle that does not verify, printed as one message without a traceback.
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

from edge_runtime.cli_types import fraction, non_negative_float, positive_int
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.measure.verify import refused, summary, verify_bundle
from edge_runtime.signing import add_sign_arguments, load_private_key, sign_bundle, sign_command
from export.build import ExportRequest, export_bundle
from export.formats import FORMATS
from export.gate import Floor, GateChoice
from export.options import FORMAT_OPTIONS, describe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m export", description="Export a checkpoint to a verified model bundle."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="checkpoint -> ONNX, OpenVINO IR, INT8, gated, as a bundle")
    build.add_argument("--checkpoint", type=Path, required=True)
    build.add_argument("--out", type=Path, required=True, help="bundle directory to write")
    build.add_argument(
        "--data",
        type=Path,
        help="data root in the training layout (default: the one the model was trained on)",
    )
    build.add_argument(
        "--site-data",
        type=Path,
        help="a site's labelled frames (the siteloop import): every shipped artifact measured on them too",
    )
    build.add_argument(
        "--formats",
        nargs="+",
        default=list(FORMATS),
        choices=list(FORMATS),
        metavar="FORMAT",
        help=f"artifacts to produce (default: all of {', '.join(FORMATS)})",
    )
    build.add_argument("--calibration-size", type=positive_int, default=100)
    build.add_argument(
        "--max-drop",
        type=non_negative_float,
        help="budget against true FP32 in percentage points of the task's metric (top-1, mAP@0.5, mIoU); "
        "default: the task's (0.5; detection 1.0)",
    )
    build.add_argument(
        "--safety-classes",
        nargs="*",
        help="classes whose per-class figures (recall; AP@0.5 and recall; IoU) an artifact may not lose; "
        "default: the task's where the model has them (detection: person, no-helmet)",
    )
    build.add_argument(
        "--max-class-drop",
        "--max-recall-drop",
        dest="max_class_drop",
        type=non_negative_float,
        help="budget of the safety classes' figures, in pp; default: the task's (0; detection 1.0)",
    )
    build.add_argument(
        "--max-per-class-drop",
        type=non_negative_float,
        help="budget of every class's figure (AP@0.5, IoU, recall), in pp; default: the task's "
        "(detection 5.0; others not held)",
    )
    build.add_argument(
        "--min-metric",
        type=fraction,
        help="the floor: the FP32 model's least task metric on the validation split (a fraction, e.g. 0.3); "
        "default: the task's (detection mAP@0.5 0.30; classifiers the majority-class rate + 0.05; "
        "segmentation a one-class mask's mIoU + 0.05)",
    )
    build.add_argument(
        "--accept-below-floor",
        action="store_true",
        help="ship a model below the floor anyway (recorded in the manifest); without it nothing ships",
    )
    build.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="FORMAT.OPTION=VALUE",
        help="per-format option, e.g. onnx-int8.calibration=entropy (repeatable); "
        + "; ".join(f"{key}: {describe(key)}" for key in FORMAT_OPTIONS),
    )
    build.add_argument(
        "--no-fix-ladder",
        action="store_true",
        help="reject an artifact that misses the budget without trying fixes",
    )
    build.add_argument(
        "--threads",
        type=positive_int,
        metavar="N",
        help="inference threads (at least 1) of the runtimes export measures with: the accuracy gate "
        "(and its fix ladder), the site data's figures, the recommendation's latencies and the drift "
        "reference (default: each runtime's, every core); not PyTorch, calibration, NNCF's quantization "
        "or the ONNX parity check",
    )
    build.add_argument("--tar", action="store_true", help="also pack BUNDLE.tar.gz for shipping")
    build.add_argument(
        "--sign-key", type=Path, help="sign the manifest with this Ed25519 key (docs/fleet.md)"
    )
    build.add_argument("--signer", help="name recorded with the signature (default: the key file's stem)")
    add_sign_arguments(commands.add_parser("sign", help="sign a bundle's manifest with an Ed25519 key"))
    verify = commands.add_parser(
        "verify", help="check a bundle's manifest and every artifact's sha256, then run each once"
    )
    verify.add_argument("bundle", type=Path)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "verify":
            print(verify_bundle(args.bundle))
            return 0
        if args.command == "sign":
            return sign_command(args)
        # a bad key fails before any work
        sign_key = load_private_key(args.sign_key) if args.sign_key else None
        budget = GateChoice(
            max_drop_pp=args.max_drop,
            max_class_drop_pp=args.max_class_drop,
            max_per_class_drop_pp=args.max_per_class_drop,
            safety_classes=None if args.safety_classes is None else tuple(args.safety_classes),
        )
        request = ExportRequest(
            checkpoint=args.checkpoint,
            out=args.out,
            data_root=args.data,
            formats=tuple(args.formats),
            calibration_size=args.calibration_size,
            budget=budget,
            floor=Floor(args.min_metric, args.accept_below_floor),
            options=tuple(args.option),
            fix_ladder=not args.no_fix_ladder,
            site_data=args.site_data,
            threads=args.threads,
        )
        bundle = export_bundle(request)
        print(summary(bundle))
        if sign_key is not None:
            sign_bundle(args.out, sign_key, args.signer or args.sign_key.stem)
        if args.tar:
            archive = args.out.with_name(args.out.name + ".tar.gz")
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(args.out, arcname=args.out.name)
            print(f"packed {archive}")
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 1 if refused(bundle.manifest.provenance) else 0


if __name__ == "__main__":
    sys.exit(main())
