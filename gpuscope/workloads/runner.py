"""Runs one workload in a child process and streams its events to the parent.

The child is started with the ``spawn`` method (never fork: CUDA must never be initialised in the
parent, and a forked CUDA context is unusable). Whatever happens in the child, whether an
exception, out of memory, ``os._exit``, a segfault or a hang, the parent gets exactly one final
event (``result`` or ``error``), keeps running, and leaves no process behind.

What crosses from the child is bounded here, where it enters gpuscope, so every face (bench,
suite, the UI, files) gets the same clean text: its output is a pipe of which only the end is
kept (``output_tail``), a message is read only if it takes at most ``MAX_MESSAGE_BYTES`` and
unpickled only into the event classes, an error is one printable line of at most
``ONE_LINE_MAX`` characters, facts and notes follow ``facts.clean_facts``, and a figure that is
no finite number ends the run.
"""

from __future__ import annotations

import io
import math
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection
from typing import Any

from gpuscope.safe_text import one_line, printable
from gpuscope.workloads.child import RunSpec, child_main
from gpuscope.workloads.events import (
    EVENT_TYPES,
    FINAL,
    ErrorKind,
    Failed,
    FirstStep,
    Phase,
    RunEvent,
    Started,
    WarmupDone,
)
from gpuscope.workloads.facts import bounded_notes, clean_facts
from gpuscope.workloads.output_tail import OutputTail
from gpuscope.workloads.process_group import end_group

RUN_SILENCE_S = 30.0  # after setup, events come every 0.5 s plus one step
SLOW_STEP_FACTOR = 10.0  # ... or a step 10x slower than the warm-up's average
DEFAULT_GRACE_S = 5.0
_LAST_WORDS_CHARS = 2000
_TRACEBACK_CHARS = 4000
_EXIT_AFTER_RESULT_S = 5.0
# One pickled event. The largest a child sends is a Started with 100 facts and its notes, all in
# 4-byte characters: 112 KB. A child whose checks were patched away may send gigabytes in one
# message, which ``Connection.recv`` would read whole before any check could run.
MAX_MESSAGE_BYTES = 1 << 20


def prepare_for_captured_stderr() -> None:
    """Start multiprocessing's resource tracker now, while ``sys.stderr`` is a real file.

    Spawning a child starts the tracker on first use, handing it ``sys.stderr.fileno()``. A UI
    that captures stderr (Textual does, with ``fileno() == -1``) would make that first spawn fail
    with "bad value(s) in fds_to_keep"; call this before such a UI starts.
    """
    resource_tracker.ensure_running()


def _start_deaf_to_ctrl_c(process: multiprocessing.process.BaseProcess) -> None:
    """Start ``process`` with SIGINT blocked; ``child_main`` ignores it, then unblocks it.

    A terminal's Ctrl-C reaches the whole foreground process group. A child still starting up
    (Python's start, unpickling the spec: before ``child_main`` can ignore SIGINT) died of it,
    printing a KeyboardInterrupt traceback from multiprocessing, and the run read "child killed
    by SIGINT" (issue 21). The blocked mask is inherited through exec; a Ctrl-C meanwhile stays
    pending and is discarded once the child ignores SIGINT. The parent stops the run instead.
    """
    if not hasattr(signal, "pthread_sigmask"):  # Windows: no process groups to fear
        process.start()
        return
    resource_tracker.ensure_running()  # it unblocks SIGINT after starting: before, not between
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})  # this thread only
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)


@dataclass
class HangLimits:
    """How long a child may stay silent, by phase: ``setup_timeout_s`` until setup and the first
    step are done, then the rest of the warm-up plus ``RUN_SILENCE_S``, then ``RUN_SILENCE_S``
    or ten times the warm-up's average step, whichever is longer. An explicit timeout
    (``--hang-timeout``) stands in for ``setup_timeout_s`` and ``RUN_SILENCE_S``."""

    spec: RunSpec
    explicit_s: float | None
    setup_timeout_s: float
    phase: Phase = Phase.SETUP
    slow_step_s: float = 0.0

    def seen(self, event: RunEvent) -> None:
        if isinstance(event, Started):
            self.phase = Phase.FIRST_STEP  # as long again as setup: a first step may compile
        elif isinstance(event, FirstStep):
            self.phase = Phase.WARM_UP
        elif isinstance(event, WarmupDone):
            self.phase = Phase.MEASURING
            steps, seconds = event.steps, event.seconds
            self.slow_step_s = SLOW_STEP_FACTOR * seconds / steps if steps else 0.0

    @property
    def silence_limit_s(self) -> float:
        """How long the child may stay silent in the phase it is in."""
        silence = self.explicit_s if self.explicit_s is not None else RUN_SILENCE_S
        if self.phase in (Phase.SETUP, Phase.FIRST_STEP):
            return self.explicit_s if self.explicit_s is not None else self.setup_timeout_s
        if self.phase is Phase.WARM_UP:
            return self.spec.warmup_s + silence
        return max(silence, self.slow_step_s) if self.explicit_s is None else silence

    def describe(self) -> str:
        hint = "" if self.explicit_s is not None else " (--hang-timeout allows longer)"
        return f"no progress for {self.silence_limit_s:.0f} s during {self.phase.value}{hint}"


