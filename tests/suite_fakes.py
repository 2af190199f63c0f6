"""A suite whose one item is measured at once, with fixed figures and no child process: for the
tests of what the suite does with its results (stdout, disk, report), not of measuring.

In-process: ``measure_at_once(monkeypatch)``. As a user runs it (a closed or broken stdout):
``python -m tests.suite_fakes <suite args>`` from the checkout, the same fakes in a child."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pytest

from gpuscope.commands import suite
from gpuscope.measurement.measured_run import MeasuredRun
from gpuscope.measurement.run_driver import RunDriver
from tests.compare_runs import measured

RATE = 2e9  # units/s: "2 GFLOP/s" for the gemm item


def _measured_at_once(driver: RunDriver, run: MeasuredRun, *_: Any) -> None:
    """``drive_shown``'s part: the run ends with a whole result at ``RATE`` once the sampler has
    ticked (so the suite's recording, its first listener, has written that tick, or failed)."""
    ticked = threading.Event()
    sampler = driver.sampler

    def tick(samples: Any) -> None:
        ticked.set()

    sampler.subscribe(tick)
    try:
        if not ticked.wait(30):
            raise AssertionError(f"the sampler did not tick in 30 s: {sampler.error!r}")
    finally:
        sampler.unsubscribe(tick)
    run.report = measured(run.workload.name, run.device, None, RATE, None, run.params).report


def _patch(setattr: Any) -> None:
    setattr(suite, "SUITE", (suite.SuiteItem("gemm", {"dtype": "fp32", "size": 64}),))
    setattr(suite, "START_UP_S", 0.5)
    setattr(suite, "drive_shown", _measured_at_once)


def measure_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One suite item (gemm fp32), measured at once; a budget of 6 s is enough."""
    _patch(monkeypatch.setattr)


if __name__ == "__main__":
    from gpuscope.cli import main

    _patch(setattr)
    sys.exit(main(["suite", *sys.argv[1:]]))
