"""The check's sections, in the order they run, with what each needs of the time budget.

Ordered so that if time runs short, what only a GPU machine can tell us comes first: the
telemetry against the driver and GPM, then the workloads, then the UI, the GPU tests and the
memory probe; a skipped section says so, and ``--only NAME`` runs it in a second command.

The estimates add up to 750 s: more than one command's default budget (520 s), so a whole check
is two commands. The first runs what fits, in order (480 s of estimates: ``ui`` and
``memory-probe`` no longer fit after ``workloads`` and are skipped, ``pytest-gpu`` still does),
the second ``--only ui,memory-probe`` (270 s). With a machine start (~40 s on 2026-11-26) that is
about 13.5 of a 15-minute loan; ``--only gpm,ui`` alone is 225 s.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from . import gpm_section, ui_section
from . import telemetry_sections as telemetry
from . import workload_sections as workloads
from .context import Context
from .report import SectionResult
from .runner import Section

SectionFn = Callable[[Context, SectionResult, float], None]

# (name, title, seconds it needs, what runs it). The seconds are what each section took on the
# H200 of 2026-11-26 (docs/benchmarks.md), rounded up; except `workloads` (329 s then, at 3 s
# measured and 1.5 s warm-up per run; 250 s is a projection for 2 s and 1 s; 281 s on the H100),
# and the two not run on a GPU yet, projected from their parts: `gpm` (5 s idle, two
# `gpuscope bench` children of ~15 s each with torch's start, ~4 s of device reads, ~2 s of raw
# GPM calls, a 5 s recording) and `ui` (steady window from 120 s, 20 s long, captures and the
# GEMM's start: ~165 s). A section may take twice its figure before it is cut.
SECTIONS: tuple[tuple[str, str, float, SectionFn], ...] = (
    ("sample-cost", "Sample cost against raw pynvml, nvitop, gpustat", 25, telemetry.sample_cost),
    ("readings", "Readings against nvidia-smi, idle and under GEMM", 20, telemetry.readings),
    ("energy", "Energy window against the raw counter", 20, telemetry.energy),
    ("exporter", "Exporter against nvidia-smi", 25, telemetry.exporter),
    ("gpm", "GPM activity, achieved estimate against the measured GEMM, cost", 60, gpm_section.gpm),
    ("workloads", "Workloads against plain torch", 250, workloads.workloads),
    ("cpu-vs-gpu", "CPU against GPU (ResNet-50)", 35, workloads.cpu_vs_gpu),
    ("ui", "UI CPU against nvitop at steady state, with captures, under GEMM", 165, ui_section.ui),
    ("pytest-gpu", "pytest -m gpu", 45, workloads.gpu_tests),
    ("memory-probe", "Memory probe", 105, workloads.memory_probe),
)


def all_sections(ctx: Context) -> list[Section]:
    return [
        Section(name, title, estimate_s, functools.partial(fn, ctx))
        for name, title, estimate_s, fn in SECTIONS
    ]
