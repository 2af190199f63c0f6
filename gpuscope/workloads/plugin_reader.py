"""Runs ``plugin_probe`` and reads what it says, so no plugin can stall or fool gpuscope.

Each item (a plugin file or an entry point) gets ``per_item_s`` to import, and all of them
together ``total_s``. A probe that hangs or dies is killed with its whole session; the item it was
on is reported, and a fresh probe goes on with the rest. Only lines stamped with the probe's own
pid and naming an item that was asked about count, so a plugin that forks, or writes to the pipe
itself, cannot put words in the probe's mouth. ``cancel`` stops reading at once (the UI quitting).
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gpuscope
from gpuscope.workloads.process_group import end_group

# ``-c`` rather than ``-m``: ``-m`` would put the working directory first on sys.path, where a
# stray json.py or gpuscope/ folder would replace what the probe imports.
_START = (
    "import sys; del sys.path[0]; from gpuscope.workloads.plugin_probe import main; "
    "main(sys.argv[1:])"
)


@dataclass(frozen=True, slots=True)
class ProbeItem:
    arg: str  # for plugin_probe: file:PATH:MODULE or entry-point:NAME=VALUE
    where: str  # for messages: the file path, or "entry point NAME (VALUE)"
    name: str | None  # the workload name it probably holds (file stem, entry point name)


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one item declares (plugin_probe.describe's dicts), or why it is broken."""

    workloads: list[dict[str, Any]] = field(default_factory=list)
    broken: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def failed(cls, item: ProbeItem, reason: str) -> ProbeResult:
        return cls([], [{"where": item.where, "reason": reason, "name": item.name}])


def read_plugins(
    items: Sequence[ProbeItem],
    per_item_s: float,
    total_s: float,
    cancel: threading.Event | None = None,
) -> list[ProbeResult]:
    """One result per item, in order, within about ``total_s`` whatever the plugins do."""
    results: list[ProbeResult] = []
    deadline = time.monotonic() + total_s
    stop = cancel or threading.Event()
    while len(results) < len(items):
        rest = items[len(results) :]
        if stop.is_set() or time.monotonic() >= deadline:
            why = "not read: gpuscope was quitting" if stop.is_set() else (
                f"not read: reading plugins took more than {total_s:g} s in all"
            )  # fmt: skip
            results.extend(ProbeResult.failed(item, why) for item in rest)
            break
        results.extend(_read_some(rest, per_item_s, deadline, stop))
    return results


def _read_some(
    items: Sequence[ProbeItem], per_item_s: float, deadline: float, stop: threading.Event
) -> list[ProbeResult]:
    """Probe ``items`` in one process until it finishes, hangs or dies; at least one result."""
    env = dict(os.environ)
    package_root = str(Path(gpuscope.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            [sys.executable, "-c", _START, *[p for i in items for p in (i.arg, i.where)]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,  # only the probe's own start-up errors: it silences plugins itself
            env=env,
            start_new_session=True,  # whatever a plugin starts is ended with the probe
        )
        lines: queue.Queue[str | None] = queue.Queue()
        done = threading.Event()
        pump = threading.Thread(target=_pump, args=(process, lines, done), daemon=True)
        pump.start()
        try:
            return _collect(process, lines, items, per_item_s, deadline, stop, errors)
        finally:
            _end(process, pump, done)


def _collect(
    process: subprocess.Popen[bytes],
    lines: queue.Queue[str | None],
    items: Sequence[ProbeItem],
    per_item_s: float,
    deadline: float,
    stop: threading.Event,
    errors: Any,
) -> list[ProbeResult]:
    by_arg = {item.arg: item for item in items}
    results: list[ProbeResult] = []
    begun = False
    exited_at: float | None = None
    item_deadline = time.monotonic() + per_item_s + 5.0  # the probe's own start, then per item
    while len(results) < len(items):
        current = items[len(results)]
        now = time.monotonic()
        if stop.is_set():
            return results  # read_plugins reports the rest
        if now >= min(item_deadline, deadline):
            results.append(
                ProbeResult.failed(current, f"import did not finish in {per_item_s:g} s")
            )
            return results
        try:
            line = lines.get(timeout=0.1)
        except queue.Empty:
            line = ""
        message = _message(line, process.pid)
        if message is None:
            if exited_at is None and process.poll() is not None:
                exited_at = time.monotonic()
            # dead: end of file, or exited a while ago (a daemon it forked may hold the pipe)
            gone = exited_at is not None and time.monotonic() - exited_at > 0.5
            if (line is None or gone) and lines.empty():
                process.wait()
                if not begun:  # it never got to a plugin: its own start-up failed
                    errors.seek(0)
                    last = errors.read().decode(errors="replace").strip().splitlines() or [""]
                    return [ProbeResult.failed(i, f"gpuscope's plugin reader failed: {last[-1]}")
                            for i in items]  # fmt: skip
                results.append(ProbeResult.failed(current, _death(process.returncode)))
                return results
            continue
        if message.get("begin") == current.arg:
            begun = True
            item_deadline = time.monotonic() + per_item_s
        elif message.get("item") == current.arg and by_arg.get(current.arg) is current:
            results.append(ProbeResult(message.get("workloads", []), message.get("broken", [])))
    return results


def _message(line: str | None, pid: int) -> dict[str, Any] | None:
    """A line the probe itself wrote, or None (a plugin's own bytes, a forked copy's lines)."""
    if not line:
        return None
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) and message.get("pid") == pid else None


def _pump(
    process: subprocess.Popen[bytes], lines: queue.Queue[str | None], done: threading.Event
) -> None:
    """Moves the probe's stdout into ``lines`` (None at end of file) until ``done``; polls, so
    a pipe a plugin's daemon keeps open cannot hold this thread for ever."""
    assert process.stdout is not None
    fd = process.stdout.fileno()
    pending = b""
    while not done.is_set():
        if not select.select([fd], [], [], 0.1)[0]:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        *complete, pending = (pending + chunk).split(b"\n")
        for raw in complete:
            text = raw.decode(errors="replace").strip()
            if text.startswith("{"):
                lines.put(text)
    lines.put(None)


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        return f"crashes gpuscope's reader when imported (killed by {signal.Signals(-code).name})"
    return f"ends the process when imported (exit code {code})"


def _end(process: subprocess.Popen[bytes], pump: threading.Thread, done: threading.Event) -> None:
    """Kill the probe and everything its plugins started; close the pipe even if a daemon a
    plugin forked still holds the other end."""
    if process.poll() is None:
        process.kill()
    process.wait()
    end_group(process.pid, grace_s=0.2)
    done.set()
    pump.join(1.0)
    if process.stdout is not None:
        process.stdout.close()
