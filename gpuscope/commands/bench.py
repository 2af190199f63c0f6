"""``gpuscope bench``: run a workload headless on one or more devices and report what it was
worth: throughput, energy, average power, work per joule and % of the datasheet peak.

The parent never imports torch: each run happens in a spawned child (``workloads.runner``), and
the sampler measures energy over the child's measured stretch.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from gpuscope.commands.bench_output import (
    describe_catalog,
    failure_details,
    print_results,
    print_sweep,
)
from gpuscope.commands.bench_progress import Outcome, drive_shown
from gpuscope.commands.stdout import check_stdout, print_or_fail
from gpuscope.config import cpu_power_model
from gpuscope.errors import UsageError
from gpuscope.intervals import RUN_INTERVAL_S
from gpuscope.measurement.measured_run import MeasuredRun, new_run
from gpuscope.measurement.run_driver import RunDriver
from gpuscope.measurement.run_params import RunParams, choice_notes, run_params
from gpuscope.measurement.sweep import Sweep, parse_sweep, point_params, ran_out
from gpuscope.measurement.targets import (
    RunTarget,
    UnknownTarget,
    check_runnable,
    named_targets,
)
from gpuscope.safe_text import clipped, one_line, printable
from gpuscope.sampler import Sampler
from gpuscope.telemetry.cpu_estimate import apply_cpu_estimate
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.units import check_seconds
from gpuscope.workloads.api import ParamValue, WorkloadError, name_problem
from gpuscope.workloads.events import ErrorKind
from gpuscope.workloads.registry import (
    Catalog,
    WorkloadInfo,
    bundled_workloads,
    find_workloads,
)


@dataclass(frozen=True, slots=True)
class BenchOptions:
    workload: str | None = None
    devices: tuple[str, ...] = ("cpu",)
    duration_s: float = 10.0
    warmup_s: float = 2.0
    output_format: str = "table"  # table, json, csv
    plugin_files: tuple[Path, ...] = ()
    list_only: bool = False
    param_args: tuple[str, ...] = ()  # ["--dtype", "bf16", "--size=4096"]
    hang_timeout_s: float | None = None  # None: by the run's phase (runner.HangLimits)
    debug: bool = False  # a failed run's traceback, from the child
    cpu_tdp_w: float | None = None  # None: the config file's, if any
    sweep: str | None = None  # "size=256,512" or "size=256..8192x2": one run per value


def run_bench(options: BenchOptions) -> int:
    check_stdout()
    for plugin in options.plugin_files:
        if not plugin.is_file():
            raise UsageError(f"plugin file {plugin} not found")
    if not options.list_only:
        _check_times(options)
    cpu_model = None if options.list_only else cpu_power_model(options.cpu_tdp_w)
    catalog = bundled_workloads()  # a bundled name wins: no plugin need be read for it
    if options.list_only or options.plugin_files or options.workload not in catalog.workloads:
        catalog = find_workloads(plugin_files=options.plugin_files)
    if options.list_only:
        return print_or_fail(lambda: print(describe_catalog(catalog)), "bench")
    info = _choose(catalog, options.workload, options.debug)
    for shadowed in catalog.shadows_of(info.name):
        print(one_line(f"gpuscope bench: note: {shadowed.describe()}", 2000), file=sys.stderr)
    given = _given(info, options.param_args)
    sweep = _sweep(info, options) if options.sweep is not None else None
    outcome = Outcome()
    with discover() as found:
        apply_cpu_estimate(found, cpu_model)
        targets = usable_targets(info, options.devices, found)
        each = {t: _points(info, given, sweep, t) for t in targets}  # all checked, then run
        for points in each.values():  # an emulated precision is said once its run is set up
            for note in choice_notes(replace(p, emulated=None) for p in points.values()):
                print(f"gpuscope bench: note: {note}", file=sys.stderr)
        sampler = Sampler(found.devices, interval_s=RUN_INTERVAL_S)
        driver = RunDriver(sampler, found)
        sampler.start()
        try:
            if sweep is not None:
                _run_sweep(driver, info, sweep, each, options, outcome)
            for target in targets if sweep is None else ():
                if outcome.interrupted:
                    break
                run = _new_run(info, target, each[target][None], options)
                drive_shown(driver, run, outcome)
                keep(run, outcome, options.debug)
        finally:
            sampler.stop()
    if sweep is not None:
        printed = print_or_fail(
            lambda: print_sweep(info.name, sweep, outcome.points, options.output_format), "bench"
        )
    else:
        printed = print_or_fail(
            lambda: print_results(outcome.results, options.output_format), "bench"
        )
    for line in outcome.failures:  # a run's details are indented under its line: kept
        indent = line[: len(line) - len(line.lstrip(" "))]
        print(f"gpuscope bench: {indent}{one_line(line, 2000)}", file=sys.stderr)
    if printed:
        return printed
    if outcome.interrupted:
        return 130
    if outcome.failures:
        return 2 if outcome.usage_failure else 1
    return 0


def _choose(catalog: Catalog, name: str | None, debug: bool) -> WorkloadInfo:
    if not name:
        raise UsageError("name a workload (gpuscope bench --list shows them)")
    available = ", ".join(sorted(catalog.workloads)) or "none"
    if name_problem(name) is not None:
        raise UsageError(
            f"no workload is called {clipped(repr(name), 80)}: a workload's {name_problem(name)}"
            f" (available: {available})"
        )
    if name not in catalog.workloads:
        broken = catalog.broken_for(name)
        if broken is not None:
            if debug and broken.detail:
                print(printable(broken.detail).rstrip(), file=sys.stderr)
            raise UsageError(
                f"workload {name!r} cannot run: {broken.where} is broken: {broken.reason}"
            )
        raise UsageError(f"unknown workload {name!r} (available: {available})")
    return catalog.workloads[name]


def _given(workload: WorkloadInfo, args: Sequence[str]) -> dict[str, ParamValue]:
    """``--dtype bf16 --size=4096`` -> the values given, each checked (``best`` for a
    precision); the rest are chosen per device (``run_params``). UsageError for anything else."""
    declared = {p.name: p for p in workload.params}
    given: dict[str, ParamValue] = {}
    items = list(args)
    while items:
        item = items.pop(0)
        if not item.startswith("--"):
            raise UsageError(f"unexpected argument {clipped(repr(item), 80)}")
        name, _, value = item[2:].partition("=")
        name = name.replace("-", "_")
        if name not in declared:
            known = ", ".join(f"--{n}" for n in declared) or "none"
            asked = f"--{name}"
            asked = one_line(asked, 80) if asked.isprintable() else clipped(repr(asked), 80)
            raise UsageError(f"{workload.name} has no parameter {asked} (parameters: {known})")
        if not value:
            if not items:
                raise UsageError(f"--{name} needs a value")
            value = items.pop(0)
        try:
            given[name] = declared[name].parse(value)
        except WorkloadError as exc:
            raise UsageError(str(exc)) from None
    return given


def _points(
    info: WorkloadInfo, given: dict[str, ParamValue], sweep: Sweep | None, target: RunTarget
) -> dict[ParamValue | None, RunParams]:
    """The parameters of each run on ``target`` (one per swept value, or one under None),
    every one checked before the first run; UsageError names what does not fit."""
    points: dict[ParamValue | None, RunParams] = {}
    try:
        if sweep is None:
            points[None] = run_params(info, given, target)
        else:
            for value, params in point_params(info, given, sweep, target).items():
                points[value] = params
    except WorkloadError as exc:
        raise UsageError(f"{'--sweep ' if sweep else ''}{exc} (on {target.label})") from None
    return points


def usable_targets(
    workload: WorkloadInfo, names: Sequence[str], found: Discovery
) -> list[RunTarget]:
    """The devices as named, either way (``cuda:0`` or ``nvidia:0``), each one the workload
    runs on and torch can open (``targets.check_runnable``); UsageError, one line, if not."""
    try:
        return check_runnable(workload, named_targets(names, found), found)
    except (UnknownTarget, WorkloadError) as exc:
        raise UsageError(str(exc)) from None


def _check_times(options: BenchOptions) -> None:
    if not options.devices:
        raise UsageError("--compare needs at least one device, e.g. --compare cpu,cuda:0")
    try:
        check_seconds(options.duration_s, "--duration")
        check_seconds(options.warmup_s, "--warmup", inclusive=True)
        if options.hang_timeout_s is not None:
            check_seconds(options.hang_timeout_s, "--hang-timeout")
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _new_run(
    info: WorkloadInfo,
    target: RunTarget,
    params: RunParams,
    options: BenchOptions,
    swept: str | None = None,
) -> MeasuredRun:
    return new_run(
        info, target, params, options.duration_s, options.warmup_s, options.hang_timeout_s, swept
    )


def keep(run: MeasuredRun, outcome: Outcome, debug: bool) -> None:
    """The run's result, or its failure in a line (and details) for stderr."""
    if run.result is not None:
        outcome.results.append(run.result)
    elif run.error is not None:
        outcome.failures.append(f"{run.label}: {run.error.message}")
        outcome.usage_failure |= run.error.kind is ErrorKind.USAGE
        outcome.failures.extend(failure_details(run, debug))


