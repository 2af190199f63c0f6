"""The names docs/prometheus-rules.yml records, and the per-job series it may read: for the rules'
own tests and the Grafana dashboard's."""

from __future__ import annotations

import re
from pathlib import Path

from gpuscope.telemetry import exported_metrics as names

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "docs" / "prometheus-rules.yml"
RULES_TEST = ROOT / "tests" / "fixtures" / "prometheus-rules-test.yml"
METRIC_TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def recorded_names(text: str | None = None) -> list[str]:
    """Every ``record:`` name of the rules file, in order."""
    text = RULES.read_text() if text is None else text
    return re.findall(r"^\s*- record: *(\S+) *$", text, re.M)


def alert_names() -> list[str]:
    return re.findall(r"^\s*- alert: *(\S+) *$", RULES.read_text(), re.M)


def job_series_names() -> set[str]:
    """The per-job samples ``gpuscope serve`` exports (``telemetry.exported_metrics``' JOB_*)."""
    counters = (
        names.JOB_ENERGY,
        names.JOB_GPU_SECONDS,
        names.JOB_ALONE_SECONDS,
        names.JOB_BUSY_SECONDS,
        names.JOB_ACTIVITY_SECONDS,
        names.JOB_SM_ACTIVE_SECONDS,
        names.JOB_TENSOR_ACTIVE_SECONDS,
    )
    gauges = (names.JOB_PROCESSES, names.JOB_START, names.JOB_LAST_SEEN)
    return {names.PREFIX + c + "_total" for c in counters} | {names.PREFIX + g for g in gauges}


def gpuscope_names(promql: str) -> set[str]:
    """Every metric or rule name in a PromQL text that names gpuscope's series."""
    return {token for token in METRIC_TOKEN.findall(promql) if "gpuscope_" in token}
