"""Per-job accounting on one node (``measurement.job_energy``): samples built by hand, owners
from a table, so each rule is checked on exact figures."""

from __future__ import annotations

import itertools

import pytest

from gpuscope.measurement.job_energy import UNKNOWN_JOB, JobLedger, JobUse
from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry.job_owner import OwnerKind, ProcessOwner
from gpuscope.telemetry.model import EnergySource, ProcessUsage, Reading, Sample, Vendor


class Owners:
    """An owner table standing in for ``JobOwners`` (same methods), counting /proc reads."""

    def __init__(self, jobs: dict[int, tuple[str, str, float | None]]) -> None:
        self.jobs = jobs  # pid -> (job, user, started_s)
        self.reads: list[int] = []
        self.forgotten: set[int] = set()

    def read(self, pid: int) -> ProcessOwner | None:
        self.reads.append(pid)
        if pid not in self.jobs:
            return None
        job, user, started = self.jobs[pid]
        return ProcessOwner(OwnerKind.SLURM, job, user, started_s=started)

    def forget_exited(self, alive: set[int]) -> None:
        self.forgotten = {pid for pid in self.jobs if pid not in alive}


def computing(*pids: int, sm: float | None = None) -> tuple[ProcessUsage, ...]:
    return tuple(ProcessUsage(pid, "python", 1000.0, "C", sm) for pid in pids)


def sample(
    t: float,
    energy_j: float | None,
    processes: tuple[ProcessUsage, ...] | None,
    *,
    power_w: float = 100.0,
    util: float | None = 50.0,
    sm_active: float | None = None,
    tensor_active: float | None = None,
    bridged: bool = False,
    device: str = "nvidia:0",
    source: EnergySource = EnergySource.COUNTER,
) -> Sample:
    reading = Reading(
        t, 1_800_000_000 + t, util_gpu_pct=util, power_w=power_w, processes=processes,
        sm_active_pct=sm_active, tensor_active_pct=tensor_active,
    )  # fmt: skip
    return Sample(device, Vendor.NVIDIA, reading, energy_j, source, energy_bridged=bridged)


def by_job(ledger: JobLedger) -> dict[tuple[str, str], JobUse]:
    return {(use.job, use.device_id): use for use in ledger.uses()}


JOBS = {
    11: ("slurm:101", "alice", 1000.0),
    12: ("slurm:101", "alice", 990.0),
    21: ("slurm:202", "bob", 1005.0),
}


def test_two_processes_of_one_job_without_shares_charge_the_job_the_whole_gpu() -> None:
    """The H100 on driver 580 gives no SM shares: two processes leave the energy unattributed
    per process, but they are one job's, which held the GPU alone."""
    ledger, processes = JobLedger(Owners(JOBS)), ProcessEnergyLedger()
    samples = [
        sample(0.0, 0.0, computing(11, 12), util=90.0, sm_active=80.0, tensor_active=60.0),
        sample(1.0, 100.0, computing(11, 12), util=90.0, sm_active=80.0, tensor_active=60.0),
        sample(2.0, 250.0, computing(11, 12), util=70.0, sm_active=40.0, tensor_active=20.0),
    ]
    for one in samples:
        ledger.add([one])
        processes.add([one])
    use = by_job(ledger)[("slurm:101", "nvidia:0")]
    assert (use.energy_j, use.energy_source, use.estimate_j) == (250.0, EnergySource.COUNTER, 0.0)
    assert (use.held_s, use.alone_s, use.processes, use.user) == (2.0, 2.0, 2, "alice")
    assert use.busy_s == pytest.approx(0.9 + 0.7)
    assert (use.activity_s, use.sm_active_s) == (2.0, pytest.approx(1.2))
    assert use.tensor_active_s == pytest.approx(0.8)
    assert use.started_s == 990.0  # its earliest process
    device = processes.device("nvidia:0")
    assert device is not None and device.attributed_j == 0.0  # per process: "several"


