"""The Processes tab with real processes: filter, a highlight that follows its process, and
signals sent only after a confirmation naming the pid and command."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from textual.widgets import Input, TabbedContent

from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry.model import DeviceInfo, ProcessUsage, Reading, Sample, Vendor
from gpuscope.telemetry.process_signals import send_signal
from gpuscope.telemetry.processes import ProcessDetails, ProcessLookups
from gpuscope.tui import signal_dialog
from gpuscope.tui.processes_model import (
    COMMAND_MAX,
    ProcessRow,
    process_rows,
    processes_note,
    row_cells,
    running_time,
    unattributed_line,
)
from gpuscope.tui.processes_view import COLUMNS, ProcessTable
from gpuscope.tui.signal_dialog import ConfirmSignal, refusal
from tests.gpu_jobs import gpu_job, pretend_gpu, still_running
from tests.tui_support import ListedProcesses, make_app, notices, ready, tick, told, wait_until


@pytest.fixture
def job(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[subprocess.Popen[bytes]]:
    """A real process holding a (pretend) NVIDIA device file."""
    with gpu_job(pretend_gpu(monkeypatch, tmp_path)) as child:
        yield child


def rows_of(table: ProcessTable) -> list[tuple[str, ...]]:
    return list(table.cells)


def row_of(table: ProcessTable, pid: int) -> int:
    """The row that shows ``pid`` (marked ``?`` or not)."""
    pids = [cells[COLUMNS.index("pid")].rstrip("?") for cells in table.cells]
    return pids.index(str(pid))


async def test_filter_follow_and_a_confirmed_sigterm_reach_the_real_process(job) -> None:  # type: ignore[no-untyped-def]
    app = make_app(devices=[ListedProcesses([os.getpid(), job.pid])])
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        await pilot.press("2")  # host details are read from the next sample on, while shown
        await tick(pilot, 1)
        table = app.query_one(ProcessTable)
        pid_column, command_column = COLUMNS.index("pid"), COLUMNS.index("command")
        # this test's own process holds no GPU: marked, and t / K refuse it at once
        assert {r[pid_column] for r in rows_of(table)} == {f"{os.getpid()}?", str(job.pid)}
        assert any("gpu-job" in r[command_column] for r in rows_of(table))

        await pilot.press("slash")  # filter by text
        await wait_until(pilot, lambda: app.query_one("#processes-filter", Input).has_focus)
        await pilot.press(*"gpu-job")
        await pilot.pause()
        assert [r[pid_column] for r in rows_of(table)] == [str(job.pid)]
        await pilot.press("enter")  # back to the table, the filter stays
        await pilot.pause()
        assert table.has_focus and table.selected is not None
        assert table.selected.pid == job.pid
        detail = str(app.query_one("#process-detail").render())
        assert "gpu-job" in detail  # the whole command of the highlighted row

        await pilot.press("slash", "escape")  # escape clears the filter
        await pilot.pause()
        assert table.row_count == 2
        table.move_cursor(row=row_of(table, os.getpid()))
        await wait_until(
            pilot,
            lambda: (
                "not signalled: it holds no NVIDIA device file"
                in str(app.query_one("#process-detail").render())
            ),
        )
        await pilot.press("K")  # refused with its reason, no question asked
        await told(pilot, "cannot be signalled")
        assert not isinstance(app.screen, ConfirmSignal)
        table.move_cursor(row=row_of(table, job.pid))
        await pilot.press("O")  # re-sorted: the highlight stays on its process
        await pilot.pause()
        assert table.selected is not None and table.selected.pid == job.pid

        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        question = str(app.screen.query_one("#confirm-title").render())
        assert f"SIGTERM to pid {job.pid}" in question
        assert "gpu-job" in str(app.screen.query_one("#confirm-command").render())
        await pilot.press("n")  # cancelled: nothing is sent
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmSignal))
        await app.workers.wait_for_complete()  # a signal would be sent by a worker
        assert still_running(job)
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        await pilot.press("enter")  # enter alone is Cancel, the focused button
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmSignal))
        await app.workers.wait_for_complete()
        assert still_running(job)

        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        await pilot.press("y")
        assert job.wait(timeout=10) == -signal.SIGTERM


async def test_a_signal_is_sent_off_the_event_loop_and_its_outcome_shown(job, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The checks before a signal read /proc (up to 65,536 descriptors): while they run, the
    app still handles keys, and their one-line outcome shows when they return."""
    entered, release = threading.Event(), threading.Event()
    released_in_time: list[bool] = []

    def slow_send(*args, **kwargs):  # type: ignore[no-untyped-def]
        entered.set()
        # on the event loop this would block it: the key below could not be handled meanwhile
        released_in_time.append(release.wait(timeout=10))
        return send_signal(*args, **kwargs)

    monkeypatch.setattr(signal_dialog, "send_signal", slow_send)
    app = make_app(devices=[ListedProcesses([job.pid])])
    try:
        async with app.run_test(size=(160, 40)) as pilot:
            await ready(pilot)
            await tick(pilot, 3)
            await pilot.press("2")
            await tick(pilot, 1)
            table = app.query_one(ProcessTable)
            assert table.selected is not None and table.selected.unverified is None
            await pilot.press("t")
            await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
            await pilot.press("y")
            await wait_until(pilot, entered.is_set)
            tabs = app.query_one("#tabs", TabbedContent)
            await pilot.press("1")  # handled while the signal's checks still run
            await wait_until(pilot, lambda: tabs.active == "devices")
            assert not any("SIGTERM" in n for n in notices(app))  # no outcome before the end
            release.set()
            await told(pilot, f"sent SIGTERM to pid {job.pid}")
            assert released_in_time == [True]
            assert job.wait(timeout=10) == -signal.SIGTERM
    finally:
        release.set()


