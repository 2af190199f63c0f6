"""Runs ``gpuscope`` with a fake NVML (two scripted GPUs) in place of the real one, so a test can
start real ``gpuscope serve`` processes that a real Prometheus scrapes.

    python -m tests.fakes.serve_with_fakes serve --listen 127.0.0.1:PORT --host-label hostA

``GPUSCOPE_FAKE_GPUS=8`` gives eight GPUs instead (the exporter benchmark).
"""

from __future__ import annotations

import os
import sys

from tests.fakes.fake_pynvml import FakeGpu, FakeNvml, Ramp


def main() -> int:
    gpus = [
        FakeGpu(power=Ramp(250.0), util_gpu=80, mem_used=40 << 30),
        FakeGpu(
            uuid="GPU-00000000-0000-4000-8000-000000000001",
            bus_id="00000000:00:07.0",
            power=Ramp(90.0),
            unsupported={"nvmlDeviceGetFanSpeed", "nvmlDeviceGetTotalEnergyConsumption"},
        ),
    ]
    extra = int(os.environ.get("GPUSCOPE_FAKE_GPUS", "2")) - len(gpus)
    gpus += [
        FakeGpu(uuid=f"GPU-extra-{i}", power=Ramp(100.0 + 10 * i), processes=[(1, 1 << 30)])
        for i in range(max(0, extra))
    ]
    sys.modules["pynvml"] = FakeNvml(gpus).module()  # type: ignore[assignment]
    sys.modules["amdsmi"] = None  # type: ignore[assignment]
    from gpuscope.cli import main as gpuscope_main

    return gpuscope_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
