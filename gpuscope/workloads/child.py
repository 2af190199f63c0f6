"""What runs inside the runner's child process: load the workload, time it, report events.

Only this process ever initialises CUDA. Timing belongs here, not to the plugin: warm-up steps
are excluded, and the device is synchronised at every measurement boundary so that queued
asynchronous kernels are counted in the interval that ran them. Everything the child prints,
including a fatal signal's Python traceback (faulthandler), goes to a pipe of which the parent
keeps the end (``output_tail``), to explain a crash; never to gpuscope's own stdout, which may
be closed or carry JSON.
"""

from __future__ import annotations

import contextlib
import dataclasses
import faulthandler
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from typing import Any

from gpuscope.safe_text import clipped, one_line
from gpuscope.workloads.api import (
    ContractError,
    Workload,
    WorkloadError,
    as_work,
    device_kind,
    kind_on,
    not_rocm_build,
    not_runnable,
    resolve_params,
    runs_on,
    torch_device,
)
from gpuscope.workloads.events import (
    PEAK_ALLOCATOR,
    PEAK_RSS,
    ErrorKind,
    Failed,
    FirstStep,
    Progress,
    Result,
    Started,
    WarmupDone,
)
from gpuscope.workloads.facts import clean_facts
from gpuscope.workloads.process_group import end_with_parent
from gpuscope.workloads.registry import WorkloadRef

MIB = 1024 * 1024

PROGRESS_PERIOD_S = 0.5
# How the child numbers CUDA GPUs unless the user says otherwise: as NVML lists them (and
# nvidia-smi shows them), so cuda:N is known in gpuscope's own process (targets) even where
# GPUs of different models would be numbered fastest first.
DEVICE_ORDER = {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}


def run_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a workload child runs torch in, given the parent's."""
    return {**DEVICE_ORDER, **env}


@dataclass(frozen=True, slots=True)
class RunSpec:
    """Everything the child needs, picklable for the spawn start method."""

    ref: WorkloadRef
    device: str  # as the user named it: "cpu", "cuda:0", "rocm:0"
    params: dict[str, Any]
    duration_s: float = 10.0
    warmup_s: float = 2.0
    warmup_steps: int = 1  # at least this many, however long the warm-up time
    setup_timeout_s: float = 120.0  # the workload's own allowance (Workload.setup_timeout_s)


def child_main(spec: RunSpec, conn: Connection, stop: Event, output: Connection) -> None:
    """Entry point of the child. Every outcome is one final message: result or error.
    ``output``: the write end of the pipe the child's stdout and stderr become."""
    # A terminal's Ctrl-C reaches the whole process group; the parent turns it into a graceful
    # stop (the stop event), so the child must not die of it mid-measurement.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # started with it blocked (runner): pending ones
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # were discarded just now
    # A session of its own: whatever the workload starts can be ended with it (runner._reap),
    # and ended by us should gpuscope die without reaping it.
    if hasattr(os, "setsid"):
        os.setsid()
        end_with_parent()
    _redirect_output(output)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    for name, value in DEVICE_ORDER.items():  # before torch initialises CUDA
        os.environ.setdefault(name, value)
    workload: Workload | None = None
    try:
        cls = spec.ref.load()
        params = resolve_params(cls, spec.params)
        if not runs_on(cls, _device_kind(spec.device)):
            raise WorkloadError(not_runnable(cls, spec.device))
        device = torch_device(spec.device)
        sync = _synchronizer(device)
        workload = cls()
        workload.setup(device, params)
        facts, notes = _facts_of(workload)
        name, uuid = _device_identity(device)
        conn.send(Started(os.getpid(), name, uuid, facts, tuple(notes)))
        result = _measure(workload, spec, conn, stop, sync)
        conn.send(dataclasses.replace(result, **_peak_memory(device)))
    except BaseException as exc:  # reported, not raised: the parent decides what it means
        conn.send(_failure(exc))
    finally:
        if workload is not None:
            try:
                workload.teardown()
            except Exception:
                traceback.print_exc()
        conn.close()
        sys.stdout.flush()
        sys.stderr.flush()


def _facts_of(workload: Workload) -> tuple[dict[str, Any], list[str]]:
    """Only JSON scalars cross to the parent: a tensor there would make it import torch."""
    try:
        raw = workload.facts()
    except Exception as exc:
        return {}, [f"facts() raised {type(exc).__name__}: {exc}: no facts reported"]
    return clean_facts(raw)


def _measure(
    workload: Workload, spec: RunSpec, conn: Connection, stop: Event, sync: Callable[[], None]
) -> Result:
    step = workload.step
    start = time.perf_counter()
    steps = 0
    while steps < spec.warmup_steps or time.perf_counter() - start < spec.warmup_s:
        as_work(step())
        steps += 1
        if steps == 1:  # a first step may compile or autotune; the runner waits longer for it
            conn.send(FirstStep(time.perf_counter() - start))
        if stop.is_set():  # stopped before anything was measured
            return Result(0.0, None, 0.0, 0, stopped_early=True)
    sync()
    conn.send(WarmupDone(steps, time.perf_counter() - start))
    units = flops = 0.0
    flops_known = True
    steps = 0
    t0 = time.perf_counter()
    end = t0 + spec.duration_s
    next_report = min(t0 + PROGRESS_PERIOD_S, end)  # the end is a boundary too
    stopped = False
    while True:
        work = as_work(step())
        units += work.units
        if work.flops is None:
            flops_known = False
        else:
            flops += work.flops
        steps += 1
        now = time.perf_counter()
        if now >= next_report:
            sync()  # the interval must contain the kernels it queued
            now = time.perf_counter()
            if now >= end:
                break
            if stop.is_set():
                stopped = True
                break
            conn.send(Progress(units, flops if flops_known else None, now - t0, steps))
            next_report = min(now + PROGRESS_PERIOD_S, end)
    sync()
    seconds = time.perf_counter() - t0
    return Result(units, flops if flops_known else None, seconds, steps, stopped)


