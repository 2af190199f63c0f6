"""``gpuscope suite``: the standard set of workloads on the CPU and every GPU within a time
budget the user sets, recorded, and made into a report: "why a GPU", measured here.

The set: GEMM at each device's best native precision and at fp32, ResNet-50 training and
inference and the LSTM at each device's best native precision (so a CPU without native bf16
runs fp32, and the CPU-vs-GPU ratios compare each at its best), and the memory probe on GPUs.
Sizes and batches are each device's defaults (``Param.device_defaults``).

The budget is the whole command's wall time. Before each run, what is left (less the time the
report takes) is shared among the runs still to come: the run is measured for most of its
share, its setup and silence limits are capped by the share, and it is stopped when the share
is spent. Every planned item ends up measured, failed (why) or skipped (why), in the order it
happened, on stderr as it happens, in ``suite.json`` and in the report.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gpuscope.commands.bench_output import print_results
from gpuscope.commands.bench_progress import Outcome, drive_shown
from gpuscope.commands.report import ReportOptions, run_report
from gpuscope.commands.stdout import print_or_fail
from gpuscope.commands.suite_recording import start_recording, watch_recording
from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.intervals import RUN_INTERVAL_S
from gpuscope.measurement.measured_run import START_UP_S, MeasuredRun, new_run
from gpuscope.measurement.run_driver import RunDriver
from gpuscope.measurement.run_params import RunParams, run_params
from gpuscope.measurement.run_result import params_text
from gpuscope.measurement.targets import (
    RunTarget,
    UnknownTarget,
    check_runnable,
    launch_targets,
    named_targets,
)
from gpuscope.safe_text import one_line
from gpuscope.sampler import Sampler
from gpuscope.sinks.output_files import (
    OutputError,
    check_new_folder,
    write_atomically,
    write_error,
)
from gpuscope.sinks.recording_file import RecordingFile
from gpuscope.sinks.results import results_json
from gpuscope.telemetry.cpu_estimate import apply_cpu_estimate
from gpuscope.telemetry.discover import Discovery, discover
from gpuscope.units import check_seconds, format_rate
from gpuscope.workloads.api import BEST, WorkloadError
from gpuscope.workloads.events import ErrorKind
from gpuscope.workloads.registry import Catalog, WorkloadInfo, bundled_workloads
from gpuscope.workloads.runner import hold_standard_fds

MIN_SHARE_S = 1.0  # a run measured for less than this says little
# Kept back from the budget for writing the results and the report (matplotlib's import and
# charts: 1.6-2.4 s on the 2-core CI VM, 2026-12-07).
REPORT_S = 3.0
STOP_GRACE_S = 1.0  # a run past its share: its step's end, then killed


@dataclass(frozen=True, slots=True)
class SuiteItem:
    workload: str
    params: dict[str, Any]  # what the suite asks for; the rest is each device's default
    gpu_only: bool = False


SUITE: tuple[SuiteItem, ...] = (
    SuiteItem("gemm", {"dtype": BEST}),
    SuiteItem("gemm", {"dtype": "fp32"}),
    SuiteItem("cnn", {"mode": "train", "precision": BEST}),
    SuiteItem("cnn", {"mode": "infer", "precision": BEST}),
    SuiteItem("rnn", {"precision": BEST}),
    SuiteItem("memory-probe", {"model": "cnn", "precision": BEST}, gpu_only=True),
)


class ItemStatus(enum.Enum):
    MEASURED = "measured"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"  # Ctrl-C


@dataclass
class Item:
    """One suite item on one device, and what became of it."""

    workload: WorkloadInfo
    target: RunTarget
    asked: dict[str, Any]
    params: RunParams | None = None  # None: it could not be planned (``why``)
    status: ItemStatus | None = None  # None: still to run
    why: str | None = None
    cut_short: bool = False  # measured, but stopped short when its share ran out

    @property
    def label(self) -> str:
        return f"{self.workload.name} {params_text(self.asked)} on {self.target.label}".replace(
            "  ", " "
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload.name,
            "asked": self.asked,
            "device": self.target.torch_device,
            "params": self.params.values if self.params is not None else None,
            "status": self.status.value if self.status is not None else None,
            "why": self.why,
            "cut_short": self.cut_short,
        }


@dataclass(frozen=True, slots=True)
class SuiteOptions:
    budget_s: float = 300.0
    devices: tuple[str, ...] | None = None  # None: the CPU and every GPU found
    output_dir: Path = Path("gpuscope-suite")
    cpu_tdp_w: float | None = None
    debug: bool = False


def run_suite(options: SuiteOptions, started_s: float | None = None) -> int:
    """``started_s``: when the command started (time.monotonic()); the budget counts from it."""
    deadline = (started_s if started_s is not None else time.monotonic()) + options.budget_s
    _check(options)
    # A closed stdout's number goes to /dev/null, not to record.csv, which every run's child
    # would inherit as its stdout; the table is then not printed (print_or_fail).
    hold_standard_fds()
    catalog = bundled_workloads()
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    outcome = Outcome()
    with discover() as found:
        apply_cpu_estimate(found, cpu_model)
        if options.devices is None:  # the CPU and every GPU torch can run on
            targets, _ = launch_targets([d.info for d in found.devices])
        else:
            try:
                targets = named_targets(options.devices, found)
            except UnknownTarget as exc:
                raise UsageError(str(exc)) from None
        items = plan(catalog, targets, found)
        runnable = [i for i in items if i.status is None]
        if not runnable:
            why = "; ".join(dict.fromkeys(i.why or "" for i in items))
            raise UsageError(f"nothing of the suite can run here: {why or 'no workload'}")
        least = REPORT_S + len(runnable) * (START_UP_S + MIN_SHARE_S)
        if deadline - time.monotonic() < least:
            raise UsageError(
                f"--budget {options.budget_s:g} s is too small for {len(runnable)} runs: "
                f"give at least {least + options.budget_s - (deadline - time.monotonic()):.0f} s"
            )
        try:
            options.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandFailed(write_error(options.output_dir, exc)) from None
        for item in items:
            if item.status is not None:
                _say(item)
        sampler = Sampler(found.devices, interval_s=RUN_INTERVAL_S)
        recording = start_recording(sampler, options.output_dir)
        watch = watch_recording(sampler, recording)
        sampler.start()
        try:
            driver = RunDriver(sampler, found)
            _run(items, deadline - REPORT_S, driver, outcome, watch)
        except KeyboardInterrupt:  # between two runs: what ran is still written below
            outcome.interrupted = True
        finally:
            sampler.stop()
            if recording is not None:
                recording.stop()
            watch()
    for item in items:  # what a Ctrl-C left unrun
        if item.status is None:
            item.status, item.why = ItemStatus.STOPPED, "not run: the suite was stopped"
            _say(item)
    return _finish(options, deadline, items, outcome, recording)


def _finish(
    options: SuiteOptions,
    deadline: float,
    items: list[Item],
    outcome: Outcome,
    recording: RecordingFile | None,
) -> int:
    """The results saved first (a stdout that fails cannot lose them), then on stdout (where a
    disk that said no cannot), then the report. A disk that says no costs what comes after it,
    said last in one line, exit 1; a stdout that fails, one line and exit 1; a report that
    refuses its inputs, one line."""
    results = options.output_dir / "suite.json"
    saved = [] if recording is None else ["recording"]
    lost = None
    try:
        write_atomically(results, _results_json(outcome, items) + "\n")
        saved.insert(0, "results")
    except OutputError as exc:
        lost = str(exc)
    printed = print_or_fail(lambda: print_results(outcome.results, "table"), "suite")
    if lost is None:
        made, lost = _report(options.output_dir, results, recording)
        saved += ["report"] if made else []
    took = options.budget_s - (deadline - time.monotonic())
    counts = ", ".join(
        f"{sum(i.status is s for i in items)} {s.value}"
        for s in ItemStatus
        if any(i.status is s for i in items)
    )
    where = f"; {_and(saved)} in {options.output_dir}/" if saved else ""
    print(f"gpuscope suite: {len(items)} items in {took:.0f} s (budget {options.budget_s:g} s): "
          f"{counts}{where}", file=sys.stderr)  # fmt: skip
    if lost is not None:  # the last line, as every command's failure
        print(f"gpuscope suite: {lost}", file=sys.stderr)
    failed = lost is not None or printed != 0 or any(i.status is ItemStatus.FAILED for i in items)
    return 130 if outcome.interrupted else 1 if failed else 0


def _report(
    folder: Path, results: Path, recording: RecordingFile | None
) -> tuple[bool, str | None]:
    """``report.html`` from the results and the recording (one with no rows says nothing):
    whether it was made, and why the disk said no (or None). Inputs the report refuses are
    said here, in one line: the results are saved, and the exit code is the measuring's."""
    inputs = [results]
    if recording is not None and recording.rows_written:
        inputs.append(recording.path)
    try:
        run_report(ReportOptions(tuple(inputs), folder / "report.html", title="gpuscope suite"))
    except (OutputError, CommandFailed) as exc:
        return False, str(exc)
    except UsageError as exc:
        print(f"gpuscope suite: no report: {one_line(str(exc))}", file=sys.stderr)
        return False, None
    return True, None


