"""Runs ``gpuscope`` with a fake NVML whose two GPUs list one real process of this host, so a
test can run ``gpuscope jobs`` as a user does and find that process's owner in /proc.

    GPUSCOPE_FAKE_JOB_PID=1234 python -m tests.fakes.jobs_with_fakes jobs --json

nvidia:0 is an H100 at 250 W with an energy counter, 80 % busy, GPM 60 % SM and 30 % tensor
active; nvidia:1 has no energy counter (integrated from 90 W), 80 % busy, and no GPM. Without
the variable neither lists a process. ``GPUSCOPE_FAKE_LISTED=FILE``: FILE is made when a GPU's
processes are first listed (sampling has begun: a test may then send Ctrl-C).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tests.fakes.fake_gpm import (
    NVML_GPM_METRIC_ANY_TENSOR_UTIL,
    NVML_GPM_METRIC_SM_UTIL,
    FakeGpm,
)
from tests.fakes.fake_pynvml import FakeGpu, FakeNvml, Ramp

POWER_W = (250.0, 90.0)
SM_ACTIVE_PCT, TENSOR_ACTIVE_PCT, BUSY_PCT = 60.0, 30.0, 80


def main() -> int:
    pid = os.environ.get("GPUSCOPE_FAKE_JOB_PID")
    listed: list[tuple[int, int | None]] = [(int(pid), 2 << 30)] if pid else []
    gpus = [
        FakeGpu(
            power=Ramp(POWER_W[0]),
            util_gpu=BUSY_PCT,
            processes=listed,
            gpm=FakeGpm(
                activity={
                    NVML_GPM_METRIC_SM_UTIL: SM_ACTIVE_PCT,
                    NVML_GPM_METRIC_ANY_TENSOR_UTIL: TENSOR_ACTIVE_PCT,
                }
            ),
        ),
        FakeGpu(
            uuid="GPU-00000000-0000-4000-8000-000000000001",
            bus_id="00000000:00:07.0",
            power=Ramp(POWER_W[1]),
            util_gpu=BUSY_PCT,
            processes=list(listed),
            unsupported=FakeGpu().unsupported | {"nvmlDeviceGetTotalEnergyConsumption"},
            gpm=FakeGpm(supported=False),
        ),
    ]
    module = FakeNvml(gpus).module()
    if listed_file := os.environ.get("GPUSCOPE_FAKE_LISTED"):
        list_processes = getattr(module, "nvmlDeviceGetComputeRunningProcesses")  # noqa: B009

        def listing(handle: Any) -> Any:
            found = list_processes(handle)
            Path(listed_file).touch()
            return found

        setattr(module, "nvmlDeviceGetComputeRunningProcesses", listing)  # noqa: B010
    sys.modules["pynvml"] = module
    sys.modules["amdsmi"] = None  # type: ignore[assignment]
    from gpuscope.cli import main as gpuscope_main

    return gpuscope_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
