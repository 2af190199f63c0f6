"""Who owns a process: its Slurm job, Kubernetes pod, container, or else its user, read from
/proc (``/proc/PID/cgroup``, ``environ``, ``status``, ``stat``).

The cgroup path is the most reliable witness: a job's processes stay in its cgroup whatever
they do to their environment. Layouts read (one path per line, v1 ``N:ctrl:path``, v2 ``0::path``):

- Slurm, cgroup v1: ``/slurm/uid_U/job_J/step_S/task_T`` (the prefix may carry the node name);
  v2: ``/system.slice/[node_]slurmstepd.scope/job_J/step_S/user/task_T``; else the environment's
  ``SLURM_JOB_ID`` (Slurm without a cgroup plugin);
- Kubernetes: ``kubepods[...]pod<UID>`` (cgroupfs driver ``/kubepods/burstable/pod<uid>/<id>``;
  systemd driver ``kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope``;
  a static pod's UID is 32 hex);
- a container: a 64-hex id in the path (Docker ``/docker/<id>`` or ``docker-<id>.scope``,
  containerd ``cri-containerd-<id>``, Podman ``libpod-<id>``);
- else the process's user (its real uid).

Each layout is matched on its own structure (``/slurm/uid_U/job_J``, ``slurmstepd.scope/job_J``,
``/kubepods/...pod<UID>``), so a path that merely holds ``job_`` or ``pod`` names no job. The
environment is the process's own to set: ``SLURM_JOB_ID`` is believed only where no cgroup names
an owner first, and only its digits. The /proc root is an argument so tests read fixture trees
copied from real layouts (tests/fixtures/proc). Every read is bounded, and an entry cut by the
bound is dropped, not read as another; a process that is gone, or one we may not read, has no
owner (None), never an error.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import os
import pwd
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpuscope.safe_text import one_line
from gpuscope.telemetry.process_signals import host_pids_are_ours

PROC_ROOT = Path("/proc")
_READ_MAX = 64 * 1024  # bytes read of a process's cgroup, status or stat (a few hundred, really)
# environ may hold megabytes (Linux allows a quarter of the stack limit); Slurm adds its variables
# at the end of the user's. What lies past this is not read.
_ENVIRON_MAX = 1024 * 1024
_ENVIRON_WANTED = (b"SLURM_JOB_ID=", b"SLURM_STEP_ID=", b"SLURM_JOB_USER=", b"HOSTNAME=")
_STAT_MAX = 4 * 1024 * 1024  # /proc/stat, for btime
LABEL_MAX = 128  # characters of a job, user or name: they become Prometheus label values


class OwnerKind(str, enum.Enum):
    """What owns a process; the value prefixes its job (``slurm:1234``)."""

    SLURM = "slurm"
    POD = "pod"  # a Kubernetes pod, by UID
    CONTAINER = "container"  # Docker, containerd or Podman outside Kubernetes, by short id
    USER = "user"  # none of the above: the process's user


@dataclass(frozen=True, slots=True)
class ProcessOwner:
    """Whom a process's GPU use is charged to.

    ``job`` is the accounting key and a label value: ``<kind>:<id>`` (``slurm:1234``,
    ``pod:<uid>``, ``container:<12 hex>``, ``user:alice``). ``user`` is the user name where this
    host knows the uid (else the uid as digits). ``name`` is a human name where one is known (a
    pod's name from its ``HOSTNAME``), ``step`` a Slurm step. ``started_s`` is when the process
    started (wall clock, s), None where /proc does not say."""

    kind: OwnerKind
    job: str
    user: str
    name: str | None = None
    step: str | None = None
    started_s: float | None = None


# Anchored on each layout's own structure, so a path that merely holds "job_" or "pod" is no job.
_SLURM_V1 = re.compile(
    r"/slurm(?:_[^/]+)?/uid_([0-9]+)/job_([0-9]+)(?:/step_([A-Za-z0-9_.]+))?(?=/|$)"
)
_SLURM_V2 = re.compile(r"[/_]slurmstepd\.scope/job_([0-9]+)(?:/step_([A-Za-z0-9_.]+))?(?=/|$)")
# a pod's UID: a UUID (dashes, or underscores in a systemd slice name), or a static pod's 32 hex
_UID = r"[0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32}"
_POD = re.compile(
    rf"/kubepods(?:/besteffort|/burstable)?/pod({_UID})(?=/|$)"  # cgroupfs driver
    rf"|/kubepods(?:-besteffort|-burstable)?-pod({_UID})\.slice"  # systemd driver
)
# a path relative to a cgroup namespace of its own (the exporter in a pod on cgroup v2 sees
# ``/../../burstable/pod<uid>/<id>``): a ``pod<uid>`` folder right under the climb
_POD_RELATIVE = re.compile(rf"^/(?:\.\./)+(?:[a-z]+/)?pod({_UID})(?=/|$)")
_SLURMD = re.compile(r"(?:^|[/_])slurmd(?:\.service)?(?=/|$)")  # slurmd's own cgroup
_CONTAINER = re.compile(r"(?:^|[/:-])([0-9a-f]{64})(?:\.scope)?(?=/|$)")


def owner_from_cgroup(
    cgroup_text: str, environ: dict[str, str]
) -> tuple[OwnerKind, str, str | None, str | None] | None:
    """(kind, id, step, uid from the path) from a ``/proc/PID/cgroup`` text and environment;
    None where neither names a job, pod or container (the user's, then). The environment's
    ``SLURM_JOB_ID`` is the witness only for a process in slurmd's own cgroup (Slurm without its
    cgroup plugin leaves a job's processes there) that no cgroup names a job, pod or container
    of: anyone may set the variable, and a process in an ssh session or a pod that sets it must
    not move its energy to another user's job."""
    paths = [line.split(":", 2)[2] for line in cgroup_text.splitlines() if line.count(":") >= 2]
    for path in paths:
        if (v1 := _SLURM_V1.search(path)) is not None:
            return OwnerKind.SLURM, v1.group(2), v1.group(3), v1.group(1)
        if (v2 := _SLURM_V2.search(path)) is not None:
            return OwnerKind.SLURM, v2.group(1), v2.group(2), None
    for path in paths:
        if (pod := _POD.search(path) or _POD_RELATIVE.search(path)) is not None:
            uid = next(group for group in pod.groups() if group)
            return OwnerKind.POD, uid.replace("_", "-"), None, None
    for path in paths:
        if (container := _CONTAINER.search(path)) is not None:
            return OwnerKind.CONTAINER, container.group(1)[:12], None, None
    in_slurmd = any(_SLURMD.search(path) for path in paths)  # anyone may set the variable:
    if in_slurmd and _digits(job_id := environ.get("SLURM_JOB_ID", "")):  # only where slurmd
        return OwnerKind.SLURM, job_id, environ.get("SLURM_STEP_ID") or None, None  # put it
    return None


def read_owner(pid: int, proc_root: Path = PROC_ROOT) -> ProcessOwner | None:
    """The owner of ``pid`` as ``proc_root`` shows it now; None where the process is gone or
    its cgroup cannot be read. Reads up to four small files: call it once per process (a
    sampler-thread cache, ``JobOwners``), never from a UI's event loop."""
    base = proc_root / str(pid)
    cgroup = _read_text(base / "cgroup")
    status = _read_text(base / "status")
    if cgroup is None or status is None:
        return None
    uid = _real_uid(status)
    environ = _environ(base / "environ")
    found = owner_from_cgroup(cgroup, environ)
    if found is not None and found[3] is not None and uid is None:
        uid = int(found[3])
    slurm = found is not None and found[0] is OwnerKind.SLURM
    user = _user_name(uid, environ.get("SLURM_JOB_USER") if slurm else None)
    started_s = _started_s(base / "stat", proc_root)
    if found is None:
        return ProcessOwner(OwnerKind.USER, _label(f"user:{user}"), user, started_s=started_s)
    kind, job_id, step, _ = found
    name = _label(environ.get("HOSTNAME", "")) if kind is OwnerKind.POD else ""
    step = _label(step or "")
    return ProcessOwner(
        kind,
        _label(f"{kind.value}:{job_id}"),
        user,
        name=name or None,
        step=step or None,
        started_s=started_s,
    )


def _label(text: str) -> str:
    """One printable line of at most ``LABEL_MAX`` characters ("" where nothing is printable)."""
    return one_line(text, LABEL_MAX)


def _read_bytes(path: Path, limit: int, separator: bytes) -> bytes | None:
    """At most ``limit`` bytes of ``path``; where the file is longer, only whole entries (up
    to the last ``separator``): an entry cut by the limit could read as another (a job id cut
    to its first digits). None where the file is gone or not ours to read."""
    try:
        with open(path, "rb") as file:
            data = file.read(limit + 1)
    except OSError:
        return None
    if len(data) > limit:
        data = data[: data.rfind(separator, 0, limit) + 1]
    return data


def _read_text(path: Path, limit: int = _READ_MAX) -> str | None:
    data = _read_bytes(path, limit, b"\n")
    return None if data is None else data.decode("utf-8", "replace")


def _environ(path: Path) -> dict[str, str]:
    """The variables of the process's environment that name its owner, where we may read it
    (root, or our own): {} otherwise. Others are not decoded."""
    data = _read_bytes(path, _ENVIRON_MAX, b"\0")
    if data is None:
        return {}
    wanted = (e for e in data.split(b"\0") if e.startswith(_ENVIRON_WANTED))
    pairs = (entry.decode("utf-8", "replace").partition("=") for entry in wanted)
    return {key: value for key, _, value in pairs}


def _real_uid(status: str) -> int | None:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            return int(fields[1]) if len(fields) > 1 and _digits(fields[1]) else None
    return None


def _digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _user_name(uid: int | None, slurm_user: str | None) -> str:
    """The uid's name on this host; Slurm's ``SLURM_JOB_USER`` where the host does not know it
    (a container's /etc/passwd); else the uid as digits ("?" where even that is unknown). A
    name with nothing printable counts as none."""
    if uid is not None:
        with contextlib.suppress(KeyError):
            if name := _label(pwd.getpwuid(uid).pw_name):
                return name
    if slurm_user and (name := _label(slurm_user)):
        return name
    return str(uid) if uid is not None else "?"


def _started_s(stat_path: Path, proc_root: Path) -> float | None:
    """When the process started, from its ``stat`` (clock ticks since boot) and ``btime``."""
    stat = _read_text(stat_path)
    boot = _boot_time(proc_root)
    if stat is None or boot is None:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    if len(fields) < 20 or not _digits(fields[19]):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


@functools.lru_cache(maxsize=8)
def _boot_time(proc_root: Path) -> int | None:
    """``btime`` of ``proc_root/stat``, read once: it comes after a line per CPU and the
    ``intr`` line, which holds a counter per interrupt (tens of KiB on a large node)."""
    text = _read_text(proc_root / "stat", _STAT_MAX)
    if text is None:
        return None
    boot = next((line.split()[1] for line in text.splitlines() if line.startswith("btime ")), "")
    return int(boot) if _digits(boot) else None


class JobOwners:
    """The owners of the processes GPUs list, read once per pid while listed (on the sampler
    thread) and forgotten when no GPU lists the pid any more: a pid must leave every list before
    the kernel can give it to another process. ``cached`` touches no file."""

    def __init__(
        self,
        proc_root: Path = PROC_ROOT,
        max_cached: int = 4096,
        *,
        pids_are_ours: Callable[[], bool] = host_pids_are_ours,
    ) -> None:
        self._proc_root = proc_root
        self._max_cached = max_cached
        self._pids_are_ours = pids_are_ours
        self._ours: bool | None = None  # asked once: a process does not change pid namespace
        self._owners: dict[int, ProcessOwner | None] = {}

    def read(self, pid: int) -> ProcessOwner | None:
        """``pid``'s owner, read from /proc the first time it is asked for; None (unknown) for
        every pid where gpuscope runs in a pid namespace of its own (a container without
        ``hostPID``): a GPU lists host pids, which there name other processes or none."""
        if pid in self._owners:
            return self._owners[pid]
        if self._ours is None:
            self._ours = self._pids_are_ours()
        if len(self._owners) >= self._max_cached:
            self._owners.clear()
        found = self._owners[pid] = read_owner(pid, self._proc_root) if self._ours else None
        return found

    def cached(self, pid: int) -> ProcessOwner | None:
        return self._owners.get(pid)

    def forget_exited(self, alive: set[int]) -> None:
        for pid in [pid for pid in self._owners if pid not in alive]:
            del self._owners[pid]