def _and(names: list[str]) -> str:
    return " and ".join(filter(None, (", ".join(names[:-1]), names[-1])))


def _check(options: SuiteOptions) -> None:
    try:
        check_seconds(options.budget_s, "--budget")
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if options.devices is not None and not options.devices:
        raise UsageError("--devices names no device (e.g. cpu,cuda:0)")
    try:  # before the budget is spent on discovery: a folder we cannot write is said now
        check_new_folder(options.output_dir)
    except OutputError as exc:
        raise CommandFailed(str(exc)) from None


def plan(catalog: Catalog, targets: list[RunTarget], found: Discovery) -> list[Item]:
    """Every suite item on every device; those that cannot run there are skipped, saying why
    (GPU only, not runnable, or the same run as an item before it)."""
    items: list[Item] = []
    planned: dict[tuple[str, str, str], Item] = {}  # (workload, device, params): the first
    for entry in SUITE:
        info = catalog.workloads.get(entry.workload)
        if info is None:
            continue
        for target in targets:
            item = Item(info, target, dict(entry.params))
            items.append(item)
            if entry.gpu_only and target.torch_device == "cpu":
                item.status, item.why = ItemStatus.SKIPPED, "GPU only"
                continue
            try:
                (item.target,) = check_runnable(info, [target], found)
                item.params = run_params(info, entry.params, item.target)
            except WorkloadError as exc:
                item.status, item.why = ItemStatus.SKIPPED, str(exc)
                continue
            key = (info.name, target.torch_device, params_text(item.params.values))
            if key in planned:
                item.status = ItemStatus.SKIPPED
                item.why = f"the same run as {planned[key].label} here"
            else:
                planned[key] = item
    return items


