"""docs/ must stay true to the code it describes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from gpuscope.sinks.columns import COLUMN_NAMES
from gpuscope.sinks.process_rows import PROCESS_COLUMN_NAMES

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_every_recorded_column_is_in_the_metrics_reference() -> None:
    devices, _, processes = (DOCS / "metrics.md").read_text().partition("## Process rows")
    documented = set(re.findall(r"^\| `(\w+)` \|", devices, re.M))
    assert set(COLUMN_NAMES) == documented
    first_cells = re.findall(r"^\| ([^|]+) \|", processes.split("\n## ")[0], re.M)
    named = {name for cell in first_cells for name in re.findall(r"`(\w+)`", cell)}
    assert set(PROCESS_COLUMN_NAMES) - {"timestamp", "device"} <= named


def test_ci_runs_the_readme_test_command() -> None:
    root = DOCS.parent
    printed = subprocess.run(
        ["bash", str(root / ".ci" / "run"), "--print"], capture_output=True, text=True
    )
    assert printed.returncode == 0, printed.stderr
    command = printed.stdout.strip()
    assert "pytest" in command and "pip install -e '.[dev]'" in command
    assert f"\n{command}\n" in (root / "README.md").read_text()


def test_the_plugin_guides_first_example_runs(tmp_path: Path) -> None:
    guide = (DOCS / "plugins.md").read_text()
    code = re.search(r"```python\n(.*?)```", guide, re.S)
    assert code, "docs/plugins.md must open with a runnable example"
    plugin = tmp_path / "relu.py"
    plugin.write_text(code[1])
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpuscope",
            "bench",
            "relu",
            "--plugin",
            str(plugin),
            "--size",
            "1000",
            "--duration",
            "0.3",
            "--warmup",
            "0",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["workload"] == "relu" and report["unit"] == "elements" and report["units"] > 0


def test_every_exported_metric_is_in_the_exporter_doc() -> None:
    from tests.exporter_names import exported_metric_names
    from tests.prometheus_rules import job_series_names

    documented = set(
        re.findall(r"^\| `(gpuscope_\w+)` \|", (DOCS / "exporter.md").read_text(), re.M)
    )
    assert documented == exported_metric_names() | job_series_names()


def test_grafana_dashboard_uses_only_exported_metrics_and_valid_promql(tmp_path: Path) -> None:
    import shutil

    import pytest

    from tests.exporter_names import exported_metric_names
    from tests.prometheus_rules import gpuscope_names, job_series_names, recorded_names

    dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for expr in exprs for name in gpuscope_names(expr)}
    recorded = set(recorded_names())  # the cluster panels read docs/prometheus-rules.yml
    assert used and used <= exported_metric_names() | job_series_names() | recorded
    assert used & recorded
    if shutil.which("promtool") is None:
        pytest.skip("promtool not installed (Debian: prometheus): PromQL syntax not checked")
    rules = tmp_path / "rules.yml"
    concrete = [e.replace("$host", ".*").replace("$device", ".*") for e in exprs]
    rules.write_text(
        "groups:\n  - name: dashboard\n    rules:\n"
        + "".join(
            f"      - record: panel:{i}\n        expr: {json.dumps(e)}\n"
            for i, e in enumerate(concrete)
        )
    )
    done = subprocess.run(
        ["promtool", "check", "rules", str(rules)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readmes_python_api_example_runs_as_written(tmp_path: Path) -> None:
    """Issue 21: it printed ``window.results["nvidia:0"]``, a KeyError without a GPU."""
    readme = (DOCS.parent / "README.md").read_text()
    block = readme.split("A Python API for measurement windows", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S)
    assert code, "README.md: the Python API example must be a python block"
    script = tmp_path / "example.py"
    script.write_text(textwrap.dedent(code[1]))
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    cpu = [line for line in done.stdout.splitlines() if line.startswith("cpu ")]
    assert len(cpu) == 1, done.stdout  # the CPU's window, on any machine


def test_every_code_block_in_the_readme_and_docs_is_closed() -> None:
    """A stray fence turned the rest of the README into one code block (issue 21's review)."""
    import re as regex

    for page in [DOCS.parent / "README.md", *DOCS.glob("*.md")]:
        fences = regex.findall(r"^ *```", page.read_text(), regex.M)
        assert len(fences) % 2 == 0, f"{page.name}: an unclosed code block"


def test_what_bench_suite_and_report_write_in_a_checkout_is_never_committed() -> None:
    """An empty ``gemm.json`` (the README's report example reads one) was once committed at the
    top level: outputs written where a command runs are ignored, and none is tracked."""
    import shutil

    import pytest

    root = DOCS.parent
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("not a git checkout")
    outputs = ["gemm.json", "sweep.json", "report.html", "gpuscope-suite-20261207-1015/suite.json"]
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *outputs], cwd=root, capture_output=True, text=True
    )
    assert ignored.stdout.split() == outputs, ignored.stderr
    tracked_but_ignored = subprocess.run(
        ["git", "ls-files", "--cached", "--ignored", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tracked_but_ignored.stdout.split() == []
