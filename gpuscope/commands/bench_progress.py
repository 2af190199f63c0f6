"""What ``gpuscope bench`` shows of a run while it runs: one progress line on stderr, drawn
and cleared by rich, only where stderr is a terminal, so a pipe or a log never gets escape codes.
Until the run measures, the line counts the seconds of its setup and first step (an emulated
first step takes minutes); while it measures, nothing ticks beside it."""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

from gpuscope.safe_text import one_line
from gpuscope.units import format_rate


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
