"""Runs ``gpuscope`` with a fake NVML (two scripted GPUs) in place of the real one, so a test can
start real ``gpuscope serve`` processes that a real Prometheus scrapes.

    python -m tests.fakes.serve_with_fakes serve --listen 127.0.0.1:PORT --host-label hostA

GPU 0 draws 250 W and has an energy counter; GPU 1 draws 90 W and has none (its energy is
integrated). Neither samples per-process utilization (the H100 on driver 580), so a GPU's only
job is charged all of it. ``GPUSCOPE_FAKE_GPUS=8`` gives eight GPUs instead (the exporter
benchmark). ``GPUSCOPE_FAKE_PROCESSES=<json file>`` lists the GPUs' compute processes,
``{"0": [[pid, bytes], ...], "1": [...]}`` by GPU index, and is read again every
``PROCESSES_POLL_S`` while serving, so a test starts and ends processes on the fake GPUs.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

from tests.fakes.fake_pynvml import FakeGpu, FakeNvml, Ramp

PROCESSES_POLL_S = 0.1
NO_PROCESS_SHARES = {"nvmlDeviceGetProcessUtilization", "nvmlDeviceGetProcessesUtilizationInfo"}


def read_processes(path: Path, gpus: list[FakeGpu]) -> None:
    """Each GPU's compute processes as ``path`` lists them now; a GPU it leaves out has none.
    A file being rewritten (unreadable, or half written) leaves the lists as they were."""
    try:
        listed = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    for index, gpu in enumerate(gpus):
        # one assignment: the sampler thread sees the old list or the new one, never a mix
        gpu.processes = [(int(pid), used) for pid, used in listed.get(str(index), [])]


def follow_processes(path: Path, gpus: list[FakeGpu]) -> None:
    """Read ``path`` now, then again every ``PROCESSES_POLL_S`` on a daemon thread."""
    read_processes(path, gpus)

    never = threading.Event()  # the thread ends with the process (a daemon)

    def loop() -> None:
        while not never.wait(PROCESSES_POLL_S):
            read_processes(path, gpus)

    threading.Thread(target=loop, name="fake-processes", daemon=True).start()


def main() -> int:
    gpus = [
        FakeGpu(power=Ramp(250.0), util_gpu=80, mem_used=40 << 30),
        FakeGpu(
            uuid="GPU-00000000-0000-4000-8000-000000000001",
            bus_id="00000000:00:07.0",
            power=Ramp(90.0),
            unsupported={
                "nvmlDeviceGetFanSpeed",
                "nvmlDeviceGetTotalEnergyConsumption",
                *NO_PROCESS_SHARES,
            },
        ),
    ]
    extra = int(os.environ.get("GPUSCOPE_FAKE_GPUS", "2")) - len(gpus)
    gpus += [
        FakeGpu(uuid=f"GPU-extra-{i}", power=Ramp(100.0 + 10 * i), processes=[(1, 1 << 30)])
        for i in range(max(0, extra))
    ]
    if processes_file := os.environ.get("GPUSCOPE_FAKE_PROCESSES"):
        follow_processes(Path(processes_file), gpus)
    sys.modules["pynvml"] = FakeNvml(gpus).module()  # type: ignore[assignment]
    sys.modules["amdsmi"] = None  # type: ignore[assignment]
    from gpuscope.cli import main as gpuscope_main

    return gpuscope_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