async def test_the_tab_keys_leave_the_processes_tab_after_a_filter() -> None:
    """After ``/``, a filter and enter, every tab key still leaves the tab (the filter line
    in the hidden tab took the focus back, and with it the tab)."""
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await ready(pilot)
        await tick(pilot, 2)
        tabs = app.query_one("#tabs", TabbedContent)
        filter_line = app.query_one("#processes-filter", Input)
        # a tab switch lays the whole screen out again: the fewest keys that show it (the
        # filter is typed once and stays, in sight, as in the case that lost the focus; 2 to 4
        # are one action, 4 focuses its own pane)
        for key, tab in (("1", "devices"), ("tab", "workloads"), ("shift+tab", "devices"),
                         ("4", "compare")):  # fmt: skip
            await pilot.press("2")
            await wait_until(pilot, lambda: tabs.active == "processes")
            await pilot.press("slash", *("" if filter_line.value else "n"), "enter")
            await wait_until(pilot, lambda: app.query_one(ProcessTable).has_focus)
            assert filter_line.value == "n" and filter_line.display
            await pilot.press(key)
            await wait_until(pilot, lambda tab=tab: tabs.active == tab, timeout_s=5)  # type: ignore[misc]
            await tick(pilot)  # and it stays there, once every event the switch set off
            assert tabs.active == tab  # (hiding, focus, a redraw) has been handled


def test_a_simulated_or_unverified_row_is_refused_without_a_question() -> None:
    (row,) = process_rows([gpu_sample({11: 5.0})], ProcessLookups(), frozenset({"nvidia:0"}))
    assert (
        refusal(row)
        == "pid 11 cannot be signalled: a simulated process: there is nothing to signal"
    )
    verified = ProcessRow("nvidia:0", 5, "al", "C", 1.0, None, None, None, None, 1.0, "job")
    assert refusal(verified) is None


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(42, "0:42"), (3723, "1:02:03"), (3 * 86400 + 4 * 3600 + 300, "3d 04:05")],
)
def test_running_time(seconds: int, shown: str) -> None:
    assert running_time(1000.0, 1000.0 + seconds) == shown
    assert running_time(None, 5.0) == "n/a"


def gpu_sample(shares: dict[int, float | None]) -> Sample:
    listed = tuple(ProcessUsage(pid, "job", 10.0, kind="C", sm_pct=s) for pid, s in shares.items())
    return Sample("nvidia:0", Vendor.NVIDIA, Reading(1.0, 1.0, processes=listed), 5.0, None)


