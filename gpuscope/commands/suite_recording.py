"""``gpuscope suite``'s recording: every device to ``record.csv`` for the whole suite, and
what becomes of it. A recording that cannot be made, or that fills the disk, is said once in
one line; the suite measures on without it (issue 22: it used to stop silently)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from gpuscope.safe_text import one_line
from gpuscope.sampler import Sampler, stopped_line
from gpuscope.sinks.output_files import write_error
from gpuscope.sinks.recording_file import RecordingFile


def start_recording(sampler: Sampler, folder: Path) -> RecordingFile | None:
    """Every device, to ``record.csv``, for the whole suite; None (said in one line) if the
    file cannot be made: the suite measures on without it."""
    try:
        return RecordingFile(sampler, folder, "record.csv")
    except OSError as exc:
        print(f"gpuscope suite: no recording: {write_error(folder / 'record.csv', exc)}",
              file=sys.stderr)  # fmt: skip
        return None


def watch_recording(sampler: Sampler, recording: RecordingFile | None) -> Callable[[], None]:
    """A check to make between runs: says once, in one line, that the recording stopped (its
    rows so far are kept) or the sampler did; the runs go on (their energy windows read the
    devices themselves)."""
    said: set[str] = set()

    def check() -> None:
        lines = {}
        if recording is not None and recording.error is not None:
            lines["recording"] = (
                f"recording stopped: {write_error(recording.path, recording.error)}; "
                f"{recording.rows_written} rows kept"
            )
        if sampler.error is not None:
            lines["sampler"] = stopped_line(sampler.error)
        for key, line in lines.items():
            if key not in said:
                said.add(key)
                print(f"gpuscope suite: {one_line(line)}; the suite goes on", file=sys.stderr)

    return check
