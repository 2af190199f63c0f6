"""The run protocol: what a workload's child process tells gpuscope, one type per event.

The child sends these (pickled: only gpuscope's own classes and built-in values cross, never a
plugin's object); the runner stamps each with the time it arrived. A run ends with exactly one
``Result`` or ``Failed``. Simulated runs (``gpuscope.simulated``) speak the same protocol.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Phase(enum.Enum):
    """Where a run is: each has its own allowance of silence before it counts as hung."""

    SETUP = "setup"  # building tensors and models, until the child says it is set up
    FIRST_STEP = "first step"  # the first warm-up step (cuDNN autotune, torch.compile)
    WARM_UP = "warm-up"
    MEASURING = "measuring"


class ErrorKind(enum.Enum):
    USAGE = "usage"  # the user asked for something the workload cannot do (WorkloadError)
    CONTRACT = "contract"  # the workload broke its side (a step result that is no amount)
    EXCEPTION = "exception"
    OOM = "oom"  # host memory
    DEVICE_OOM = "device_oom"
    CRASHED = "crashed"  # died without a word: a signal or an exit code
    HUNG = "hung"  # silent for longer than its phase allows
    STOPPED = "stopped"  # asked to stop and killed after the grace period (``phase``: where it was)


@dataclass(frozen=True, slots=True)
class Started:
    """Set up: the device as torch names it, and what setup settled."""

    pid: int
    device_name: str | None
    device_uuid: str | None
    facts: dict[str, Any] = field(default_factory=dict)  # JSON scalars only (api.clean_facts)
    notes: tuple[str, ...] = ()  # facts dropped, and why
    received_s: float = 0.0  # time.monotonic() in gpuscope when it arrived


@dataclass(frozen=True, slots=True)
class FirstStep:
    """The first warm-up step is done (it may have compiled or autotuned)."""

    seconds: float
    received_s: float = 0.0


@dataclass(frozen=True, slots=True)
class WarmupDone:
    steps: int
    seconds: float
    received_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Progress:
    """Work so far: ``seconds`` of measurement (warm-up excluded)."""

    units: float
    flops: float | None  # None when the workload does not report FLOPs
    seconds: float
    steps: int
    received_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Result:
    units: float
    flops: float | None
    seconds: float
    steps: int
    stopped_early: bool = False
    received_s: float = 0.0
    # the most memory the run held: device memory reserved by torch's allocator on a GPU
    # (``PEAK_ALLOCATOR``), the child's peak resident memory on the CPU (``PEAK_RSS``)
    peak_mem_mib: float | None = None
    peak_mem_source: str | None = None


PEAK_ALLOCATOR = "allocator"  # torch.cuda.max_memory_reserved: excludes the CUDA context
PEAK_RSS = "rss"  # getrusage ru_maxrss of the child: includes torch itself


@dataclass(frozen=True, slots=True)
class Failed:
    kind: ErrorKind
    message: str  # one line, fit for a user
    last_words: str = ""  # the end of what the child printed
    traceback: str = ""  # the workload's exception, for --debug
    received_s: float = 0.0
    # a hung run: the phase it hung in and the silence it was allowed, so the message can name
    # the workload, its parameters and the fix
    phase: Phase | None = None
    limit_s: float | None = None


RunEvent = Started | FirstStep | WarmupDone | Progress | Result | Failed
EVENT_TYPES = (Started, FirstStep, WarmupDone, Progress, Result, Failed)
FINAL = (Result, Failed)