class WorkloadRun:
    """One run of one workload on one device. ``events()`` drives it; ``stop()`` may be called
    from another thread."""

    def __init__(self, spec: RunSpec, hang_timeout_s: float | None = None) -> None:
        """``hang_timeout_s`` None: how long silence means "hung" follows the run's phase
        (``HangLimits``); a number: that long in every phase (``--hang-timeout``)."""
        self.spec = spec
        self.limits = HangLimits(spec, hang_timeout_s, spec.setup_timeout_s)
        context = multiprocessing.get_context("spawn")
        hold_standard_fds()  # before any pipe: none may take the number of a closed stdout
        self._conn, child_conn = context.Pipe(duplex=False)
        self._output, self._child_output = context.Pipe(duplex=False)  # its stdout and stderr
        self._tail: OutputTail | None = None
        self._stop = context.Event()
        self._process = context.Process(
            target=child_main,
            args=(spec, child_conn, self._stop, self._child_output),
            name=f"gpuscope-{spec.ref.qualname}-{spec.device}",
            daemon=True,
        )
        self._child_conn = child_conn
        self._stop_requested_at: float | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def stop(self, grace_s: float = DEFAULT_GRACE_S) -> None:
        """Ask the child to finish its current step and report; it is killed after ``grace_s``."""
        with self._lock:
            if self._stop_requested_at is None:
                self._stop_requested_at = time.monotonic() + grace_s
        self._stop.set()

    def events(self) -> Iterator[RunEvent]:
        """Start the child and yield its events; the last one is final. Always reaps the child."""
        _start_deaf_to_ctrl_c(self._process)
        self._child_conn.close()  # the parent's copy: EOF on our end once the child exits
        self._child_output.close()
        self._tail = OutputTail(self._output.fileno())
        last_event_at = time.monotonic()
        child_finished = False  # the child sent its final message itself
        try:
            while True:
                now = time.monotonic()
                deadline = self._stop_deadline()
                if deadline is not None and now >= deadline:
                    stopped = self._error(ErrorKind.STOPPED, self._not_stopped())
                    yield replace(stopped, phase=self.limits.phase)
                    return
                if self._conn.poll(0.1):
                    try:
                        message = _receive(self._conn)
                    except _TooLong:
                        yield self._error(
                            ErrorKind.EXCEPTION,
                            f"sent a message of more than {MAX_MESSAGE_BYTES >> 20} MiB (an event "
                            "takes at most ~112 KB): not read; killed",
                        )
                        return
                    except (EOFError, OSError):
                        yield self._died()
                        return
                    except Exception as exc:  # cannot be unpickled here: never the plugin's
                        yield self._error(
                            ErrorKind.EXCEPTION, f"sent what gpuscope cannot read: {exc}"
                        )
                        return
                    last_event_at = time.monotonic()
                    malformed = _malformed(message)
                    if malformed is not None:
                        yield self._error(ErrorKind.EXCEPTION, malformed)
                        return
                    event: RunEvent = replace(_bounded(message), received_s=last_event_at)
                    if isinstance(event, Failed) and not event.last_words:
                        event = replace(event, last_words=self.last_words())  # what it printed
                    self.limits.seen(event)
                    child_finished = isinstance(event, FINAL)
                    yield event
                    if child_finished:
                        return
                elif not self._process.is_alive() and not self._conn.poll(0):
                    yield self._died()
                    return
                elif now - last_event_at > self.limits.silence_limit_s:
                    hung = self._error(ErrorKind.HUNG, f"{self.limits.describe()}; killed")
                    limit_s = self.limits.silence_limit_s
                    yield replace(hung, phase=self.limits.phase, limit_s=limit_s)
                    return
        finally:
            self._reap(_EXIT_AFTER_RESULT_S if child_finished else 0.0)

    def _not_stopped(self) -> str:
        """Why a stopped child was killed: a child sees a stop only between steps, so one still
        setting up or in its first step (a torch import, a model build, a compile: many seconds
        on a loaded machine) has measured nothing, and nothing is lost."""
        if self.limits.phase in (Phase.SETUP, Phase.FIRST_STEP):
            return f"stopped during {self.limits.phase.value}, before it measured anything; killed"
        return "did not stop within the grace period; killed"

    def _stop_deadline(self) -> float | None:
        with self._lock:
            return self._stop_requested_at

    def _died(self) -> RunEvent:
        self._process.join(1.0)
        code = self._process.exitcode
        if code is not None and code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exited with code {code}"
        return self._error(ErrorKind.CRASHED, f"child {how} without a result")

    def _error(self, kind: ErrorKind, message: str) -> Failed:
        """A failure the runner saw; ``message`` may quote the child (what it sent, why it
        could not be read), so it is bounded here as every error from the child is."""
        return Failed(kind, one_line(message), self.last_words(), received_s=time.monotonic())

    def last_words(self) -> str:
        """The end of everything the child printed (tracebacks, faulthandler dumps), printable:
        at most ``_LAST_WORDS_CHARS`` characters, however much it printed."""
        tail = self._tail
        return printable(tail.text(_LAST_WORDS_CHARS)) if tail is not None else ""

    def _reap(self, wait_s: float) -> None:
        """Wait ``wait_s`` for a clean exit (teardown after the final message), then escalate;
        then end whatever the workload started (its session's process group)."""
        process = self._process
        if process.pid is not None:
            process.join(wait_s)
            if process.is_alive():
                process.terminate()
                process.join(2.0)
            if process.is_alive():
                process.kill()
                process.join()
            end_group(process.pid)
        self._conn.close()
        if self._tail is not None:
            self._tail.close()
        self._output.close()


