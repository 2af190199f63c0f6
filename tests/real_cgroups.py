"""Real cgroups for tests: a process put into ``/slurm/uid_0/job_J/step_0`` (or any layout) of a
writable hierarchy, as slurmd, kubelet or dockerd would, so /proc shows what a cluster node shows.

Needs root and a writable hierarchy: cgroup v1's ``pids`` (writable as root here), else a v2
mount (``/sys/fs/cgroup/unified`` on a hybrid host, ``/sys/fs/cgroup`` on a unified one).
``writable_hierarchy()`` says which, or why none, so a test skips with that reason.
Everything made is under one unique top folder, removed at the end (its processes moved back
to the hierarchy's root first).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

CANDIDATES = (
    Path("/sys/fs/cgroup/pids"),
    Path("/sys/fs/cgroup/unified"),
    Path("/sys/fs/cgroup"),
)


def writable_hierarchy() -> tuple[Path | None, str]:
    """A cgroup hierarchy we may make folders in and move processes into, or why there is none."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None, "making cgroups needs root"
    for root in CANDIDATES:
        if not (root / "cgroup.procs").exists():
            continue
        probe = root / f"gpuscope-probe-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
        except OSError:
            continue
        probe.rmdir()
        return root, ""
    return None, "no writable cgroup hierarchy (v1 pids or a v2 mount) on this machine"


class RealCgroups:
    """Folders under ``<hierarchy>/gpuscope-test-<random>``; ``path_of`` is what /proc/PID/cgroup
    then shows for a process moved there."""

    def __init__(self, hierarchy: Path) -> None:
        self.hierarchy = hierarchy
        self.top = hierarchy / f"gpuscope-test-{uuid.uuid4().hex[:8]}"
        self.top.mkdir()

    def move(self, pid: int, layout: str) -> str:
        """Put ``pid`` into ``layout`` (e.g. ``slurm/uid_0/job_101/step_0``); returns the
        cgroup path /proc shows for it."""
        folder = self.top / layout
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "cgroup.procs").write_text(f"{pid}\n")
        return "/" + str(folder.relative_to(self.hierarchy))

    def remove(self) -> None:
        folders = sorted(
            (p for p in self.top.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
        )
        for folder in [*folders, self.top]:
            with contextlib.suppress(OSError):
                for pid in (folder / "cgroup.procs").read_text().split():
                    (self.hierarchy / "cgroup.procs").write_text(f"{pid}\n")
            with contextlib.suppress(OSError):
                folder.rmdir()


@contextlib.contextmanager
def real_cgroups(hierarchy: Path) -> Iterator[RealCgroups]:
    cgroups = RealCgroups(hierarchy)
    try:
        yield cgroups
    finally:
        cgroups.remove()
