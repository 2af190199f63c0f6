"""docs/prometheus-rules.yml gives the cluster view from the per-job series: promtool accepts it,
Prometheus' own engine computes the figures the fixture expects (``promtool test rules``: two
hosts, two jobs, an exporter restart, exact values), and it reads only what ``gpuscope serve``
exports."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.prometheus_rules import (
    RULES,
    RULES_TEST,
    alert_names,
    gpuscope_names,
    job_series_names,
    recorded_names,
)

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian: prometheus): the rules are not checked by Prometheus",
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)


def _expressions(text: str) -> str:
    """The rules file without its comments: the expressions and names only."""
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


@needs_promtool
def test_promtool_accepts_the_rules() -> None:
    done = _promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    rules = len(recorded_names()) + len(alert_names())
    assert f"SUCCESS: {rules} rules found" in done.stdout


@needs_promtool
def test_prometheus_computes_the_expected_figures_for_two_hosts_and_two_jobs() -> None:
    done = _promtool("test", "rules", str(RULES_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@needs_promtool
def test_a_figure_off_by_one_joule_fails_the_unit_test(tmp_path: Path) -> None:
    """The unit test compares exact values: it is not passing by comparing nothing."""
    text = RULES_TEST.read_text().replace("../../docs/prometheus-rules.yml", str(RULES))
    assert "value: 1800000\n" in text
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(text.replace("value: 1800000\n", "value: 1800001\n"))
    done = _promtool("test", "rules", str(wrong))
    assert done.returncode != 0
    assert "job_user:gpuscope_job_energy_joules_total:sum" in done.stdout + done.stderr


def test_every_rule_is_named_level_metric_operations_and_is_unit_tested() -> None:
    recorded = recorded_names()
    assert len(recorded) == len(set(recorded))
    tested = set(re.findall(r"^\s*- expr: *(\S+) *$", RULES_TEST.read_text(), re.M))
    for name in recorded:
        level, metric, operations = name.split(":")
        assert set(level.split("_")) <= {"job", "user", "energy", "source", "host", "device"}
        assert metric.startswith("gpuscope_job_") and operations
        assert name in tested, f"{name}: no case in {RULES_TEST.name}"
    assert set(alert_names()) <= set(re.findall(r"alertname: *(\S+)", RULES_TEST.read_text()))


def test_the_rules_read_only_series_gpuscope_serve_exports_or_rules_recorded_before() -> None:
    text = _expressions(RULES.read_text())
    seen: set[str] = set()
    for block in re.split(r"^\s*- (?=record:|alert:)", text, flags=re.M)[1:]:
        name, _, rest = block.partition("\n")
        expr = re.split(r"^\s*(?:for|labels|annotations|- name):", rest, flags=re.M)[0]
        for used in gpuscope_names(expr):
            assert used in job_series_names() or used in seen, f"{name}: reads {used}"
        seen.update(recorded_names("- " + name))


def test_the_fixture_feeds_only_exported_series_with_the_exported_labels() -> None:
    series = re.findall(r"series: '(\w+)\{([^}]*)\}'", RULES_TEST.read_text())
    assert {name for name, _ in series} == job_series_names()
    for name, labels in series:
        keys = set(re.findall(r"(\w+)=", labels)) - {"instance"}  # instance: Prometheus' own
        energy = {"energy_source"} if name == "gpuscope_job_energy_joules_total" else set()
        assert keys == {"host", "job", "user", "device"} | energy, name
