"""A suite whose one item is measured at once, with fixed figures and no child process: for the
tests of what the suite does with its results (stdout, disk, report), not of measuring.

In-process: ``measure_at_once(monkeypatch)``. As a user runs it (a closed or broken stdout):
``python -m tests.suite_fakes <suite args>`` from the checkout, the same fakes in a child."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from gpuscope.commands import suite
from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.run_driver import RunDriver
from tests.compare_runs import measured

RATE = 2e9  # units/s: "2 GFLOP/s" for the gemm item


def _measured_when(ready: Callable[[], bool]) -> Callable[..., None]:
    """``drive_shown``'s part: the run ends with a whole result at ``RATE`` once ``ready()`` held
    at a sampler tick and the sampler has ticked since (so the suite's recording, its first
    listener, has written a tick after it, or failed)."""

    def drive(driver: RunDriver, run: MeasuredRun, *_: Any) -> None:
        was_ready, ticked = threading.Event(), threading.Event()
        sampler = driver.sampler

        def tick(samples: Any) -> None:
            if was_ready.is_set():
                ticked.set()
            elif ready():
                was_ready.set()

        sampler.subscribe(tick)
        try:
            if not ticked.wait(30):
                raise AssertionError(
                    f"not ready with the sampler ticking in 30 s: {sampler.error!r}"
                )
        finally:
            sampler.unsubscribe(tick)
        run.result = measured(run.workload.name, run.device, None, RATE, None, run.params).result

    return drive


def _patch(setattr: Any, ready: Callable[[], bool] = lambda: True) -> None:
    setattr(suite, "SUITE", (suite.SuiteItem("gemm", {"dtype": "fp32", "size": 64}),))
    setattr(suite, "START_UP_S", 0.5)
    setattr(suite, "drive_shown", _measured_when(ready))


def measure_at_once(
    monkeypatch: pytest.MonkeyPatch, ready: Callable[[], bool] = lambda: True
) -> None:
    """One suite item (gemm fp32), measured at once (once ``ready()``, checked at each sampler
    tick); a budget of 6 s is enough."""
    _patch(monkeypatch.setattr, ready)


if __name__ == "__main__":
    from gpuscope.cli import main

    _patch(setattr)
    sys.exit(main(["suite", *sys.argv[1:]]))
