"""Numbers on the command line that make no sense are refused while it is parsed, by every stage's CLI.

``--threads 0`` or ``--seconds -1`` used to pass ``type=int``/``type=float`` and fail late (deep in a
runtime) or silently (``--limit 0`` exported every capture). Each CLI now uses the shared types of
``edge_runtime.cli_types``: argparse exits with status 2 and a message naming the option, the value and
what is wrong; valid values, 0 where it means something included, still parse to the same numbers.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import pytest

from adit import predict
from benchmarks import __main__ as bench_cli
from benchmarks import (
    belt_load,
    capacity_cli,
    capacity_probe,
    dashboard_load,
    site_adapt,
    site_loop,
    site_shift,
    snapshot_quota,
    soak,
    vibration_loads,
)
from edge_runtime import cli as edge_cli
from edge_runtime import cli_types
from edge_runtime.fleet import cli as fleet_cli
from edge_runtime.measure import cli as measure_cli
from edge_runtime.siteloop import __main__ as siteloop_cli
from export import __main__ as export_cli
from train.synth import __main__ as synth_cli

Parse = Callable[[list[str]], object]


def _parse_with(build: Callable[[], argparse.ArgumentParser]) -> Parse:
    def parse(argv: list[str]) -> argparse.Namespace:
        return build().parse_args(argv)

    parse.__module__ = build.__module__  # the test's id names the CLI
    return parse


BENCH = ["--bundle", "b", "--out", "o"]
SITE_ADAPT = ["--bundle", "b", "--data", "d", "--out", "o"]
EXPORT = ["build", "--checkpoint", "c.pt", "--out", "o"]
MEASURE = ["bench", "--bundle", "b"]
CAPACITY = ["--bundle", "b", "--video", "v.mp4", "--out", "o"]
SITELOOP = ["export", "--captures", "c", "--bundle", "b", "--format", "label-studio", "--out", "o"]
PREDICT = ["--model", "m", "--source", "s", "--out", "o"]
SITE_LOOP = ["--bundle", "b", "--video", "v", "--site", "s", "--out", "o"]

# (parse, arguments the command needs anyway, option, bad value, what the message says)
REFUSED = [
    (_parse_with(bench_cli.bench_parser), BENCH, "--threads", "0", "must be a positive integer"),
    (_parse_with(bench_cli.bench_parser), BENCH, "--threads", "-2", "must be a positive integer"),
    (_parse_with(bench_cli.bench_parser), BENCH, "--seconds", "0", "must be a positive number"),
    (_parse_with(bench_cli.bench_parser), BENCH, "--repeats", "0", "must be a positive integer"),
    (_parse_with(bench_cli.bench_parser), BENCH, "--batch", "-8", "must be a positive integer"),
    (_parse_with(bench_cli.bench_parser), BENCH, "--camera-seconds", "0", "must be a positive number"),
    (bench_cli.train, ["--config", "c.yaml", "--out", "o"], "--target", "1.5", "from 0 to 1"),
    (_parse_with(capacity_cli._parser), CAPACITY, "--fps", "0", "must be a positive number"),
    (_parse_with(capacity_cli._parser), CAPACITY, "--warmup", "-1", "must not be negative"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--threads", "-1", "must be a positive integer"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--threads", "0", "must be a positive integer"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--labels", "0", "must be a positive integer"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--random-draws", "0", "must be a positive integer"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--first-draw", "-1", "must not be negative"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--seed", "-1", "must not be negative"),
    (_parse_with(site_adapt.parser), SITE_ADAPT, "--severity", "-0.5", "must not be negative"),
    (_parse_with(export_cli._parser), EXPORT, "--threads", "0", "must be a positive integer"),
    (_parse_with(export_cli._parser), EXPORT, "--calibration-size", "0", "must be a positive integer"),
    (_parse_with(export_cli._parser), EXPORT, "--max-drop", "-0.5", "must not be negative"),
    (_parse_with(export_cli._parser), EXPORT, "--max-class-drop", "-1", "must not be negative"),
    (_parse_with(export_cli._parser), EXPORT, "--max-per-class-drop", "-5", "must not be negative"),
    (_parse_with(export_cli._parser), EXPORT, "--min-metric", "30", "from 0 to 1"),
    (_parse_with(measure_cli.parser), MEASURE, "--threads", "0", "must be a positive integer"),
    (_parse_with(measure_cli.parser), MEASURE, "--seconds", "nan", "is not a finite number"),
    (_parse_with(measure_cli.parser), MEASURE, "--seconds", "inf", "is not a finite number"),
    (_parse_with(measure_cli.parser), MEASURE, "--repeats", "x", "is not an integer"),
    (_parse_with(siteloop_cli._parser), SITELOOP, "--limit", "0", "must be a positive integer"),
    (_parse_with(siteloop_cli._parser), SITELOOP, "--budget", "-3", "must be a positive integer"),
    (_parse_with(edge_cli._parser), ["replay", "v.mp4"], "--tolerance", "-1", "must not be negative"),
    (_parse_with(fleet_cli._parser), ["rollout", "b.tar.gz", "--to", "g"], "--hold", "-1", "must not be"),
    (_parse_with(fleet_cli._parser), ["rollout", "b.tar.gz", "--to", "g"], "--timeout", "0", "positive"),
    (_parse_with(synth_cli.parser), ["--out", "o"], "--seed", "-1", "must not be negative"),
    (_parse_with(predict.parser), PREDICT, "--width", "0", "must be a positive integer"),
    # the benchmarks that build their parser in main(): refused before any work starts
    (soak.main, [], "--cameras", "0", "must be a positive integer"),
    (soak.main, [], "--minutes", "0", "must be a positive number"),
    (soak.main, [], "--sample-s", "-5", "must be a positive number"),
    (site_loop.main, SITE_LOOP, "--rounds", "0", "must be a positive integer"),
    (snapshot_quota.main, [], "--events", "0", "must be a positive integer"),
    (capacity_probe.main, ["--config", "c", "--out", "o"], "--seconds", "-30", "must be a positive number"),
    (dashboard_load.main, [], "--seconds", "0", "must be a positive number"),
    (belt_load.main, ["--bundle", "b", "--out", "o"], "--exponent", "0", "must be a positive number"),
    (vibration_loads.main, ["--data", "d"], "--seeds", "-1", "must not be negative"),
    (site_shift.main, ["--bundle", "b", "--data", "d", "--out", "o"], "--seed", "-7", "must not be negative"),
]


@pytest.mark.parametrize(
    ("parse", "needed", "option", "value", "why"),
    REFUSED,
    ids=[f"{row[0].__module__} {row[2]} {row[3]}" for row in REFUSED],
)
def test_a_number_that_makes_no_sense_is_refused_naming_the_option_and_the_value(
    parse: Parse, needed: list[str], option: str, value: str, why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        parse([*needed, option, value])
    assert refused.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {option}" in error and repr(value) in error and why in error, error


def test_valid_numbers_parse_to_the_same_values_0_where_it_means_something() -> None:
    valid = "--threads 2 --seconds 0.5 --repeats 3 --batch 1 --camera-seconds 4".split()
    bench = bench_cli.bench_parser().parse_args([*BENCH, *valid])
    assert (bench.threads, bench.seconds, bench.repeats, bench.batch) == (2, 0.5, 3, 1)
    assert bench.camera_seconds == 4.0
    defaults = bench_cli.bench_parser().parse_args(BENCH)
    assert (defaults.threads, defaults.seconds, defaults.repeats, defaults.batch) == (None, 1.0, 1, 8)

    valid = "--threads 1 --first-draw 0 --seed 0 --severity 0 --labels 5".split()
    adapt = site_adapt.parser().parse_args([*SITE_ADAPT, *valid])
    assert (adapt.threads, adapt.first_draw, adapt.seed, adapt.severity, adapt.labels) == (1, 0, 0, 0.0, 5)
    assert site_adapt.parser().parse_args(SITE_ADAPT).severity == 1.6

    valid = "--threads 1 --max-drop 0 --min-metric 0 --calibration-size 4".split()
    build = export_cli._parser().parse_args([*EXPORT, *valid])
    assert (build.threads, build.max_drop, build.min_metric, build.calibration_size) == (1, 0.0, 0.0, 4)
    assert export_cli._parser().parse_args([*EXPORT, "--min-metric", "1"]).min_metric == 1.0

    measure = measure_cli.parser().parse_args([*MEASURE, "--seconds", "1e-3", "--threads", "4"])
    assert (measure.seconds, measure.threads) == (0.001, 4)
    assert edge_cli._parser().parse_args(["replay", "v.mp4", "--tolerance", "0"]).tolerance == 0
    rollout = fleet_cli._parser().parse_args(["rollout", "b", "--to", "g", "--hold", "0"])
    assert (rollout.hold, rollout.timeout) == (0.0, 600.0)
    assert capacity_cli._parser().parse_args([*CAPACITY, "--warmup", "0"]).warmup == 0.0


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (cli_types.positive_int, "1", 1),
        (cli_types.non_negative_int, "0", 0),
        (cli_types.positive_float, "0.25", 0.25),
        (cli_types.non_negative_float, "0", 0.0),
        (cli_types.fraction, "0", 0.0),
        (cli_types.fraction, "1", 1.0),
        (cli_types.positive_counts, "1,2,4", [1, 2, 4]),
    ],
)
def test_each_type_keeps_its_edge_value(kind: Callable[[str], object], text: str, value: object) -> None:
    assert kind(text) == value


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (cli_types.positive_int, "0"),
        (cli_types.positive_int, "1.5"),
        (cli_types.non_negative_int, "-1"),
        (cli_types.positive_float, "0"),
        (cli_types.positive_float, "-inf"),
        (cli_types.non_negative_float, "-0.1"),
        (cli_types.non_negative_float, "nan"),
        (cli_types.fraction, "-0.01"),
        (cli_types.fraction, "1.01"),
        (cli_types.positive_counts, "0,1"),
        (cli_types.positive_counts, ""),
    ],
)
def test_each_type_refuses_just_past_its_edge(kind: Callable[[str], object], text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=repr(text)):
        kind(text)