def _peak_memory(device: str) -> dict[str, Any]:
    """The most memory the run held, for a sweep's "where memory runs out": on a GPU what
    torch's allocator reserved (``nvidia-smi`` shows this plus the CUDA context, ~0.5 GiB); on
    the CPU the child's peak resident set (torch itself included: ~0.3 GiB)."""
    if device_kind(device) == "cuda":
        import torch

        reserved = torch.cuda.max_memory_reserved(torch.device(device))
        return {"peak_mem_mib": reserved / MIB, "peak_mem_source": PEAK_ALLOCATOR}
    try:
        import resource
    except ImportError:  # not on this platform: unknown, not 0
        return {}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    mib = peak / MIB if sys.platform == "darwin" else peak / 1024
    return {"peak_mem_mib": mib, "peak_mem_source": PEAK_RSS}


def _redirect_output(output: Connection) -> None:
    """fds 1 and 2 become ``output``; ``sys.stdout`` and ``sys.stderr`` write there even where
    gpuscope was started with them closed (then Python made them None)."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):  # a closed stdout cannot be flushed
                stream.flush()
    os.dup2(output.fileno(), 1)
    os.dup2(output.fileno(), 2)
    output.close()
    if sys.stdout is None:
        sys.stdout = open(1, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115
    if sys.stderr is None:
        sys.stderr = open(2, "w", buffering=1, errors="backslashreplace", closefd=False)  # noqa: SIM115


def _device_kind(device: str) -> str:
    """The kind ``device`` has on the torch this child runs (``kind_on``, as the parent's
    targets decide it); WorkloadError where this torch cannot open it."""
    if device_kind(device) == "cpu":
        return "cpu"
    import torch

    hip = bool(getattr(torch.version, "hip", None))  # ROCm builds call AMD GPUs "cuda"
    not_rocm = not_rocm_build(device, hip, torch.__version__)
    if not_rocm is not None:
        raise WorkloadError(not_rocm)
    return kind_on(device, hip)


def _synchronizer(device: str) -> Callable[[], None]:
    if device_kind(device) != "cuda":
        return lambda: None
    import torch

    if not torch.cuda.is_available():
        raise WorkloadError(f"this torch has no CUDA/ROCm device (torch {torch.__version__})")
    index = torch.device(device).index or 0
    if index >= torch.cuda.device_count():
        raise WorkloadError(f"this torch sees only {torch.cuda.device_count()} GPU(s)")
    torch.cuda.set_device(index)
    return lambda: torch.cuda.synchronize(index)


def _device_identity(device: str) -> tuple[str, str | None]:
    """Name and UUID, so the parent can match the torch device to the telemetry device."""
    if device_kind(device) != "cuda":
        return "cpu", None
    import torch

    props = torch.cuda.get_device_properties(torch.device(device))
    uuid = getattr(props, "uuid", None)
    return props.name, str(uuid) if uuid is not None else None


# What torch's allocators and the GPU libraries say when memory runs out without raising an
# OutOfMemoryError or a MemoryError (torch's CPU allocator raises a RuntimeError).
HOST_OOM_WORDS = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough")
DEVICE_OOM_WORDS = ("CUDA out of memory", "HIP out of memory", "CUBLAS_STATUS_ALLOC_FAILED",
                    "CUDNN_STATUS_ALLOC_FAILED", "hipErrorOutOfMemory")  # fmt: skip


def _says(exc: BaseException, words: tuple[str, ...]) -> bool:
    return isinstance(exc, RuntimeError) and any(w in str(exc) for w in words)


def _failure(exc: BaseException) -> Failed:
    if isinstance(exc, WorkloadError):
        kind = ErrorKind.USAGE
    elif isinstance(exc, ContractError):
        kind = ErrorKind.CONTRACT
    elif type(exc).__name__ == "OutOfMemoryError" or _says(exc, DEVICE_OOM_WORDS):
        kind = ErrorKind.DEVICE_OOM  # torch.cuda.OutOfMemoryError; cuBLAS / cuDNN / HIP words
    elif isinstance(exc, MemoryError) or _says(exc, HOST_OOM_WORDS):
        kind = ErrorKind.OOM  # torch's CPU allocator raises RuntimeError, not MemoryError
    else:
        kind = ErrorKind.EXCEPTION
    try:
        said = str(exc)
    except Exception:  # an exception whose __str__ raises
        said = ""
    if isinstance(exc, ModuleNotFoundError) and exc.name == "torch":
        message = "torch is not installed here: pip install 'gpuscope[workloads]'"
    elif kind in (ErrorKind.USAGE, ErrorKind.CONTRACT):
        message = one_line(said)  # written for the user; the class name adds nothing
    else:  # torch's errors hold a C++ backtrace of many lines: the start says what happened
        message = one_line(f"{type(exc).__name__}: {said}").removesuffix(":").strip()
    return Failed(kind, message, traceback=_traceback_text(exc))


def _traceback_text(exc: BaseException) -> str:
    """The exception's traceback for --debug: its end, each line cut (a message may be 44 MB)."""
    try:
        chunks = traceback.format_exception(exc)
    except Exception:
        return ""
    return "".join(clipped(chunk, 1000) for chunk in chunks)[-4000:]