def test_sm_shares_charge_each_job_its_processes_shares_as_an_estimate() -> None:
    ledger = JobLedger(Owners(JOBS))
    shared = (*computing(11, 12, sm=30.0), *computing(21, sm=20.0))
    ledger.add([sample(0.0, 0.0, shared)])
    ledger.add([sample(1.0, 200.0, shared)])
    uses = by_job(ledger)
    alice, bob = uses[("slurm:101", "nvidia:0")], uses[("slurm:202", "nvidia:0")]
    assert (alice.estimate_j, bob.estimate_j) == (pytest.approx(120.0), pytest.approx(40.0))
    assert alice.energy_j == bob.energy_j == 0.0 and alice.energy_source is None
    # both held it, neither alone: the device's busy and activity are no one job's
    assert (alice.held_s, alice.alone_s, alice.busy_s) == (1.0, 0.0, None)
    assert (bob.processes, alice.processes) == (1, 2)


def test_two_jobs_without_shares_charge_no_job_and_a_job_that_arrives_is_not_charged_yet() -> None:
    ledger = JobLedger(Owners(JOBS))
    ledger.add([sample(0.0, 0.0, computing(11))])
    ledger.add([sample(1.0, 100.0, computing(11, 21))])  # 202 arrived within: list changed
    ledger.add([sample(2.0, 200.0, computing(11, 21))])  # two jobs, no shares
    uses = by_job(ledger)
    alice, bob = uses[("slurm:101", "nvidia:0")], uses[("slurm:202", "nvidia:0")]
    assert alice.energy_j == bob.energy_j == 0.0
    assert (alice.held_s, alice.alone_s) == (2.0, 0.0)  # 202 was there at the end of the first
    assert (bob.held_s, bob.alone_s) == (1.0, 0.0)


def test_a_job_that_ends_keeps_its_totals_until_kept_long_enough_then_is_dropped() -> None:
    ledger = JobLedger(Owners(JOBS), keep_s=10.0)
    ledger.add([sample(0.0, 0.0, computing(21))])
    ledger.add([sample(1.0, 100.0, computing(21))])
    ledger.add([sample(2.0, 200.0, ())])  # it ended within the interval: not charged
    ledger.add([sample(3.0, 260.0, ())])
    use = by_job(ledger)[("slurm:202", "nvidia:0")]
    assert (use.energy_j, use.held_s, use.processes, use.last_seen_s) == (100.0, 1.0, 0, 1.0)
    assert use.last_seen_unix_s == 1_800_000_001.0  # its running time ends where it was last seen
    ledger.add([sample(11.0, 900.0, ())])
    assert ("slurm:202", "nvidia:0") in by_job(ledger)  # 10 s after its last sight: still kept
    ledger.add([sample(11.5, 950.0, ())])
    assert by_job(ledger) == {}


def test_entries_past_the_bound_drop_the_longest_gone_first_never_a_running_job() -> None:
    owners = Owners({pid: (f"slurm:{pid}", "alice", None) for pid in range(1, 6)})
    ledger = JobLedger(owners, entries_max=3)
    for t, pid in enumerate((1, 2, 3, 4)):
        ledger.add([sample(float(t), None, computing(pid, 5))])
    assert set(by_job(ledger)) == {("slurm:3", "nvidia:0"), ("slurm:4", "nvidia:0"),
                                   ("slurm:5", "nvidia:0")}  # fmt: skip


def test_charges_made_on_a_bridge_are_added_only_when_the_counter_settles_them() -> None:
    """Job totals are exported as counters: they may never go down, so a bridge's provisional
    charges wait for the counter and are then scaled to its figure."""
    ledger = JobLedger(Owners(JOBS))
    totals = []
    for one in [
        sample(0.0, 0.0, computing(11)),
        sample(0.5, 50.0, computing(11), bridged=True),  # integrated power, provisional
        sample(1.0, 100.0, computing(11), bridged=True),
        sample(1.5, 140.0, computing(11)),  # the counter: 140 J since its last reading
        sample(2.0, 190.0, computing(11), bridged=True),
    ]:
        ledger.add([one])
        totals.append(by_job(ledger)[("slurm:101", "nvidia:0")].energy_j)
    assert totals == [0.0, 0.0, 0.0, pytest.approx(140.0), pytest.approx(140.0)]