def hold_standard_fds() -> None:
    """Put /dev/null on any of fds 0-2 that is closed (gpuscope started with ``>&-``).

    A pipe made meanwhile would take the free number, and the child, which inherits 0-2 as they
    are, would take it for its stdout: its prints would land in gpuscope's event pipe, and the
    redirection of its output would close that pipe. A command that needs its stdout checks it
    first (bench says a closed one in a line)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)


class _TooLong(Exception):
    """The child's next message is longer than ``MAX_MESSAGE_BYTES``; it was not read."""


class _EventUnpickler(pickle.Unpickler):
    """Builds only the event classes and their enums: a child that sends any other class (its
    own, or ``os.system`` through ``__reduce__``) is refused, never constructed here."""

    _ALLOWED = frozenset(cls.__name__ for cls in (*EVENT_TYPES, ErrorKind, Phase))

    def find_class(self, module: str, name: str) -> object:
        if module == EVENT_TYPES[0].__module__ and name in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{one_line(module, 60)}.{one_line(name, 60)} is no event")


def _receive(conn: Connection) -> Any:  # checked by _malformed, as recv()'s was
    """The child's next message, read only if it takes at most ``MAX_MESSAGE_BYTES``
    (``_TooLong`` otherwise: the rest of it stays in the pipe, and the child is killed)."""
    try:
        data = conn.recv_bytes(MAX_MESSAGE_BYTES)
    except OSError:
        if conn.closed:  # recv_bytes closes a read-only end whose message is over the limit
            raise _TooLong from None
        raise  # the pipe broke mid-message: the child died
    return _EventUnpickler(io.BytesIO(data)).load()


def _text_or_none(text: object) -> str | None:
    return None if text is None else one_line(str(text), 100)


def _malformed(message: object) -> str | None:
    """Why ``message`` is no event gpuscope can use (each figure a finite number); None if it is
    one. Only a child whose own checks were patched away sends such a thing."""
    if not isinstance(message, EVENT_TYPES):
        return f"sent {one_line(type(message).__name__, 60)}, not an event"
    if isinstance(message, Started) and not (
        isinstance(message.facts, dict)
        and isinstance(message.notes, tuple | list)
        and all(isinstance(note, str) for note in message.notes)
    ):
        return "sent facts that are no dict, or notes that are no list of text"
    if isinstance(message, Failed) and not all(
        isinstance(text, str) for text in (message.message, message.last_words, message.traceback)
    ):
        return "sent an error that is no text"
    for field in fields(message):
        value = getattr(message, field.name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                finite = math.isfinite(value)
            except OverflowError:  # an int past a float's range
                finite = False
            if not finite:
                return f"sent a {type(message).__name__} whose {field.name} is no finite number"
    return None


def _bounded(event: RunEvent) -> RunEvent:
    """``event`` with its text made printable and short, its facts and notes bounded."""
    if isinstance(event, Started):
        facts, dropped = clean_facts(event.facts)
        return replace(
            event,
            device_name=_text_or_none(event.device_name),
            device_uuid=_text_or_none(event.device_uuid),
            facts=facts,
            notes=tuple(bounded_notes([*event.notes, *dropped])),
        )
    if isinstance(event, Failed):
        return replace(
            event,
            message=one_line(event.message),
            last_words=printable(event.last_words[-_LAST_WORDS_CHARS:]),
            traceback=printable(event.traceback[-_TRACEBACK_CHARS:]),
        )
    return event
