"""What a session monitors and how it runs workloads (``SessionSetup``), in a module of its own
that imports none of the session's parts: the UI builds its setup and draws its first frame
before it imports the session, the sampler, the measurement and the workload modules (about
half a second on a small machine). The defaults that are those parts import them when called.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from gpuscope.intervals import DEFAULT_INTERVAL_S

if TYPE_CHECKING:
    from gpuscope.measurement.measured_run import EventSource, RunFactory
    from gpuscope.telemetry.cpu_estimate import CpuPowerModel
    from gpuscope.telemetry.discover import Discovery
    from gpuscope.telemetry.processes import ProcessLookups
    from gpuscope.workloads.child import RunSpec
    from gpuscope.workloads.registry import Catalog


def discover() -> Discovery:
    """``telemetry.discover.discover``, imported when first called."""
    from gpuscope.telemetry.discover import discover

    return discover()


def child_process_run(spec: RunSpec, hang_timeout_s: float | None) -> EventSource:
    """``measured_run.child_process_run``, imported when first called."""
    from gpuscope.measurement.measured_run import child_process_run

    return child_process_run(spec, hang_timeout_s)


def process_lookups(skip_devices: frozenset[str]) -> ProcessLookups:
    """``ProcessLookups``, imported when first made."""
    from gpuscope.telemetry.processes import ProcessLookups

    return ProcessLookups(skip_devices)


@dataclass
class SessionSetup:
    """What the session monitors and how it runs workloads; tests and ``--demo`` swap parts."""

    discover: Callable[[], Discovery] = discover
    run_factory: RunFactory = child_process_run
    find_catalog: Callable[[], Catalog] | None = None  # default: bundled + plugins + entry points
    plugin_files: tuple[Path, ...] = ()
    interval_s: float = DEFAULT_INTERVAL_S
    record_dir: Path = field(default_factory=Path.cwd)
    host: str = field(default_factory=socket.gethostname)
    clock: Callable[[], float] = time.monotonic
    autostart: bool = True  # False: the sampler is ticked by hand (tests)
    simulated_ids: frozenset[str] = frozenset()  # shown as SIMULATED
    remotes: tuple[str, ...] = ()  # exporter URLs whose devices join the local ones
    serve: tuple[str, int] | None = None  # export /metrics (devices + results) too
    cpu_model: CpuPowerModel | None = None  # estimate a CPU without RAPL (--cpu-tdp)
    gpm: bool = True  # False (--no-gpm): activity counters never read (DCGM profiling shares them)
    # given the simulated ids (their pids name nothing here); tests hand in fake /proc reads
    process_lookups: Callable[[frozenset[str]], ProcessLookups] = process_lookups