def test_pids_proc_does_not_place_add_to_unknown_and_are_no_sole_job_together() -> None:
    ledger = JobLedger(Owners({}))
    ledger.add([sample(0.0, 0.0, computing(7, 8))])
    ledger.add([sample(1.0, 100.0, computing(7, 8))])
    use = by_job(ledger)[(UNKNOWN_JOB, "nvidia:0")]
    assert (use.energy_j, use.processes, use.user, use.held_s) == (0.0, 2, UNKNOWN_JOB, 1.0)


def test_skipped_devices_and_lost_samples_charge_nothing_and_owners_are_forgotten() -> None:
    owners = Owners(JOBS)
    ledger = JobLedger(owners, skip_devices=frozenset({"sim:0"}))
    ledger.add([sample(0.0, 0.0, computing(11)), sample(0.0, 0.0, computing(21), device="sim:0")])
    ledger.add([sample(1.0, 100.0, computing(11)), sample(1.0, 9.0, computing(21), device="sim:0")])
    assert set(by_job(ledger)) == {("slurm:101", "nvidia:0")}
    assert 21 not in owners.reads and owners.forgotten == {12, 21}
    lost = Sample("nvidia:0", Vendor.NVIDIA, Reading(2.0, 0.0), None, None, lost=True)
    ledger.add([lost])
    assert by_job(ledger)[("slurm:101", "nvidia:0")].energy_j == 100.0


def test_the_energy_label_stays_as_first_charged_when_the_device_source_changes() -> None:
    """A counter reset makes the device's cumulative source ``counter+integrated``: a job's
    exported series must keep its labels (a new series would restart from the whole total)."""
    ledger = JobLedger(Owners(JOBS))
    ledger.add([sample(0.0, 0.0, computing(11))])
    ledger.add([sample(1.0, 100.0, computing(11))])
    ledger.add([sample(2.0, 200.0, computing(11), source=EnergySource.MIXED)])
    use = by_job(ledger)[("slurm:101", "nvidia:0")]
    assert (use.energy_j, use.energy_source) == (200.0, EnergySource.COUNTER)


def test_two_users_in_one_job_are_never_merged_nor_one_sole_job() -> None:
    """A job is charged per (job, user): another user's process placed in the same job (a
    spoofed or shared id) is its own holder, so neither is the GPU's only job."""
    owners = Owners({11: ("slurm:101", "alice", None), 31: ("slurm:101", "mallory", None)})
    ledger = JobLedger(owners)
    ledger.add([sample(0.0, 0.0, computing(11, 31))])
    ledger.add([sample(1.0, 100.0, computing(11, 31))])
    uses = {(use.job, use.user): use for use in ledger.uses()}
    assert set(uses) == {("slurm:101", "alice"), ("slurm:101", "mallory")}
    assert all(use.energy_j == 0.0 and use.processes == 1 for use in uses.values())


def test_totals_read_while_the_sampler_adds_only_grow() -> None:
    """The exporter reads on its own thread: each read is a consistent copy, and a counter
    read later is never below one read earlier."""
    import threading

    ledger = JobLedger(Owners(JOBS))
    done = threading.Event()
    seen: list[float] = []

    def read() -> None:
        while not done.is_set():
            seen.extend(u.energy_j for u in ledger.uses() if u.job == "slurm:101")

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for step in range(2000):
            bridged = step % 10 != 0
            ledger.add([sample(step * 0.1, step * 10.0, computing(11), bridged=bridged)])
    finally:
        done.set()
        reader.join()
    assert seen and all(a <= b for a, b in itertools.pairwise(seen))
    assert by_job(ledger)[("slurm:101", "nvidia:0")].energy_j == pytest.approx(19_900.0)
