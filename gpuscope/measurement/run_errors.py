"""A failed run's error in one line, fit for a user: what happened, a crash's last words, and
for a run that hung, what was slow (the workload, its parameters, the phase), the likely reason
(an emulated precision) and how to give it more time.

The line is printable and bounded whatever the child said: its message is cut to
``ONE_LINE_MAX`` characters and a crash's last words to ``LAST_WORDS_MAX``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gpuscope.measurement.run_result import params_text
from gpuscope.measurement.targets import device_label
from gpuscope.safe_text import ONE_LINE_MAX, one_line
from gpuscope.workloads.events import ErrorKind, Failed, Phase

LAST_WORDS_MAX = 200  # characters of a crash's last line quoted in its error

if TYPE_CHECKING:  # only a type here: measured_run imports this module
    from gpuscope.measurement.measured_run import MeasuredRun


def describe_error(event: Failed, run: MeasuredRun | None = None) -> str:
    """The runner's error event as one line: what happened and, for a crash, its last words;
    for a run that hung, what was slow (the workload, its parameters, the phase), the likely
    reason and the fix."""
    message = one_line(event.message)
    if event.kind is ErrorKind.HUNG and event.phase is not None and run is not None:
        message = _hung(run, event.phase, event.limit_s)
    if event.kind in (ErrorKind.OOM, ErrorKind.DEVICE_OOM):
        where = "device" if event.kind is ErrorKind.DEVICE_OOM else "host"
        message = f"out of {where} memory: {message}"
    last_words = [line for line in event.last_words.splitlines() if one_line(line)]
    if event.kind is ErrorKind.CRASHED and last_words:
        message += f" (last words: {line_end(last_words[-1], LAST_WORDS_MAX)})"
    return one_line(message, 2 * ONE_LINE_MAX)


def line_end(line: str, limit: int) -> str:
    """The end of a line the child printed, printable, in at most ``limit`` characters: where it
    was cut, its start (``…`` marks it), as last words end where the child stopped."""
    text = one_line(line[-4 * limit :], 4 * limit)  # one_line keeps a start; this, the end
    return text if len(text) <= limit and len(line) <= 4 * limit else "…" + text[-(limit - 1) :]


def _hung(run: MeasuredRun, phase: Phase, limit_s: float | None) -> str:
    """``one step of gemm dtype=bf16 size=8192 on cpu did not finish in 120 s: ...; killed``."""
    where = device_label(run.device, run.telemetry)
    what = " ".join(filter(None, (run.workload.name, params_text(run.params), "on", where)))
    within = f" in {limit_s:.0f} s" if limit_s is not None else ""
    if phase is Phase.SETUP:
        said = f"setup of {what} did not finish{within}"
    elif phase is Phase.FIRST_STEP:
        said = f"one step of {what} did not finish{within}"
    else:
        doing = "warming up" if phase is Phase.WARM_UP else "measuring"
        said = f"{what} made no progress{within} while {doing}"
    if run.emulated is not None:
        said += f": likely because {run.emulated.text()}"
    elif phase in (Phase.SETUP, Phase.FIRST_STEP):
        said += ": it may need a smaller size or batch, or more time"
    return f"{said}; killed; {run.more_time} allows more time"
