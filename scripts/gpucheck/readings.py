"""gpuscope's readings against ``nvidia-smi --query-gpu`` taken at the same instants.

Each pair is (gpuscope reading just before, nvidia-smi's row, gpuscope reading just after): the
driver answers both, so a difference beyond what the two instants explain is a gpuscope bug
(wrong unit, wrong call, wrong field). nvidia-smi takes ~25 ms per query on the H100.
"""

from __future__ import annotations

import csv
import shutil
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from gpuscope.telemetry.model import Reading


@dataclass(frozen=True, slots=True)
class Metric:
    smi_field: str  # nvidia-smi --query-gpu name
    attribute: str  # gpuscope Reading field
    unit: str
    tolerance: float  # |difference| that two reads ~25 ms apart can explain
    relative: bool = False  # tolerance is a fraction of nvidia-smi's value


METRICS: tuple[Metric, ...] = (
    Metric("utilization.gpu", "util_gpu_pct", "%", 10.0),
    Metric("utilization.memory", "util_mem_pct", "%", 10.0),
    Metric("memory.used", "mem_used_mib", "MiB", 16.0),
    Metric("memory.total", "mem_total_mib", "MiB", 1.0),
    # power.draw.instant is the field gpuscope reads (NVML_FI_DEV_POWER_INSTANT); it moves every
    # 100 ms, by tens of watts under load.
    Metric("power.draw.instant", "power_w", "W", 0.10, relative=True),
    Metric("enforced.power.limit", "power_limit_w", "W", 1.0),
    Metric("temperature.gpu", "temp_c", "°C", 2.0),
    Metric("clocks.sm", "clock_core_mhz", "MHz", 0.05, relative=True),
    Metric("clocks.mem", "clock_mem_mhz", "MHz", 0.01, relative=True),
    Metric("pstate", "pstate", "", 0.0),
)
QUERY = ",".join(m.smi_field for m in METRICS)


def parse_smi_value(field: str, text: str) -> float | None:
    """One nvidia-smi ``nounits`` cell as a number; None for ``[N/A]``/``[Not Supported]``."""
    text = text.strip()
    if not text or text.startswith("["):
        return None
    if field == "pstate":
        return float(text.removeprefix("P"))
    return float(text)


def parse_smi_csv(output: str) -> list[dict[str, float | None]]:
    """Rows of ``nvidia-smi --query-gpu=QUERY --format=csv,noheader,nounits``, one per GPU."""
    rows = []
    for cells in csv.reader(output.strip().splitlines()):
        if len(cells) != len(METRICS):
            raise ValueError(f"nvidia-smi gave {len(cells)} fields, expected {len(METRICS)}")
        rows.append(
            {
                m.smi_field: parse_smi_value(m.smi_field, c)
                for m, c in zip(METRICS, cells, strict=True)
            }
        )
    return rows


def query_smi(index: int, field_names: str = QUERY) -> str:
    """nvidia-smi's raw CSV for one GPU; RuntimeError (one line) when it fails."""
    if shutil.which("nvidia-smi") is None:
        raise RuntimeError("nvidia-smi not on PATH")
    done = subprocess.run(
        [
            "nvidia-smi",
            "-i",
            str(index),
            f"--query-gpu={field_names}",
            "--format=csv,noheader,nounits",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    if done.returncode != 0:
        raise RuntimeError(f"nvidia-smi failed: {(done.stderr or done.stdout).strip()[:200]}")
    return done.stdout


@dataclass(frozen=True, slots=True)
class Pair:
    before: Reading
    smi: dict[str, float | None]
    after: Reading


@dataclass(frozen=True, slots=True)
class MetricDiff:
    metric: Metric
    pairs: int  # pairs where both sides had a value
    gpuscope_median: float | None
    smi_median: float | None
    median_diff: float | None  # gpuscope - nvidia-smi
    max_abs_diff: float | None
    missing: str  # "" or which side had no value, e.g. "gpuscope n/a"

    @property
    def agrees(self) -> bool | None:
        """None when nothing could be compared."""
        if self.max_abs_diff is None:
            return None
        limit = self.metric.tolerance
        if self.metric.relative:
            limit *= abs(self.smi_median or 0.0)
        return self.max_abs_diff <= limit + 1e-9


def _ours(pair: Pair, attribute: str) -> float | None:
    values = [getattr(r, attribute) for r in (pair.before, pair.after)]
    present = [float(v) for v in values if v is not None]
    if not present:
        return None
    if attribute == "pstate":  # a state, not a quantity: take the nearer read
        return present[0]
    return sum(present) / len(present)


def compare_pairs(pairs: Sequence[Pair]) -> list[MetricDiff]:
    diffs = []
    for metric in METRICS:
        ours_all = [_ours(p, metric.attribute) for p in pairs]
        theirs_all = [p.smi.get(metric.smi_field) for p in pairs]
        both = [
            (o, t)
            for o, t in zip(ours_all, theirs_all, strict=True)
            if o is not None and t is not None
        ]
        missing = ""
        if not both:
            ours_missing = all(o is None for o in ours_all)
            theirs_missing = all(t is None for t in theirs_all)
            missing = ", ".join(
                text
                for flag, text in (
                    (ours_missing, "gpuscope n/a"),
                    (theirs_missing, "nvidia-smi n/a"),
                )
                if flag
            )
        deltas = [o - t for o, t in both]
        diffs.append(
            MetricDiff(
                metric=metric,
                pairs=len(both),
                gpuscope_median=statistics.median(o for o, _ in both) if both else None,
                smi_median=statistics.median(t for _, t in both) if both else None,
                median_diff=statistics.median(deltas) if deltas else None,
                max_abs_diff=max(abs(d) for d in deltas) if deltas else None,
                missing=missing,
            )
        )
    return diffs
