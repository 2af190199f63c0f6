"""A scripted device with activity counters (GPM), for the faces that show them: it fills the
activity fields only while the sampler has told it they are wanted, as a GPM device does."""

from __future__ import annotations

import time

from gpuscope.telemetry.model import ACTIVITY_METRICS, DeviceInfo, Reading, Vendor

H100_NAME = "NVIDIA H100 80GB HBM3"

# a bf16 GEMM's look: SMs and the HMMA pipe busy, DRAM a third, little traffic
GEMM_ACTIVITY: dict[str, float] = {
    "sm_active_pct": 97.0,
    "sm_occupancy_pct": 24.0,
    "tensor_active_pct": 70.0,
    "tensor_hmma_pct": 70.0,
    "tensor_imma_pct": 0.0,
    "tensor_dfma_pct": 0.0,
    "dram_active_pct": 35.0,
    "fp64_active_pct": 0.0,
    "fp32_active_pct": 2.0,
    "fp16_active_pct": 0.0,
    "pcie_tx_mib_s": 12.0,
    "pcie_rx_mib_s": 40.0,
    "nvlink_tx_mib_s": 0.0,
    "nvlink_rx_mib_s": 0.0,
}
assert set(GEMM_ACTIVITY) == set(ACTIVITY_METRICS)


class ActivityDevice:
    """An NVIDIA GPU with GPM: ``activity`` while wanted, else None with ``note``."""

    def __init__(
        self,
        device_id: str = "nvidia:0",
        name: str = H100_NAME,
        activity: dict[str, float] | None = None,
        power_w: float = 650.0,
        note: str = "GPM not sampled: nothing shows it now",
    ) -> None:
        index = int(device_id.rpartition(":")[2] or 0)
        self.info = DeviceInfo(
            device_id, Vendor.NVIDIA, index, name, mem_total_mib=81559.0, activity_counters=True
        )
        self.activity = dict(GEMM_ACTIVITY if activity is None else activity)
        self.power_w = power_w
        self.note = note
        self.told: list[bool] = []

    @property
    def wanted(self) -> bool:
        return bool(self.told) and self.told[-1]

    def want_activity(self, wanted: bool) -> None:
        self.told.append(wanted)

    def read(self, now_s: float, exact_energy: bool = False) -> Reading:
        fields: dict[str, object] = dict(self.activity) if self.wanted else {}
        if not self.wanted:
            fields["activity_note"] = self.note
        return Reading(
            time_s=now_s,
            wall_time_s=time.time(),
            util_gpu_pct=100.0,
            mem_used_mib=40000.0,
            mem_total_mib=81559.0,
            power_w=self.power_w,
            power_limit_w=700.0,
            **fields,  # type: ignore[arg-type]
        )
