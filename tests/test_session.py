"""The session the UI renders, driven without a terminal (issue 11): devices, recording, runs,
results and closing, on simulated devices and a hand-moved clock."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd

from gpuscope.measurement.measured_run import RunState
from gpuscope.measurement.sweep import parse_sweep
from gpuscope.session import Launch, Session, SessionSetup
from gpuscope.simulated.devices import SimulatedCpu, demo_gpus
from gpuscope.simulated.runs import SimulatedRun
from gpuscope.telemetry.discover import Discovery
from gpuscope.workloads.events import ErrorKind, Failed, Result, RunEvent
from gpuscope.workloads.registry import find_workloads
from tests.conftest import FakeClock
from tests.waiting import wait_until

START_S = 1000.0


def session(tmp_path: Path, heard: list[RunEvent] | None = None) -> Session:
    clock = FakeClock(START_S)
    gpus = demo_gpus(START_S)
    devices = [*gpus, SimulatedCpu(START_S)]
    setup = SessionSetup(
        discover=lambda: Discovery(devices=list(devices)),
        run_factory=lambda spec, _hang: SimulatedRun(spec, gpus[0], progress_period_s=0.05),
        find_catalog=lambda: find_workloads(plugin_dirs=[], use_entry_points=False),
        record_dir=tmp_path,
        clock=clock,
        autostart=False,
    )
    return Session(setup, (lambda run, event: heard.append(event)) if heard is not None else None)


def test_recording_takes_one_row_per_device_and_tick(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.probe()
    assert s.sampler is not None and s.setup.clock is not None
    recording = s.start_recording()
    for _ in range(3):
        s.setup.clock.advance(0.5)  # type: ignore[attr-defined]
        s.sampler.tick()
    assert s.stop_recording() is recording and s.recording is None
    deadline = time.monotonic() + 10
    while s.busy and time.monotonic() < deadline:  # the file closes on a thread
        time.sleep(0.01)
    frame = pd.read_csv(recording.path)
    assert len(frame) == 3 * 4 and set(frame["device"]) == {"nvidia:0", "nvidia:1", "amd:0", "cpu"}
    s.close()


def test_a_launched_run_reports_and_results_save(tmp_path: Path) -> None:
    heard: list[RunEvent] = []
    s = session(tmp_path, heard)
    s.probe()
    assert s.find_catalog() is s.catalog and s.catalog is not None
    done = threading.Event()
    listener = s.on_run_event

    def hear(run, event) -> None:  # type: ignore[no-untyped-def]
        assert listener is not None
        listener(run, event)
        if isinstance(event, Result | Failed):
            done.set()

    s.on_run_event = hear
    gemm = s.catalog.workloads["gemm"]
    (run,) = s.launch(Launch(gemm, {"dtype": "bf16", "size": 4096}, ("cuda:0",), 0.2, 0.0, False))
    assert done.wait(30), "the run never finished"
    assert isinstance(heard[-1], Result) and run.result is not None
    assert s.results == [run.result]  # the session keeps the results, not the view
    path = s.save_results()
    assert path.parent == tmp_path and path.name.startswith("gpuscope-results-")
    assert pd.read_csv(path)["workload"].tolist() == ["gemm"]
    saved: list[tuple[Path | None, str | None]] = []
    finished = threading.Event()
    s.save_report(lambda report, why: (saved.append((report, why)), finished.set()))
    assert finished.wait(60), "the report was never made"
    ((report, why),) = saved
    assert why is None and report is not None and report.name.startswith("gpuscope-report-")
    page = report.read_text()  # from the results saved beside it (JSON, as bench --json)
    assert "gemm (dtype=bf16, size=4096) on cuda:0" in page and "<table>" in page
    assert len(list(tmp_path.glob("gpuscope-results-*.json"))) == 1
    assert s.stop_runs() == 0  # nothing left running
    s.close()
    assert not s.busy


def test_closing_stops_what_runs_and_the_sampler(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.probe()
    s.find_catalog()
    assert s.catalog is not None
    gemm = s.catalog.workloads["gemm"]
    (run,) = s.launch(Launch(gemm, {"dtype": "bf16", "size": 64}, ("cuda:0",), 600.0, 0.0, False))
    s.start_recording()
    started = time.monotonic()
    s.close()  # blocking, off any UI loop
    assert time.monotonic() - started < 15
    assert run.finished and s.recording is None and not s.busy
    assert s.quitting.is_set()


def test_a_failure_of_gpuscope_while_driving_fails_the_run_not_the_session(tmp_path: Path) -> None:
    heard: list[RunEvent] = []
    s = session(tmp_path, heard)

    def broken(spec, hang):  # type: ignore[no-untyped-def]
        raise OSError(24, "Too many open files")

    s.setup.run_factory = broken
    s.probe()
    s.find_catalog()
    assert s.catalog is not None
    launch = Launch(
        s.catalog.workloads["gemm"], {"dtype": "bf16", "size": 64}, ("cpu",), 1, 0, False
    )
    (run,) = s.launch(launch)
    deadline = time.monotonic() + 10
    while not run.finished and time.monotonic() < deadline:
        time.sleep(0.01)
    assert run.error is not None and "Too many open files" in run.error.message
    assert isinstance(heard[-1], Failed)  # the UI is told, as for any failed run
    s.close()


def test_the_sampler_feeds_the_process_look_ups_only_while_they_are_shown(tmp_path: Path) -> None:
    """The Processes tab's user, command and host figures are read on the sampler's thread,
    only while the tab is shown, and never for the made-up pids of a simulated device."""
    from functools import partial

    from gpuscope.telemetry.processes import ProcessDetails, ProcessLookups

    gpus = demo_gpus(START_S)  # nvidia:0 lists its training job
    gpus[1].extra_load = 0.5  # nvidia:1 lists a run of its own
    setup = SessionSetup(
        discover=lambda: Discovery(devices=list(gpus)),
        record_dir=tmp_path,
        clock=FakeClock(START_S),
        autostart=False,
        simulated_ids=frozenset({"nvidia:1"}),
        process_lookups=partial(
            ProcessLookups,
            details_of=lambda pid: ProcessDetails("al", f"job {pid}"),
            verify=lambda pid, vendor: None,
        ),
    )
    s = Session(setup)
    s.probe()
    assert s.sampler is not None
    lookups = s.process_lookups
    s.sampler.tick()
    listed = {
        d: [p.pid for p in sample.reading.processes or ()]
        for d in ("nvidia:0", "nvidia:1")
        if (sample := s.sampler.latest(d)) is not None
    }
    assert listed["nvidia:0"] and listed["nvidia:1"]
    assert lookups.cached_details(listed["nvidia:0"][0]) is None  # not shown: not read
    lookups.shown.set()
    s.sampler.tick()
    assert [lookups.cached_details(pid) for pid in listed["nvidia:0"]] == [
        ProcessDetails("al", f"job {pid}") for pid in listed["nvidia:0"]
    ]
    assert all(lookups.cached_details(pid) is None for pid in listed["nvidia:1"])  # simulated
    s.close()


class _OutOfMemory:
    """A run that fails as torch does when the device has no room for it."""

    def events(self):  # type: ignore[no-untyped-def]
        yield Failed(ErrorKind.DEVICE_OOM, "CUDA out of memory. Tried to allocate 64.00 GiB")

    def stop(self, grace_s: float = 5.0) -> None:
        pass


def _wait(until, what: str, timeout_s: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not until():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def test_a_sweep_launched_runs_its_points_in_turn_and_saves_them_for_the_report(
    tmp_path: Path,
) -> None:
    s = session(tmp_path)
    gpus_factory = s.setup.run_factory

    def factory(spec, hang):  # type: ignore[no-untyped-def]
        return _OutOfMemory() if spec.params["size"] >= 2048 else gpus_factory(spec, hang)

    s.setup.run_factory = factory
    s.probe()
    s.find_catalog()
    assert s.catalog is not None
    gemm = s.catalog.workloads["gemm"]
    sweep = parse_sweep("size=256..4096x2", gemm.params)
    launch = Launch(gemm, {"dtype": "bf16", "size": 4096}, ("cuda:0",), 0.2, 0.0, False, sweep)
    assert s.launch(launch) == []  # a sweep's runs are made as its points come up
    (walk,) = s.sweeps
    assert s.newest_sweep is walk  # the UI plots its curves while it is the newest launch
    _wait(lambda: walk.finished, "the sweep never finished")
    assert [(p.value, p.status.value) for p in walk.points] == [
        (256, "measured"), (512, "measured"), (1024, "measured"), (2048, "oom"), (4096, "skipped"),
    ]  # fmt: skip
    assert [r.label for r in s.runs] == [f"gemm size={n} on cuda:0" for n in (256, 512, 1024, 2048)]
    assert [r.params["size"] for r in s.results] == [256, 512, 1024]  # a result per point
    _wait(lambda: not s.busy, "the sweep's thread never ended")
    s.launch(Launch(gemm, {"dtype": "bf16", "size": 64}, ("cuda:0",), 0.2, 0.0, False))
    _wait(lambda: len(s.results) == 4 and not s.busy, "the plain run never finished")
    assert s.newest_sweep is None  # a plain run launched after: the plots are its again

    saved: list[tuple[Path | None, str | None]] = []
    finished = threading.Event()
    s.save_report(lambda report, why: (saved.append((report, why)), finished.set()))
    assert finished.wait(60), "the report was never made"
    ((report, why),) = saved
    assert why is None and report is not None
    (sweep_file,) = tmp_path.glob("gpuscope-sweep-*.json")
    payload = json.loads(sweep_file.read_text())  # as bench --sweep --json writes it
    assert payload["sweep"] == {"param": "size", "values": [256, 512, 1024, 2048, 4096]}
    assert [p["status"] for p in payload["points"]] == [
        "measured", "measured", "measured", "oom", "skipped",
    ]  # fmt: skip
    (results,) = tmp_path.glob("gpuscope-results-*.json")  # each figure once: the plain run's
    assert [r["params"]["size"] for r in json.loads(results.read_text())["reports"]] == [64]
    page = report.read_text()
    assert "Sweep: gemm over size" in page and "<svg" in page  # its table and curves
    assert "CUDA out of memory" in page  # the boundary, with what torch said
    s.close()


def test_stopping_a_sweep_ends_its_point_and_starts_no_more(tmp_path: Path) -> None:
    s = session(tmp_path)
    s.probe()
    s.find_catalog()
    assert s.catalog is not None
    gemm = s.catalog.workloads["gemm"]
    sweep = parse_sweep("size=64,128,256", gemm.params)
    devices = ("cuda:0", "cuda:1")
    s.launch(Launch(gemm, {"dtype": "bf16", "size": 64}, devices, 600.0, 0.0, True, sweep))
    (walk,) = s.sweeps
    _wait(lambda: s.runs and s.runs[0].state is RunState.MEASURING, "the first point never ran")
    assert s.stop_runs() == 1
    _wait(lambda: walk.finished, "the sweep never ended")
    assert len(s.runs) == 1 and walk.stopped
    assert [p.status.value for p in walk.points] == ["stopped"] * 6
    assert walk.points[0].result is not None  # the partial result of the point it was in
    s.close()
    assert not s.busy


def test_a_launch_gives_each_device_its_own_defaults_and_hang_limit(tmp_path: Path) -> None:
    """Issue 21: one set of parameters for every device ran the GPU's bf16 and n=8192 on the
    CPU too (an hour a step where bf16 is emulated)."""
    s = session(tmp_path)
    s.probe()
    s.setup.run_factory = lambda spec, hang: _Idle()  # type: ignore[assignment]
    gemm = s.find_catalog().workloads["gemm"]
    runs = s.launch(Launch(gemm, {}, ("cuda:0", "cpu"), 0.2, 0.0, False, hang_timeout_s=300.0))
    by_device = {run.device: run for run in runs}
    assert by_device["cpu"].params == {"dtype": "fp32", "size": 2048}  # AVX2: no native bf16
    assert by_device["cuda:0"].params == {"dtype": "bf16", "size": 8192}
    assert by_device["cpu"].chosen["dtype"].startswith("bf16 would be emulated on cpu")
    assert all(run.hang_timeout_s == 300.0 for run in runs)
    s.stop_runs()
    s.close()


class _Idle:
    """A run that never starts: enough to see what the session asked for."""

    def events(self):  # type: ignore[no-untyped-def]
        return iter(())

    def stop(self, grace_s: float = 5.0) -> None:
        pass


def test_the_change_count_moves_after_each_change_a_view_must_draw(tmp_path: Path) -> None:
    """A view redraws runs only when ``changes`` moved: it moves at a launch, at every event
    of a run (a listener told of the last one finds its result in ``results``) and at a stop."""
    seen: list[tuple[int, int]] = []  # (changes, results) as a listener sees them
    s = session(tmp_path)
    s.on_run_event = lambda run, event: seen.append((s.changes, len(s.results)))
    s.probe()
    s.find_catalog()
    assert s.catalog is not None and s.changes == 0
    gemm = s.catalog.workloads["gemm"]
    launch = Launch(gemm, {"dtype": "fp32", "size": 64}, ("cpu",), 1, 0, False)
    (run,) = s.launch(launch)
    assert s.changes >= 1  # the launch (its run's events may have come since)
    wait_until(lambda: run.finished, "the run never finished")
    counts = [changes for changes, _ in seen]
    assert counts == sorted(set(counts)) and counts[0] >= 2  # after the launch's, each moved it
    assert seen[-1][1] == len(s.results) == 1  # the result was in before the last word
    before_stop = s.changes
    s.stop_runs()
    assert s.changes > before_stop
    s.close()


def test_the_launch_choices_are_worked_out_by_probe_not_on_the_uis_loop(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """Opening the launcher asks for the launch choices on the UI's loop; torch's version.py is
    read from disk for them, so ``probe`` (on its worker thread) works them out once."""
    from gpuscope.measurement import targets

    s = session(tmp_path)
    s.probe()
    offered = [t.torch_device for t in s.launch_choices()[0]]

    def read_on_the_loop() -> None:
        raise AssertionError("torch's version.py read after probe")

    monkeypatch.setattr(targets, "read_build", read_on_the_loop)
    assert [t.torch_device for t in s.launch_choices()[0]] == offered and "cpu" in offered
    s.close()


def test_activity_asked_before_the_sampler_exists_reaches_it_and_no_gpm_keeps_it_off(
    tmp_path: Path,
) -> None:
    """A view asks for activity counters (GPM) as it is shown, maybe before the devices are
    probed; with ``gpm=False`` (``--no-gpm``) nobody's asking reaches the device."""
    from tests.activity_device import ActivityDevice

    for gpm in (True, False):
        device = ActivityDevice()
        setup = SessionSetup(
            discover=lambda device=device: Discovery(devices=[device]),  # type: ignore[misc]
            record_dir=tmp_path,
            clock=FakeClock(START_S),
            autostart=False,
            gpm=gpm,
        )
        s = Session(setup)
        s.want_activity("devices tab")
        s.probe()
        assert s.sampler is not None
        s.sampler.tick()
        assert s.sampler.activity_wanted is gpm and device.wanted is gpm
        latest = s.sampler.latest("nvidia:0")
        assert latest is not None and (latest.reading.sm_active_pct is not None) is gpm
        s.want_activity("devices tab", False)
        s.sampler.tick()
        assert not device.wanted and not s.sampler.activity_wanted
        s.close()


def test_a_session_closed_while_it_probes_closes_what_the_probe_found_and_starts_nothing(
    tmp_path: Path,
) -> None:
    """Final review: quitting the UI while devices were probed left a sampler thread running and
    the backends open (no nvmlShutdown, GPM samples not freed)."""
    from gpuscope.telemetry.model import BackendProbe

    entered, release, shut = threading.Event(), threading.Event(), threading.Event()

    def slow_discover() -> Discovery:
        entered.set()
        release.wait(30)
        return Discovery(
            devices=[SimulatedCpu(START_S)],
            probes=[BackendProbe(name="fake", shutdown=shut.set)],
        )

    s = Session(SessionSetup(discover=slow_discover, record_dir=tmp_path))
    prober = threading.Thread(target=s.probe)
    prober.start()
    assert entered.wait(30)
    s.close()  # the UI quits while the probe still runs
    release.set()
    prober.join(30)
    s.start()  # what the app's worker would do next: nothing now
    assert shut.is_set()  # the backends were closed
    assert s.sampler is None and s.found is None
    assert not [t for t in threading.enumerate() if t.name == "gpuscope-sampler" and t.is_alive()]
