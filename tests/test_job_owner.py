"""Who owns a process, read from /proc trees copied from real nodes (tests/fixtures/proc/<case>:
Slurm cgroup v1 and v2, Kubernetes with the cgroupfs and systemd drivers, Docker, Podman, a plain
session), from hostile ones built here, and from the real /proc of a process put into a real
cgroup where this machine lets us make one."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from gpuscope.telemetry.job_owner import (
    LABEL_MAX,
    JobOwners,
    OwnerKind,
    owner_from_cgroup,
    read_owner,
)
from tests.real_cgroups import real_cgroups, writable_hierarchy
from tests.waiting import exited, wait_until

FIXTURES = Path(__file__).parent / "fixtures" / "proc"
BTIME = 1796612128  # every fixture's /proc/stat
POD_A = "55c6c714-b240-4dec-9a45-57b61696ab6e"


def user_of(uid: int, otherwise: str) -> str:
    """The name this host gives ``uid``; ``otherwise`` where it knows none (as read_owner)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return otherwise


def case_root(case: str) -> tuple[Path, int]:
    root = FIXTURES / case
    (pid,) = (int(p.name) for p in root.iterdir() if p.is_dir())
    return root, pid


# case: kind, job, step, name (a pod's HOSTNAME), user
CASES = {
    "slurm_v1": (OwnerKind.SLURM, "slurm:13759490", "batch", None, user_of(51234, "alice")),
    "slurm_v1_multi_slurmd": (OwnerKind.SLURM, "slurm:88", "0", None, "root"),
    "slurm_v2": (OwnerKind.SLURM, "slurm:4749", "0", None, "root"),
    "slurm_v2_node_scope": (OwnerKind.SLURM, "slurm:4750", "interactive", None, "root"),
    "slurm_v2_extern": (OwnerKind.SLURM, "slurm:4751", "extern", None, "root"),
    "slurm_v2_batch": (OwnerKind.SLURM, "slurm:4752", "batch", None, "root"),
    "slurm_env_only": (OwnerKind.SLURM, "slurm:777", "0", None, user_of(61234, "bob")),
    "k8s_v1_burstable": (OwnerKind.POD, f"pod:{POD_A}", None, "trainer-7d9f8-abcde", "root"),
    "k8s_v1_besteffort": (
        OwnerKind.POD, "pod:9692aa0e-748e-11e8-8dfa-76d458035df6", None, "kube-proxy-x2x7k", "root"
    ),
    "k8s_v1_guaranteed": (
        OwnerKind.POD, "pod:a5c1f8d5-1919-434d-add7-4afaafdaef89", None, "infer-0", "root"
    ),
    # a static (mirror) pod's UID is the hash of its manifest: 32 hex, no dashes
    "k8s_v1_static_pod": (
        OwnerKind.POD, "pod:8daa50c3a64c9ff60bb9eab7b44b56fd", None, "gpu-node-07", "root"
    ),
    # containerd's systemd driver on cgroup v1, seen from inside its container
    "k8s_v1_systemd_containerd": (
        OwnerKind.POD, "pod:0125ec2f-b64a-4868-8f5b-94b56cbab864", None, "otel-demo", "root"
    ),
    "k8s_v1_systemd_docker": (
        OwnerKind.POD, "pod:a5c1f8d5-1919-434d-add7-4afaafdaef89", None, "lxc-test", "root"
    ),
    "k8s_v2_containerd": (OwnerKind.POD, f"pod:{POD_A}", None, "trainer-7d9f8-abcde", "root"),
    "k8s_v2_crio_guaranteed": (
        OwnerKind.POD, "pod:a5c1f8d5-1919-434d-add7-4afaafdaef89", None, "calico-node-hx7cw", "root"
    ),
    "k8s_v2_besteffort": (  # environ unreadable: the pod still, without its name
        OwnerKind.POD, "pod:9692aa0e-748e-11e8-8dfa-76d458035df6", None, None, "root"
    ),
    "docker_v1": (OwnerKind.CONTAINER, "container:abddff03dfd7", None, None, "root"),
    "docker_v2": (OwnerKind.CONTAINER, "container:d0b3604b67ac", None, None, "root"),
    "podman_v2": (OwnerKind.CONTAINER, "container:2032491dcae3", None, None, "root"),
    "podman_rootless": (
        OwnerKind.CONTAINER, "container:ee4b20e90ac7", None, None, user_of(1000, "1000")
    ),
    "podman_pod": (OwnerKind.CONTAINER, "container:66d6d4ac9851", None, None, "root"),
    "user_session": (OwnerKind.USER, "user:root", None, None, "root"),
    "user_session_hybrid": (OwnerKind.USER, "user:root", None, None, "root"),
    # not a Slurm job: SLURM_JOB_USER names no one outside one
    "unknown_uid": (
        OwnerKind.USER, f"user:{user_of(61234, '61234')}", None, None, user_of(61234, "61234")
    ),
    "job_word_not_slurm": (OwnerKind.USER, "user:root", None, None, "root"),
    "pod_word_not_kubepods": (OwnerKind.USER, "user:root", None, None, "root"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_owner_of_each_real_layout(case: str) -> None:
    kind, job, step, name, user = CASES[case]
    root, pid = case_root(case)
    owner = read_owner(pid, root)
    assert owner is not None
    assert (owner.kind, owner.job, owner.step, owner.name, owner.user) == (
        kind, job, step, name, user
    )  # fmt: skip


def test_every_fixture_has_a_case() -> None:
    assert {p.name for p in FIXTURES.iterdir()} == set(CASES)


def test_started_from_stat_and_btime() -> None:
    root, pid = case_root("slurm_v1")
    owner = read_owner(pid, root)
    assert owner is not None
    assert owner.started_s == pytest.approx(BTIME + 3688386 / os.sysconf("SC_CLK_TCK"))


def copy_case(case: str, tmp_path: Path) -> tuple[Path, Path]:
    """A writable copy of a fixture tree: (its root, its process's folder)."""
    source, pid = case_root(case)
    root = tmp_path / case
    shutil.copytree(source, root)
    return root, root / str(pid)


def test_a_process_gone_has_no_owner(tmp_path: Path) -> None:
    root, folder = copy_case("slurm_v2", tmp_path)
    (folder / "status").unlink()  # exited between the reads of its cgroup and its status
    assert read_owner(int(folder.name), root) is None
    shutil.rmtree(folder)  # gone before the first read
    assert read_owner(int(folder.name), root) is None
    assert read_owner(999999, FIXTURES / "slurm_v2") is None


def test_an_environ_we_may_not_read_leaves_the_cgroup_owner(tmp_path: Path) -> None:
    """Not root: /proc refuses another user's environ (EACCES at open); here it is a folder,
    as root may read any file."""
    root, folder = copy_case("k8s_v2_containerd", tmp_path)
    (folder / "environ").unlink()
    (folder / "environ").mkdir()
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.job == f"pod:{POD_A}" and owner.name is None


def test_endless_files_are_read_bounded(tmp_path: Path) -> None:
    """A /proc file that never ends (here /dev/zero) costs one bounded read, not the memory."""
    root, folder = copy_case("docker_v2", tmp_path)
    (folder / "environ").unlink()
    (folder / "environ").symlink_to("/dev/zero")
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.job == "container:d0b3604b67ac"
    (folder / "cgroup").unlink()
    (folder / "cgroup").symlink_to("/dev/zero")
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.kind is OwnerKind.USER


def test_an_entry_cut_by_the_read_limit_is_not_read(tmp_path: Path) -> None:
    """A huge environment or cgroup file is read only so far; what straddles that limit is cut,
    and ``SLURM_JOB_ID=13759490`` cut to ``SLURM_JOB_ID=1375`` would charge another job."""
    root, folder = copy_case("slurm_env_only", tmp_path)
    pid = int(folder.name)
    entry = b"SLURM_JOB_ID=13759490\0"
    for cut_at in range(len(b"SLURM_JOB_ID=") + 1, len(entry)):
        for size in (64 * 1024, 1024 * 1024):
            filler = b"X=" + b"x" * (size - cut_at - 3) + b"\0"
            (folder / "environ").write_bytes(filler + entry)
            owner = read_owner(pid, root)
            assert owner is not None and owner.job in ("slurm:13759490", f"user:{owner.user}")
    (folder / "environ").write_bytes(b"")
    for cut_at in range(len("0::/system.slice/slurmstepd.scope/job_1"), 60):
        junk = "".join(f"{n}:junk:/{'j' * 60}\n" for n in range(2000))
        line = "0::/system.slice/slurmstepd.scope/job_13759490/step_0/user/task_0\n"
        for size in (64 * 1024, 1024 * 1024):
            text = (junk * (size // len(junk) + 1))[: size - cut_at] + line
            (folder / "cgroup").write_text(text)
            owner = read_owner(pid, root)
            assert owner is not None and owner.job in ("slurm:13759490", f"user:{owner.user}")


def test_hostile_text_becomes_bounded_printable_labels(tmp_path: Path) -> None:
    """What a process sets in its environment or bytes that are not UTF-8 become bounded,
    printable label values; a name that is nothing printable falls back to the uid."""
    root, folder = copy_case("slurm_env_only", tmp_path)
    pid = int(folder.name)
    evil = "\x1b]52;c;cm0gLXJmIH4K\x07al\x1b[2Jice\n" + "\u202e" + "u" * 10_000
    env = f"SLURM_JOB_ID=777\0SLURM_JOB_USER={evil}\0".encode() + b"HOSTNAME=\xff\xfe\0"
    (folder / "environ").write_bytes(env)
    owner = read_owner(pid, root)
    assert owner is not None and owner.job == "slurm:777"
    if owner.user != user_of(61234, ""):
        assert owner.user.startswith("alice") and len(owner.user) <= LABEL_MAX
        assert owner.user.isprintable()
    (folder / "environ").write_bytes(b"SLURM_JOB_ID=777\0SLURM_JOB_USER=\x1b[2J\x07\0")
    owner = read_owner(pid, root)
    assert owner is not None and owner.user == user_of(61234, "61234")
    root, folder = copy_case("k8s_v2_containerd", tmp_path)
    (folder / "environ").write_bytes(b"HOSTNAME=trainer\xff\x1b[31m-0\0")
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.name is not None
    assert owner.name.isprintable() and owner.name.startswith("trainer")
    (folder / "cgroup").write_bytes(b"0::/system.slice/docker-\xff\xfe.scope\n\x00\x1b[2J\n")
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.kind is OwnerKind.USER and owner.job.isprintable()


def test_owners_are_read_once_per_listed_pid_and_forgotten(tmp_path: Path) -> None:
    root, folder = copy_case("slurm_v2", tmp_path)
    pid = int(folder.name)
    owners = JobOwners(root, max_cached=3, pids_are_ours=lambda: True)
    assert owners.cached(pid) is None  # never read: cached touches no file
    first = owners.read(pid)
    assert first is not None and first.job == "slurm:4749"
    (folder / "cgroup").write_text("0::/user.slice/user-0.slice/session-1.scope\n")
    (folder / "environ").unlink()
    assert owners.read(pid) is first and owners.cached(pid) is first  # not read again
    owners.forget_exited({pid})
    assert owners.read(pid) is first
    owners.forget_exited(set())  # no GPU lists it: the next process with this pid is read anew
    assert owners.cached(pid) is None
    again = owners.read(pid)
    assert again is not None and again.job == "user:root"
    for other in range(1, 10):  # bounded: never more than max_cached pids
        owners.read(other)
        assert len([p for p in [pid, *range(1, 10)] if owners.cached(p) is not None]) <= 3


def test_started_on_a_node_whose_proc_stat_is_large(tmp_path: Path) -> None:
    """btime comes after the ``intr`` line, a counter per interrupt: tens of KiB on big nodes."""
    root, folder = copy_case("slurm_v2", tmp_path)
    intr = "intr 114930548" + " 0" * 100_000
    (root / "stat").write_text(f"cpu  2255 34 2290 22625563\n{intr}\nbtime {BTIME}\n")
    owner = read_owner(int(folder.name), root)
    assert owner is not None
    assert owner.started_s == pytest.approx(BTIME + 2000 / os.sysconf("SC_CLK_TCK"))


def test_only_ascii_digits_make_a_job_id(tmp_path: Path) -> None:
    root, folder = copy_case("slurm_env_only", tmp_path)
    (folder / "environ").write_bytes("SLURM_JOB_ID=١٢٣\0".encode())
    owner = read_owner(int(folder.name), root)
    assert owner is not None and owner.kind is OwnerKind.USER


REAL_LAYOUTS = {  # as slurmd (cgroup v1) and the kubelet (cgroupfs driver) make them
    "slurm/uid_0/job_101/step_0/task_0": ("slurm:101", "0", None),
    f"kubepods/burstable/pod{POD_A}/{'c0ffee' * 10}abcd": (f"pod:{POD_A}", None, "trainer-0"),
}


@pytest.mark.parametrize("layout", sorted(REAL_LAYOUTS))
def test_a_real_process_in_a_real_cgroup(layout: str) -> None:
    """The real /proc of a real child moved into a real cgroup names its job or pod; every
    folder made is removed after, whatever the test found."""
    hierarchy, why = writable_hierarchy()
    if hierarchy is None:
        pytest.skip(why)
    job, step, name = REAL_LAYOUTS[layout]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        env=env | {"HOSTNAME": "trainer-0"},
    )
    try:
        with real_cgroups(hierarchy) as cgroups:
            top = cgroups.top
            try:
                path = cgroups.move(child.pid, layout)
                cgroup_file = Path(f"/proc/{child.pid}/cgroup")
                wait_until(lambda: path in cgroup_file.read_text(), "never moved", exited(child))
                owner = read_owner(child.pid)
                assert owner is not None
                assert (owner.job, owner.step, owner.name, owner.user) == (
                    job, step, name, user_of(os.getuid(), str(os.getuid()))
                )  # fmt: skip
                assert owner.started_s == pytest.approx(
                    psutil.Process(child.pid).create_time(), abs=0.05
                )
            finally:
                child.kill()
                child.wait()
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert not top.exists()


def test_a_pod_or_container_that_sets_slurm_job_id_stays_the_pod_or_container() -> None:
    """The cgroup is the witness a process cannot change; the environment, anyone may set."""
    pod = "0::/kubepods.slice/kubepods-pod0c5d8e2a_1b3c_4d5e_8f90_123456789abc.slice/x\n"
    container = "0::/system.slice/docker-" + "ab" * 32 + ".scope\n"
    environ = {"SLURM_JOB_ID": "4242"}
    assert owner_from_cgroup(pod, environ) == (
        OwnerKind.POD, "0c5d8e2a-1b3c-4d5e-8f90-123456789abc", None, None,
    )  # fmt: skip
    assert owner_from_cgroup(container, environ) == (OwnerKind.CONTAINER, "ab" * 6, None, None)
    assert owner_from_cgroup("0::/user.slice/user-1000.slice\n", environ) is None  # see below


def test_in_a_pid_namespace_of_its_own_no_pid_is_placed(tmp_path: Path) -> None:
    """In a container without hostPID, a GPU's host pid names another process here (or none):
    its /proc files are not the GPU process's, so the owner is unknown, never that one's."""
    root, folder = copy_case("slurm_v2", tmp_path)
    asked: list[bool] = []
    owners = JobOwners(root, pids_are_ours=lambda: asked.append(True) or False)
    assert owners.read(int(folder.name)) is None and owners.read(1) is None
    assert asked == [True]  # asked once: a process does not change pid namespace


def test_slurm_job_id_set_outside_slurmd_names_no_job() -> None:
    """A user's process in an ssh session that sets SLURM_JOB_ID must not charge its GPU use to
    another user's job: the variable counts only in slurmd's own cgroup (Slurm without its
    cgroup plugin)."""
    spoofed = {"SLURM_JOB_ID": "101"}
    session = "0::/user.slice/user-1001.slice/session-3.scope\n"
    assert owner_from_cgroup(session, spoofed) is None
    for slurmd in ("0::/system.slice/slurmd.service\n", "1:name=systemd:/system.slice/"
                   "node7_slurmd.service\n0::/\n"):  # fmt: skip
        assert owner_from_cgroup(slurmd, spoofed) == (OwnerKind.SLURM, "101", None, None)
    assert owner_from_cgroup("0::/system.slice/slurmstepd.scope/system\n", spoofed) is None


def test_a_pod_seen_from_a_cgroup_namespace_of_its_own_is_the_pod() -> None:
    """On cgroup v2 the exporter's pod has a cgroup namespace of its own even with hostPID: the
    GPU process's path climbs out of it (cgroupfs driver) and names no kubepods."""
    uid = "0c5d8e2a-1b3c-4d5e-8f90-123456789abc"
    for path in (f"/../../../burstable/pod{uid}/{'ab' * 32}", f"/../../pod{uid}/{'cd' * 32}"):
        assert owner_from_cgroup(f"0::{path}\n", {}) == (OwnerKind.POD, uid, None, None), path
    assert owner_from_cgroup(f"0::/../{'ab' * 32}\n", {})[0] is OwnerKind.CONTAINER  # type: ignore[index]