def found(details: dict[int, ProcessDetails]) -> ProcessLookups:
    """Look-ups as the sampler thread leaves them once it has read ``details`` (of pids that
    need not exist)."""
    lookups = ProcessLookups(details_of=details.__getitem__)
    for pid in details:
        lookups.read_details(pid)
    return lookups


def test_each_row_shows_its_job_simulated_as_such_and_n_a_where_unknown() -> None:
    """Issue 25: a process's job (``job_owner``) beside its user; a simulated device's process
    belongs to no job here, and a pid the host would not tell us of has none known."""
    lookups = found(
        {11: ProcessDetails("al", "python train.py", "slurm:4749"), 12: ProcessDetails(None, None)}
    )
    rows = process_rows([gpu_sample({11: 5.0, 12: 1.0})], lookups, frozenset())
    assert [row.job for row in rows] == ["slurm:4749", None]
    job = COLUMNS.index("job")
    assert [row_cells(row, 0.0, "?")[job] for row in rows] == ["slurm:4749", "n/a"]
    (fake,) = process_rows([gpu_sample({13: 1.0})], lookups, frozenset({"nvidia:0"}))
    assert (fake.user, fake.job) == ("(simulated)", "(simulated)")


def test_the_note_says_why_columns_are_n_a() -> None:
    unsampled = gpu_sample({11: None, 12: None})
    hidden_from_us, known = ProcessDetails(None, None), ProcessDetails("bob", "python train.py")
    lookups = found({11: hidden_from_us, 12: known})
    note = processes_note([unsampled], lookups)
    assert "SM % and mem % n/a on nvidia:0: its driver does not sample processes" in note
    assert "user and host figures n/a for pid 11:" in note and "12" not in note.split("pid")[-1]
    ledger = ProcessEnergyLedger()
    assert unattributed_line([unsampled], ledger) == ""  # nothing measured yet: nothing to say
    assert "energy" not in processes_note([unsampled], lookups, ledger)
    sampled = gpu_sample({12: 50.0})
    ledger.add([sampled])
    ledger.add([Sample("nvidia:0", Vendor.NVIDIA, sampled.reading, 105.0, None)])
    assert "energy by SM share (an estimate) = the GPU's measured energy x the process's" in (
        processes_note([sampled], lookups, ledger)
    )
    assert unattributed_line([sampled], ledger).startswith("not charged to any process")
    assert processes_note([], lookups) == "No GPUs: there are no GPU processes to list."


def test_the_sole_process_is_charged_and_several_without_shares_say_why() -> None:
    """No SM shares (the H100 on driver 580): the one compute process is charged its GPU's
    measured energy, labelled so; with several the energy stays unattributed, saying why."""
    ledger, lookups = ProcessEnergyLedger(), found({})
    sole, shared = gpu_sample({11: None}), gpu_sample({12: None, 13: None})
    shared = Sample("nvidia:1", Vendor.NVIDIA, shared.reading, 5.0, None)
    for energy_j in (5.0, 105.0):
        ledger.add([Sample("nvidia:0", Vendor.NVIDIA, sole.reading, energy_j, None)])
        ledger.add([Sample("nvidia:1", Vendor.NVIDIA, shared.reading, energy_j, None)])
    rows = {row.pid: row for row in process_rows([sole, shared], lookups, frozenset(), ledger)}
    assert rows[11].energy_j == 100.0 and rows[12].energy_j is None and rows[13].energy_j is None
    note = processes_note([sole, shared], lookups, ledger)
    assert (
        "energy on nvidia:0: all its measured energy, charged to its sole compute process" in note
    )
    assert "by SM share" not in note
    left = unattributed_line([sole, shared], ledger)
    assert left.endswith(
        "nvidia:0 0 J of 100 J, nvidia:1 100 J of 100 J (now: several processes, no SM shares)"
    )


