"""Who owns a process: its Slurm job, Kubernetes pod, container, or else its user, read from
/proc (``/proc/PID/cgroup``, ``environ``, ``status``, ``stat``).

The cgroup path is the most reliable witness: a job's processes stay in its cgroup whatever
they do to their environment. Layouts read (one path per line, v1 ``N:ctrl:path``, v2 ``0::path``):

- Slurm, cgroup v1: ``/slurm/uid_U/job_J/step_S/task_T`` (the prefix may carry the node name);
  v2: ``/system.slice/[node_]slurmstepd.scope/job_J/step_S/user/task_T``; else the environment's
  ``SLURM_JOB_ID`` (Slurm without a cgroup plugin);
- Kubernetes: ``kubepods[...]pod<UID>`` (v1 ``/kubepods/burstable/pod<uid>/<id>``, v2 with the
  systemd driver ``kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope``);
- a container: a 64-hex id in the path (Docker ``/docker/<id>`` or ``docker-<id>.scope``,
  containerd ``cri-containerd-<id>``, Podman ``libpod-<id>``);
- else the process's user (its real uid).

The /proc root is an argument so tests read fixture trees copied from real layouts. Every read
is bounded; a process that is gone, or one we may not read, has no owner (None), never an error.
"""

from __future__ import annotations

import contextlib
import enum
import os
import pwd
import re
from dataclasses import dataclass
from pathlib import Path

from gpuscope.safe_text import clipped, one_line

PROC_ROOT = Path("/proc")
_READ_MAX = 64 * 1024  # bytes of one /proc file read (environ may be large: the rest is ignored)
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


_SLURM_JOB = re.compile(r"/job_(\d+)(?:/step_([A-Za-z0-9_.]+))?")
_SLURM_UID = re.compile(r"/uid_(\d+)(?:/|$)")
_POD = re.compile(
    r"kubepods.*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})"
)
_CONTAINER = re.compile(r"(?:^|[/-])([0-9a-f]{64})(?:\.scope)?(?:/|$)")


def owner_from_cgroup(
    cgroup_text: str, environ: dict[str, str], uid: int | None
) -> tuple[OwnerKind, str, str | None, str | None] | None:
    """(kind, id, step, uid from the path) from a ``/proc/PID/cgroup`` text and environment;
    None where neither names a job, pod or container (the user's, then)."""
    paths = [line.split(":", 2)[2] for line in cgroup_text.splitlines() if line.count(":") >= 2]
    for path in paths:
        if "slurm" in path and (job := _SLURM_JOB.search(path)) is not None:
            path_uid = _SLURM_UID.search(path)
            return OwnerKind.SLURM, job.group(1), job.group(2), path_uid and path_uid.group(1)
    if (job_id := environ.get("SLURM_JOB_ID", "")).isdigit():
        return OwnerKind.SLURM, job_id, environ.get("SLURM_STEP_ID") or None, None
    for path in paths:
        if (pod := _POD.search(path)) is not None:
            return OwnerKind.POD, pod.group(1).replace("_", "-"), None, None
    for path in paths:
        if (container := _CONTAINER.search(path)) is not None:
            return OwnerKind.CONTAINER, container.group(1)[:12], None, None
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
    found = owner_from_cgroup(cgroup, environ, uid)
    if found is not None and found[3] is not None and uid is None:
        uid = int(found[3])
    user = _user_name(uid, environ.get("SLURM_JOB_USER") if found else None)
    started_s = _started_s(base / "stat", proc_root)
    if found is None:
        return ProcessOwner(OwnerKind.USER, _label(f"user:{user}"), user, started_s=started_s)
    kind, job_id, step, _ = found
    name = environ.get("HOSTNAME") if kind is OwnerKind.POD else None
    return ProcessOwner(
        kind,
        _label(f"{kind.value}:{job_id}"),
        user,
        name=_label(name) if name else None,
        step=_label(step) if step else None,
        started_s=started_s,
    )


def _label(text: str) -> str:
    return clipped(one_line(text), LABEL_MAX)


def _read_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as file:
            return file.read(_READ_MAX).decode("utf-8", "replace")
    except OSError:  # gone, or not ours to read
        return None


def _environ(path: Path) -> dict[str, str]:
    """The process's environment where we may read it (root, or our own): {} otherwise."""
    text = _read_text(path)
    if text is None:
        return {}
    pairs = (entry.partition("=") for entry in text.split("\0") if "=" in entry)
    return {key: value for key, _, value in pairs}


def _real_uid(status: str) -> int | None:
    for line in status.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    return None


def _user_name(uid: int | None, slurm_user: str | None) -> str:
    """The uid's name on this host; Slurm's ``SLURM_JOB_USER`` where the host does not know it
    (a container's /etc/passwd); else the uid as digits ("?" where even that is unknown)."""
    if uid is not None:
        with contextlib.suppress(KeyError):
            return _label(pwd.getpwuid(uid).pw_name)
    if slurm_user:
        return _label(slurm_user)
    return str(uid) if uid is not None else "?"


def _started_s(stat_path: Path, proc_root: Path) -> float | None:
    """When the process started, from its ``stat`` (clock ticks since boot) and ``btime``."""
    stat = _read_text(stat_path)
    machine = _read_text(proc_root / "stat")
    if stat is None or machine is None:
        return None
    fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
    boot = next((line.split()[1] for line in machine.splitlines() if line.startswith("btime ")), "")
    if len(fields) < 20 or not fields[19].isdigit() or not boot.isdigit():
        return None
    return int(boot) + int(fields[19]) / os.sysconf("SC_CLK_TCK")


class JobOwners:
    """The owners of the processes GPUs list, read once per pid while listed (on the sampler
    thread) and forgotten when no GPU lists the pid any more: a pid must leave every list before
    the kernel can give it to another process. ``cached`` touches no file."""

    def __init__(self, proc_root: Path = PROC_ROOT, max_cached: int = 4096) -> None:
        self._proc_root = proc_root
        self._max_cached = max_cached
        self._owners: dict[int, ProcessOwner | None] = {}

    def read(self, pid: int) -> ProcessOwner | None:
        """``pid``'s owner, read from /proc the first time it is asked for."""
        if pid in self._owners:
            return self._owners[pid]
        if len(self._owners) >= self._max_cached:
            self._owners.clear()
        found = self._owners[pid] = read_owner(pid, self._proc_root)
        return found

    def cached(self, pid: int) -> ProcessOwner | None:
        return self._owners.get(pid)

    def forget_exited(self, alive: set[int]) -> None:
        for pid in [pid for pid in self._owners if pid not in alive]:
            del self._owners[pid]