def _sweep(info: WorkloadInfo, options: BenchOptions) -> Sweep:
    assert options.sweep is not None
    try:
        sweep = parse_sweep(options.sweep, info.params)
    except WorkloadError as exc:
        raise UsageError(str(exc)) from None
    given = {a[2:].partition("=")[0].replace("-", "_") for a in options.param_args if a[:2] == "--"}
    if sweep.param in given:
        raise UsageError(f"--{sweep.param} is swept: give its values in --sweep only")
    return sweep


def _run_sweep(
    driver: RunDriver,
    info: WorkloadInfo,
    sweep: Sweep,
    each: dict[RunTarget, dict[ParamValue | None, RunParams]],
    options: BenchOptions,
    outcome: Outcome,
) -> None:
    """Each device in turn, its values in order (``RunDriver.walk``): running out of memory is
    the boundary, a point and not a failure; a Ctrl-C stops the sweep with the points it has."""
    sweep_run = driver.new_sweep(info.name, sweep, [t.torch_device for t in each])

    def drive(run: MeasuredRun) -> None:
        drive_shown(driver, run, outcome)
        if not ran_out(run.error):
            keep(run, outcome, options.debug)

    def make_run(target: RunTarget, value: ParamValue) -> MeasuredRun:
        return _new_run(info, target, each[target][value], options, sweep.param)

    driver.walk(sweep_run, list(each), make_run, drive)
    outcome.points.extend(sweep_run.points)
