"""What the host knows of a GPU process, through psutil: its name, user and command line, and
through ``job_owner`` its job (looked up once while GPUs list the pid), and its CPU %, resident
memory and start time (re-read at most every ``USAGE_PERIOD_S``).

The caches belong to objects, not to this module: ``ProcessLookups`` (one a session, one a
``record --processes``) and ``ProcessNames`` (one an NVIDIA device). Their ``read_*`` methods
and ``look_up`` read /proc and run on the sampler thread; their ``cached_*`` methods touch no
file and are what a view may call from its event loop (one dict look-up: safe from any thread).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import psutil

from gpuscope.safe_text import clipped
from gpuscope.telemetry.job_owner import read_owner
from gpuscope.telemetry.model import Sample, Vendor
from gpuscope.telemetry.process_signals import Unverified, host_pids_are_ours, verify

_MAX_CACHED = 4096
COMMAND_KEPT = (
    4096  # characters of a command line kept (Linux allows megabytes): what any face shows
)
NOT_CHECKED = Unverified("not checked yet: pids are checked while the Processes tab is shown")
# Host CPU % and RSS: re-read at most this often per process. 200 processes cost ~4.5 ms here
# (two /proc reads each), so at most every 2 s, the pace at which the table shows them.
USAGE_PERIOD_S = 2.0


class ProcessNames:
    """Process names by pid, for a device's process list (re-read every sample; a name lookup
    is a syscall). A recycled pid could keep a stale name until the cache is cleared (bounded,
    so it is)."""

    def __init__(self) -> None:
        self._names: dict[int, str | None] = {}

    def name(self, pid: int) -> str | None:
        """The process's name, or None if it has exited, we may not see it, or the GPU's host
        pid may name another process here (gpuscope in a container: ``host_pids_are_ours``)."""
        if pid in self._names:
            return self._names[pid]
        if len(self._names) >= _MAX_CACHED:
            self._names.clear()
        name: str | None = None
        if host_pids_are_ours():
            with contextlib.suppress(
                psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess
            ):
                name = psutil.Process(pid).name()
        self._names[pid] = name
        return name


@dataclass(frozen=True, slots=True)
class ProcessDetails:
    """Who runs a GPU process, how it was started, and the job it is charged to (``job_owner``:
    ``slurm:1234``, ``pod:<uid>``, ``container:<id>``, ``user:alice``); None where the OS will
    not say."""

    user: str | None
    command: str | None
    job: str | None = None


def details_from_proc(pid: int) -> ProcessDetails:
    """User, command line and job of ``pid``, read now (uncached); all None where the GPU's
    host pid may name another process here (``host_pids_are_ours``)."""
    user = command = job = None
    try:
        if not host_pids_are_ours():
            raise psutil.NoSuchProcess(pid)  # a number that names someone else here
        owner = read_owner(pid)
        job = owner.job if owner is not None else None
        process = psutil.Process(pid)
        with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
            user = process.username()
        with contextlib.suppress(psutil.AccessDenied, psutil.ZombieProcess):
            command = clipped(" ".join(process.cmdline()) or process.name(), COMMAND_KEPT)
    except psutil.NoSuchProcess:  # gone, or not in our pid namespace: kept, so not re-asked
        pass
    return ProcessDetails(user, command, job)


@dataclass(frozen=True, slots=True)
class HostUsage:
    """A process's use of the host: CPU % of one core since the previous read (None on the
    first read, which has no interval yet), resident memory, and when it started (wall clock)."""

    cpu_pct: float | None
    rss_mib: float | None
    started_s: float | None


_UNKNOWN = HostUsage(None, None, None)


@dataclass(slots=True)
class _Handle:
    process: psutil.Process | None  # None: we may not read it (another user's, hardened /proc)
    read_at: float  # the rate limit's clock
    measured_at: float  # time.monotonic() when cpu_s was read: CPU % is over real time
    cpu_s: float | None  # user + system CPU seconds then
    usage: HostUsage


class ProcessLookups:
    """What the host says of the processes GPUs list, read on the sampler thread and kept here
    for the views (user, command, host usage, whether a pid may be signalled).

    A pid is looked up once while GPUs list it, and forgotten when no GPU lists it any more
    (``forget_exited``): a pid must leave the list before the kernel can give it to another
    process, so no periodic recheck of start times is needed (it cost ~6 ms per 200 processes).
    ``look_up`` is the Processes tab's sampler listener; ``record --processes`` reads details.
    The keyword arguments are where /proc is read: tests hand in fakes."""

    def __init__(
        self,
        skip_devices: frozenset[str] = frozenset(),
        *,
        details_of: Callable[[int], ProcessDetails] = details_from_proc,
        verify: Callable[[int, Vendor], Unverified | None] = verify,
        open_process: Callable[[int], psutil.Process] = psutil.Process,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.skip_devices = skip_devices  # simulated: their pids name nothing here
        self.shown = threading.Event()  # set while someone looks (the Processes tab)
        # The pids whose host usage the view needs: those of the rows in sight, or None for
        # all (sorted by a host column). Set by the UI thread, read here: one reference.
        self.host_usage_wanted: frozenset[int] | None = None
        self._details_of, self._verify = details_of, verify
        self._open_process, self._clock = open_process, clock
        self._details: dict[int, ProcessDetails] = {}
        self._checks: dict[tuple[int, Vendor], Unverified | None] = {}
        self._usage: dict[int, _Handle] = {}
        self._looked_up = False  # whether the last samples' processes were looked up

    def look_up(self, samples: Sequence[Sample]) -> None:
        """On the sampler thread: fill the caches the processes view reads (user, command,
        host CPU %, RSS, start time, whether it may be signalled), so the view never touches
        /proc. Only while someone looks (``shown``), and host usage only of the rows in sight
        (``host_usage_wanted``): two /proc reads a process, ~25 µs here, and 200 processes
        with 40 rows in sight need not cost 200."""
        if not self.shown.is_set():
            self._looked_up = False
            return
        if not self._looked_up:  # shown again: a CPU % over the hidden time would be an
            self.forget_usage()  # average of it; user and command stay (no n/a flicker)
            self._looked_up = True
        alive: set[int] = set()
        wanted = self.host_usage_wanted
        for sample in samples:
            if sample.device_id in self.skip_devices:
                continue
            for pid in (process.pid for process in sample.reading.processes or ()):
                self.read_details(pid)
                self.read_check(pid, sample.vendor)  # may it be signalled
                # every process once (its start time, for the time column and for signals)
                if wanted is None or pid in wanted or self.cached_usage(pid) is None:
                    self.read_usage(pid)
                alive.add(pid)
        self.forget_exited(alive)

    def read_details(self, pid: int) -> ProcessDetails:
        """User, command line and job of ``pid``, read once while GPUs list it. Reads /proc."""
        cached = self._details.get(pid)
        if cached is not None:
            return cached
        if len(self._details) >= _MAX_CACHED:
            self._details.clear()
        found = self._details[pid] = self._details_of(pid)
        return found

    def cached_details(self, pid: int) -> ProcessDetails | None:
        """What ``read_details`` last found for ``pid``, without touching /proc."""
        return self._details.get(pid)

    def read_check(self, pid: int, vendor: Vendor) -> Unverified | None:
        """Whether ``pid`` is a GPU process of ours to see (None) or why not, read once while
        GPUs list it: a listed process keeps its device files open. Reads /proc."""
        key = (pid, vendor)
        if key in self._checks:
            return self._checks[key]
        if len(self._checks) >= _MAX_CACHED:
            self._checks.clear()
        found = self._checks[key] = self._verify(pid, vendor)
        return found

    def cached_check(self, pid: int, vendor: Vendor) -> Unverified | None:
        """What ``read_check`` last found, without touching /proc; ``NOT_CHECKED`` if never."""
        return self._checks.get((pid, vendor), NOT_CHECKED)

    def read_usage(self, pid: int) -> HostUsage | None:
        """``pid``'s host usage, re-read if older than ``USAGE_PERIOD_S``; None once it has
        exited.

        CPU % is the CPU time used between two reads over the real time between them: two
        small reads of /proc per process (stat, statm; ~25 µs here), no more. A process we may
        not read keeps what we know, and is tried again only at the same pace. Reads /proc."""
        now = self._clock()
        cached = self._usage.get(pid)
        if cached is not None and now - cached.read_at < USAGE_PERIOD_S:
            return cached.usage
        if cached is None and len(self._usage) >= _MAX_CACHED:
            self._usage.clear()
        try:
            process = cached.process if cached is not None else None
            if process is None:
                process = self._open_process(pid)
                process.create_time()  # read once: psutil keeps it with the handle
            times = process.cpu_times()
            rss = process.memory_info().rss / (1024 * 1024)
        except psutil.NoSuchProcess:  # exited, or in another pid namespace: asked again at
            self._usage[pid] = _Handle(None, now, time.monotonic(), None, _UNKNOWN)  # the same
            return None  # pace, not on every sample; forgotten when no GPU lists it
        except psutil.Error:  # AccessDenied: what we know, or nothing
            usage = cached.usage if cached is not None else _UNKNOWN
            self._usage[pid] = _Handle(None, now, time.monotonic(), None, usage)
            return usage
        cpu_s, measured_at = times.user + times.system, time.monotonic()
        cpu = None
        if cached is not None and cached.cpu_s is not None and measured_at > cached.measured_at:
            cpu = max(0.0, 100.0 * (cpu_s - cached.cpu_s) / (measured_at - cached.measured_at))
        usage = HostUsage(cpu, rss, process.create_time())
        self._usage[pid] = _Handle(process, now, measured_at, cpu_s, usage)
        return usage

    def cached_usage(self, pid: int) -> HostUsage | None:
        """What ``read_usage`` last found for ``pid``, without touching /proc."""
        cached = self._usage.get(pid)
        return cached.usage if cached is not None else None

    def forget_usage(self) -> None:
        """Forget the host usage read so far (CPU % is then n/a until it has a new interval)."""
        self._usage.clear()

    def forget_exited(self, alive: Iterable[int]) -> None:
        """Forget what was read of pids no GPU lists any more: a pid the kernel hands to
        another process later is read afresh, and the caches do not grow with every short-lived
        process."""
        keep = set(alive)
        for cache in (self._usage, self._details):
            for pid in [pid for pid in cache if pid not in keep]:
                del cache[pid]
        for key in [key for key in self._checks if key[0] not in keep]:
            del self._checks[key]
