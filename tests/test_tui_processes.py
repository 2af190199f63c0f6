"""The Processes tab with real processes: filter, a highlight that follows its process, and
signals sent only after a confirmation naming the pid and command."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from textual.widgets import Input

from gpuscope.measurement.process_energy import ProcessEnergyLedger
from gpuscope.telemetry import processes
from gpuscope.telemetry.model import ProcessUsage, Reading, Sample, Vendor
from gpuscope.telemetry.processes import ProcessDetails
from gpuscope.tui.processes_view import (
    COLUMNS,
    ConfirmSignal,
    ProcessRow,
    ProcessTable,
    process_rows,
    processes_note,
    running_time,
    send_signal,
    unattributed_line,
)
from tests.tui_support import ListedProcesses, make_app, ready, tick, wait_until


@pytest.fixture
def sleeper():  # type: ignore[no-untyped-def]
    child = subprocess.Popen([sys.executable, "-c", "'gpu-job'; import time; time.sleep(120)"])
    time.sleep(0.3)  # past exec, so /proc shows its command line
    yield child
    child.kill()
    child.wait()


def rows_of(table: ProcessTable) -> list[tuple[str, ...]]:
    return list(table.cells)


async def test_filter_follow_and_a_confirmed_sigterm_reach_the_real_process(sleeper) -> None:  # type: ignore[no-untyped-def]
    app = make_app(devices=[ListedProcesses([os.getpid(), sleeper.pid])])
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        await pilot.press("2")  # host details are read from the next sample on, while shown
        await tick(pilot, 1)
        table = app.query_one(ProcessTable)
        pid_column, command_column = COLUMNS.index("pid"), COLUMNS.index("command")
        assert {r[pid_column] for r in rows_of(table)} == {str(os.getpid()), str(sleeper.pid)}
        assert any("gpu-job" in r[command_column] for r in rows_of(table))

        await pilot.press("slash")  # filter by text
        await wait_until(pilot, lambda: app.query_one("#processes-filter", Input).has_focus)
        await pilot.press(*"gpu-job")
        await pilot.pause()
        assert [r[pid_column] for r in rows_of(table)] == [str(sleeper.pid)]
        await pilot.press("enter")  # back to the table, the filter stays
        await pilot.pause()
        assert table.has_focus and table.selected is not None
        assert table.selected.pid == sleeper.pid
        detail = str(app.query_one("#process-detail").render())
        assert "gpu-job" in detail  # the whole command of the highlighted row

        await pilot.press("slash", "escape")  # escape clears the filter
        await pilot.pause()
        assert table.row_count == 2
        table.move_cursor(row=[r.pid for r in table._rows].index(sleeper.pid))
        await pilot.press("O")  # re-sorted: the highlight stays on its process
        await pilot.pause()
        assert table.selected is not None and table.selected.pid == sleeper.pid

        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        question = str(app.screen.query_one("#confirm-title").render())
        assert f"SIGTERM to pid {sleeper.pid}" in question
        assert "gpu-job" in str(app.screen.query_one("#confirm-command").render())
        await pilot.press("n")  # cancelled: nothing is sent
        await pilot.pause()
        assert sleeper.poll() is None
        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        await pilot.press("enter")  # enter alone is Cancel, the focused button
        await wait_until(pilot, lambda: not isinstance(app.screen, ConfirmSignal))
        assert sleeper.poll() is None

        await pilot.press("t")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmSignal))
        await pilot.press("y")
        assert sleeper.wait(timeout=10) == -signal.SIGTERM


def row_for(pid: int, started_s: float | None, user: str | None = "alice") -> ProcessRow:
    return ProcessRow("nvidia:0", pid, user, "C", 10.0, None, None, None, None, started_s, "job")


def test_a_signal_that_cannot_be_sent_says_why_in_one_line(sleeper, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    started = psutil.Process(sleeper.pid).create_time()
    # the pid now names another process than the one shown: nothing is sent
    assert send_signal(row_for(sleeper.pid, started - 100.0), signal.SIGTERM) == (
        f"pid {sleeper.pid} is now another process: nothing sent"
    )
    assert "start time is unknown" in (
        send_signal(row_for(sleeper.pid, None), signal.SIGTERM) or ""
    )
    assert sleeper.poll() is None

    def denied(self, sig: int) -> None:  # type: ignore[no-untyped-def]
        raise psutil.AccessDenied(self.pid)

    monkeypatch.setattr(psutil.Process, "send_signal", denied)
    assert send_signal(row_for(sleeper.pid, started), signal.SIGKILL) == (
        f"no permission to signal pid {sleeper.pid} (it belongs to alice): "
        "run gpuscope as that user or root"
    )
    monkeypatch.undo()
    sleeper.kill()
    sleeper.wait()
    assert send_signal(row_for(sleeper.pid, started), signal.SIGTERM) == (
        f"pid {sleeper.pid} has already exited"
    )
    simulated = ProcessRow(
        "nvidia:0", 1, None, None, None, None, None, None, None, None, None, True
    )
    assert "simulated" in (send_signal(simulated, signal.SIGTERM) or "")


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


def test_the_note_says_why_columns_are_n_a(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    unsampled = gpu_sample({11: None, 12: None})
    monkeypatch.setitem(processes._details, 11, ProcessDetails(None, None))  # hidden from us
    monkeypatch.setitem(processes._details, 12, ProcessDetails("bob", "python train.py"))
    note = processes_note([unsampled])
    assert "SM % and mem % n/a on nvidia:0: its driver does not sample processes" in note
    assert "user and host figures n/a for pid 11:" in note and "12" not in note.split("pid")[-1]
    ledger = ProcessEnergyLedger()
    assert unattributed_line([unsampled], ledger) == ""  # nothing measured yet: nothing to say
    assert "energy est." not in processes_note([unsampled], ledger)
    sampled = gpu_sample({12: 50.0})
    ledger.add([sampled])
    ledger.add([Sample("nvidia:0", Vendor.NVIDIA, sampled.reading, 105.0, None)])
    assert "energy est. = the GPU's measured energy x the process's SM share" in (
        processes_note([sampled], ledger)
    )
    assert unattributed_line([sampled], ledger).startswith("not charged to any process")
    assert processes_note([]) == "No GPUs: there are no GPU processes to list."


def test_a_command_line_with_control_characters_is_shown_on_one_line(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(
        processes._details, 21, ProcessDetails("al\tice", "python -c 'a\nb'\x1b[2J")
    )
    (row,) = process_rows([gpu_sample({21: 5.0})], frozenset())
    assert (row.user, row.command) == ("al ice", "python -c 'a b' [2J")
