"""``python -m edge_runtime.measure verify|bench|select``: what a box with no torch can check about a bundle
it received (``adit verify|bench|select`` run these).

Exit codes: 0 done; 2 bad input or a bundle that does not verify, printed as one message.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from edge_runtime.bundle import load_bundle, write_selection
from edge_runtime.cli_types import positive_float, positive_int
from edge_runtime.errors import AditError
from edge_runtime.logs import setup_logging
from edge_runtime.measure.artifacts import BenchSettings, measure_bundle, table, write_results
from edge_runtime.measure.host import host_info
from edge_runtime.measure.labelled import LabelledImages
from edge_runtime.measure.select import (
    load_results,
    recommend,
    row_key,
    write_site_selection,
)
from edge_runtime.measure.verify import verify_bundle


def _measure_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=positive_float, default=1.0, help="minimum timing per artifact")
    parser.add_argument("--repeats", type=positive_int, default=1, help="latency repeats, pooled")
    parser.add_argument("--batch", type=positive_int, default=8, help="throughput batch for ONNX Runtime")
    parser.add_argument("--threads", type=positive_int, help="inference threads (default: the runtime's)")
    parser.add_argument("--labelled", type=Path, help="class folders of labelled images: adds top-1")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m edge_runtime.measure", description=__doc__.split("\n")[0])
    commands = root.add_subparsers(dest="command", required=True)
    verify = commands.add_parser(
        "verify", help="every file's sha256 against the manifest, then each artifact run once"
    )
    verify.add_argument("--bundle", type=Path, required=True)
    bench = commands.add_parser(
        "bench", help="every shipped artifact on this CPU: latency, throughput, memory"
    )
    bench.add_argument("--bundle", type=Path, required=True)
    bench.add_argument("--out", type=Path, help="write the figures here as JSON (default: print only)")
    _measure_arguments(bench)
    select = commands.add_parser(
        "select", help="re-decide the recommended artifact for this CPU and record it beside the manifest"
    )
    select.add_argument("--bundle", type=Path, required=True)
    select.add_argument("--results", type=Path, help="choose from these results instead of measuring now")
    select.add_argument("--no-record", action="store_true", help="print the choice only")
    select.add_argument(
        "--write", type=Path, help="also write a site YAML with model.bundle and model.artifact"
    )
    select.add_argument("--site", type=Path, help="site YAML to start from when writing")
    _measure_arguments(select)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging()
    try:
        if args.command == "verify":
            print(verify_bundle(args.bundle))
            return 0
        return _bench(args) if args.command == "bench" else _select(args)
    except AditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _settings(args: argparse.Namespace) -> BenchSettings:
    return BenchSettings(seconds=args.seconds, repeats=args.repeats, batch=args.batch, threads=args.threads)


def _bench(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    labelled = LabelledImages.read(args.labelled, bundle) if args.labelled else None
    rows = measure_bundle(bundle, _settings(args), labelled)
    print(table(rows))
    if args.out:
        write_results(rows, host_info(), args.out)
        print(f"written {args.out}")
    return 0


def _select(args: argparse.Namespace) -> int:
    bundle = load_bundle(args.bundle)
    created = datetime.now(UTC).isoformat(timespec="seconds")
    if args.results:
        results = load_results(args.results)
        rows = [r for r in results.get("rows", []) if r.get("status") != "comparison"]
        host = str(results.get("host", {}).get("cpu", "unknown"))
        choice = recommend(bundle, {row_key(r): r["p50_ms"] for r in rows if "p50_ms" in r}, host, created)
    else:
        labelled = LabelledImages.read(args.labelled, bundle) if args.labelled else None
        rows = measure_bundle(bundle, _settings(args), labelled)
        print(table(rows))
        choice = recommend(bundle, {r.artifact: r.p50_ms for r in rows}, str(host_info()["cpu"]), created)
    figures = ", ".join(
        f"{key} {ms:.2f} ms" for key, ms in sorted(choice.p50_ms.items(), key=lambda kv: kv[1])
    )
    print(f"model.artifact={choice.artifact}  # fastest shipped artifact on {choice.host}: {figures}")
    if not args.no_record:
        path = write_selection(bundle, choice)
        print(f"recorded in {path} (the daemon runs it unless the site names another)")
    if args.write:
        write_site_selection(args.write, args.bundle, choice.artifact, args.site)
        print(f"written {args.write}")
    return 0