def _run(
    items: list[Item],
    deadline: float,
    driver: RunDriver,
    outcome: Outcome,
    watch: Callable[[], None],
) -> None:
    """Each item in turn within its share of what is left before ``deadline``: measured for
    most of it (a fifth is warm-up), its limits capped by it, stopped when it is spent;
    ``watch`` after each."""
    to_run = [i for i in items if i.status is None]
    for done, item in enumerate(to_run):
        if outcome.interrupted:
            break
        share_s = (deadline - time.monotonic()) / (len(to_run) - done)
        measure_s = share_s - START_UP_S
        if measure_s < MIN_SHARE_S:
            item.status = ItemStatus.SKIPPED
            item.why = f"past the budget: {max(0.0, share_s):.1f} s left for it"
            _say(item)
            continue
        assert item.params is not None
        run = new_run(
            item.workload, item.target, item.params, measure_s * 0.8, max(0.2, measure_s * 0.2),
            hang_timeout_s=share_s,  # no limit of a phase outlasts the share
            more_time="a larger --budget",
        )  # fmt: skip
        spent = _within(share_s, run, driver, outcome)
        _settle(item, run, share_s, spent, outcome)
        _say(item)
        watch()


def _within(share_s: float, run: MeasuredRun, driver: RunDriver, outcome: Outcome) -> bool:
    """Drive ``run``, stopped once ``share_s`` is spent (a partial result if it measured);
    whether it was."""
    spent = threading.Event()

    def stop() -> None:
        spent.set()
        run.stop(STOP_GRACE_S)

    timer = threading.Timer(share_s, stop)
    timer.daemon = True
    timer.start()
    try:
        drive_shown(driver, run, outcome)
    finally:
        timer.cancel()
    return spent.is_set()


def _settle(item: Item, run: MeasuredRun, share_s: float, spent: bool, outcome: Outcome) -> None:
    """What the run made of its item: measured (perhaps cut to fit), failed, or stopped."""
    report = run.result
    if report is not None and report.throughput is not None:
        # the timer may fire as a whole run's child exits: cut only what stopped short
        cut = spent and report.stopped_early and not outcome.interrupted
        # cut at a step's end by the budget: a whole measurement over fewer seconds, not one a
        # user broke off (which a report leaves out of its answers)
        outcome.results.append(replace(report, stopped_early=False) if cut else report)
        item.status = ItemStatus.STOPPED if outcome.interrupted else ItemStatus.MEASURED
        item.cut_short = cut
        item.why = format_rate(report.throughput, report.unit) + (
            f"; {_cut(share_s)} ({report.seconds:.1f} s measured)" if cut else ""
        )
    elif outcome.interrupted:
        item.status, item.why = ItemStatus.STOPPED, "stopped (Ctrl-C) before it measured"
    elif spent or (run.error is not None and run.error.kind is ErrorKind.HUNG):
        hung = run.error is not None and run.error.kind is ErrorKind.HUNG
        phase = run.error.phase if hung and run.error and run.error.phase else run.reached
        item.status = ItemStatus.FAILED
        item.why = f"past its {share_s:.0f} s share of the budget, in {phase.value}"
        if hung and run.error is not None:
            item.why += f" ({run.error.message})"
    else:
        item.status = ItemStatus.FAILED
        item.why = run.error.message if run.error is not None else "ended with no result"


def _cut(share_s: float) -> str:
    return f"cut short at its {share_s:.0f} s share of the budget"


def _say(item: Item) -> None:
    status = item.status.value if item.status is not None else "?"
    print(f"gpuscope suite: {item.label}: {status}: {item.why}", file=sys.stderr)


def _results_json(outcome: Outcome, items: list[Item]) -> str:
    """``bench --json``'s form (what ``gpuscope report`` reads), with every item's outcome."""
    payload = json.loads(results_json(outcome.results))
    payload["items"] = [item.as_dict() for item in items]
    return json.dumps(payload, indent=2, allow_nan=False)
