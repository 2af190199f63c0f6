"""Writes small plugin files for tests: a working one, and ones that fail in every way."""

from __future__ import annotations

import textwrap
from pathlib import Path

HEADER = """
from gpuscope.workloads.api import Param, Work, Workload, WorkloadError
"""


def write_plugin(folder: Path, stem: str, body: str) -> Path:
    path = folder / f"{stem}.py"
    path.write_text(HEADER + textwrap.dedent(body))
    return path


def workload_with_step(
    folder: Path,
    stem: str,
    step_body: str,
    setup_body: str = "pass",
    facts_body: str = "return {}",
    params: str = "()",
) -> Path:
    """A plugin named ``stem`` whose ``step`` runs ``step_body`` (indented for you), and
    ``setup`` and ``facts`` theirs; ``params`` is its ``params`` tuple, as Python."""
    step = textwrap.indent(textwrap.dedent(step_body).strip(), " " * 8)
    setup = textwrap.indent(textwrap.dedent(setup_body).strip(), " " * 8)
    facts = textwrap.indent(textwrap.dedent(facts_body).strip(), " " * 8)
    return write_plugin(
        folder,
        stem,
        f"""
class Plugin(Workload):
    name = "{stem}"
    unit = "things"
    devices = ("cpu",)
    params = {params}

    def setup(self, device, params):
{setup}

    def step(self):
{step}

    def facts(self):
{facts}
""",
    )


def counting_workload(folder: Path, stem: str = "counter", dtype: str = "fp32") -> Path:
    """A CPU workload that only counts, with a precision parameter as gemm's (default
    ``dtype``): for tests of what bench and suite do with runs. Its child imports no torch, so
    it starts in a fraction of a second, where gemm's takes seconds (more on a loaded machine)."""
    precision = (
        f'Param("dtype", "{dtype}", "element type", choices=("fp32", "bf16"), precision=True)'
    )
    step = """
        sum(range(1000))  # a little work on the CPU, as a step of a real workload
        return Work(units=5)
    """
    return workload_with_step(folder, stem, step, params=f"({precision},)")