async def test_the_tab_shows_the_sole_process_charged_and_the_others_n_a() -> None:
    devices = [ListedProcesses([41], 0, shares=False), ListedProcesses([42, 43], 1, shares=False)]
    app = make_app(devices=devices)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        await tick(pilot, 6)
        energy = {row[COLUMNS.index("pid")].rstrip("?"): row[COLUMNS.index("energy")]
                  for row in rows_of(app.query_one(ProcessTable))}  # fmt: skip
        assert energy["41"] != "n/a" and energy["42"] == energy["43"] == "n/a"
        note = str(app.query_one("#processes-note").render())
        assert "charged to its sole compute process" in note
        left = str(app.query_one("#processes-unattributed").render())
        assert "(now: several processes, no SM shares)" in left


def test_a_command_line_with_control_characters_is_shown_on_one_line() -> None:
    lookups = found({21: ProcessDetails("al\tice", "python -c 'a\nb'\x1b[2J")})
    (row,) = process_rows([gpu_sample({21: 5.0})], lookups, frozenset())
    assert (row.user, row.command) == ("al ice", "python -c 'a b'")


def test_a_huge_command_line_is_kept_bounded() -> None:
    """A command line may be megabytes (ARG_MAX): a row keeps its start, cut with an ellipsis,
    far more than the detail line's three lines show, and the user name is cut too."""
    lookups = found({22: ProcessDetails("u" * 5000, "python train.py " + "x" * 2_000_000)})
    (row,) = process_rows([gpu_sample({22: 5.0})], lookups, frozenset())
    assert row.command is not None and row.command.startswith("python train.py xxx")
    assert len(row.command) == COMMAND_MAX and row.command.endswith("…")
    assert row.user is not None and len(row.user) <= COMMAND_MAX and row.user.endswith("…")


async def test_a_process_that_names_itself_an_escape_sequence_reaches_the_screen_as_text() -> None:
    """OSC 52 (write the clipboard), in its 7-bit and 8-bit forms, from a process's name and
    command line: only the printable rest reaches the table, the detail line and the question."""
    evil = "\x1b]52;c;ZXZpbA==\x07evil \x9d52;c;ZXZpbA==\x07job\x9b2J"
    lookups = partial(
        ProcessLookups,
        details_of=lambda pid: ProcessDetails("\x1b[31mroot", evil, "slurm:\x1b[2J42"),
        verify=lambda pid, vendor: None,  # a GPU process of ours: it may be signalled
    )
    app = make_app(devices=[ListedProcesses([31])], process_lookups=lookups)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await pilot.press("2")
        await tick(pilot, 2)
        table = app.query_one(ProcessTable)
        (cells,) = rows_of(table)
        assert cells[COLUMNS.index("command")] == "evil job"
        assert cells[COLUMNS.index("user")] == "root"
        assert cells[COLUMNS.index("job")] == "slurm:42"
        assert str(app.query_one("#process-detail").render()) == "31 root (slurm:42): evil job"
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        assert str(app.screen.query_one("#confirm-command").render()) == "evil job"
        screen = app.export_screenshot()
        assert "52;" not in screen and "\x1b]" not in screen and "\x9d" not in screen
        await pilot.press("n")


async def test_a_remote_hosts_device_name_and_driver_reach_the_screen_as_text() -> None:
    """A remote exporter names its device and driver: OSC 52 and a title change in them are
    stripped before the panel title and the header show them."""
    device = ListedProcesses([])
    device.info = DeviceInfo(
        "nvidia:0",
        Vendor.NVIDIA,
        0,
        "\x1b]52;c;ZXZpbA==\x07H100\x1b]0;pwned\x07",
        driver="580\x1b[2J\x9d0;x\x07.1",
    )
    app = make_app(devices=[device])
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 2)
        await wait_until(pilot, lambda: "driver" in str(app.query_one("#header").render()))
        assert app.panels["nvidia:0"].border_title == "nvidia:0 · H100"
        header = str(app.query_one("#header").render())
        assert "NVIDIA driver 580.1" in header and "\x1b" not in header and "\x9d" not in header
        screen = app.export_screenshot()
        assert "52;" not in screen and "pwned" not in screen
