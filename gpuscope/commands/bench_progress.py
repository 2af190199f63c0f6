"""What ``gpuscope bench`` and ``suite`` show of a run while it runs (``drive_shown``): one
progress line on stderr, drawn and cleared by rich, only where stderr is a terminal, so a pipe
or a log never gets escape codes. Until the run measures, the line counts the seconds of its
setup and first step (an emulated first step takes minutes); while it measures, nothing ticks
beside it. A note is said once per command; a Ctrl-C stops the runs and marks the ``Outcome``."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from gpuscope.commands.signals import stop_on_signals
from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.run_driver import RunDriver
from gpuscope.measurement.run_result import RunResult
from gpuscope.measurement.sweep import SweepPoint
from gpuscope.safe_text import one_line
from gpuscope.units import format_rate
from gpuscope.workloads.events import FINAL, FirstStep, Progress, RunEvent, Started, WarmupDone


@dataclass
class Outcome:
    """What a command's runs came to so far."""

    results: list[RunResult] = field(default_factory=list)
    points: list[SweepPoint] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    usage_failure: bool = False
    interrupted: bool = False
    said: set[str] = field(default_factory=set)  # notes printed once already


def drive_shown(driver: RunDriver, run: MeasuredRun, outcome: Outcome) -> None:
    """Blocking: ``run`` to its end, its progress on stderr. A Ctrl-C marks ``outcome``
    interrupted and stops the driver's runs and sweeps (partial results follow)."""
    progress = ProgressLine(run.label, run.duration_s, run.workload.unit)

    def interrupt() -> None:
        outcome.interrupted = True
        driver.stop()

    def show(run: MeasuredRun, event: RunEvent) -> None:
        if isinstance(event, Started):
            said = run.emulated.text() if run.emulated is not None else None
            if said is not None and said not in outcome.said:  # set up: a slow step next
                outcome.said.add(said)
                progress.note(f"gpuscope bench: note: {said}")
            progress.waiting("warming up, first step")
        elif isinstance(event, FirstStep):
            progress.waiting("warming up")
        elif isinstance(event, WarmupDone):
            progress.show("measuring")
        elif isinstance(event, Progress):
            progress.measuring(run.seconds, run.units)
        elif isinstance(event, FINAL):
            progress.done()

    try:
        with stop_on_signals(interrupt):
            driver.drive(run, show)
    finally:
        progress.done()  # the terminal is left clean whatever happened


class ProgressLine:
    """The run's progress on stderr, only when stderr is a terminal: drawn and cleared by rich
    (imported only then), so a pipe or a log never gets escape codes."""

    def __init__(self, label: str, duration_s: float, unit: str) -> None:
        label, unit = one_line(label, 200), one_line(unit, 40)  # a plugin's name and unit
        self._unit = unit
        self._bar: Any = None
        self._lock = threading.Lock()
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn

            self._bar = Progress(
                TextColumn("{task.description}", markup=False),  # a plugin's name or unit
                BarColumn(bar_width=20),
                TextColumn("{task.completed:.1f}/{task.total:.0f} s"),
                TextColumn("{task.fields[status]}", markup=False),
                console=Console(stderr=True),
                transient=True,
                auto_refresh=False,  # redrawn on each progress event: no thread beside a CPU run
            )
            self._task = self._bar.add_task(label, total=duration_s, status="starting")
            self._bar.start()
        self._waiting: tuple[str, float] | None = None
        self._ticker: threading.Thread | None = None
        self.waiting("starting")

    def show(self, text: str) -> None:
        """``text`` as the run's state; a count of seconds shown before it stops."""
        with self._lock:
            self._waiting = None
            if self._bar is not None:
                self._bar.update(self._task, status=text, refresh=True)

    def waiting(self, text: str) -> None:
        """``text`` with the seconds spent on it, counted once a second until the run
        measures: an emulated first step takes minutes, and a still bar looks hung. Nothing
        is measured meanwhile, so the ticking thread costs the figures nothing."""
        if self._bar is None:
            return
        self.show(text)
        self._waiting = (text, time.monotonic())
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="gpuscope-progress")
            self._ticker.daemon = True
            self._ticker.start()

    def _tick(self) -> None:
        while self._bar is not None:
            time.sleep(1.0)
            with self._lock:
                if self._bar is not None and self._waiting is not None:
                    text, since = self._waiting
                    status = f"{text} {time.monotonic() - since:.0f} s"
                    self._bar.update(self._task, status=status, refresh=True)

    def note(self, text: str) -> None:
        """A line above the bar (or on its own where there is none)."""
        text = one_line(text, 2000)
        if self._bar is not None:
            self._bar.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr)

    def measuring(self, seconds: float, units: float) -> None:
        rate = format_rate(units / seconds if seconds > 0 else 0.0, self._unit)
        with self._lock:
            self._waiting = None  # the count stops: nothing ticks beside a measured run
            if self._bar is not None:
                self._bar.update(self._task, completed=seconds, status=rate, refresh=True)

    def done(self) -> None:
        with self._lock:
            self._waiting = None
            if self._bar is not None:
                self._bar.stop()
                self._bar = None
