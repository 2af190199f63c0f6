"""Recording while something else goes on (the UI's ``r``, a suite): the same CSV as
``gpuscope record``, to a new file, started and stopped by its owner.

The sink runs on the sampler thread like any listener. A write failure (disk full) stops this
recording, not the sampler: monitoring and measuring go on, and ``error`` says what happened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from gpuscope.sampler import Sampler
from gpuscope.sinks.output_files import create_stamped
from gpuscope.sinks.recording import DeviceRows, RecordingSink
from gpuscope.telemetry.model import Sample


class RecordingFile:
    """One recording to a new file in ``directory``: stamped (``gpuscope-<time>.csv``), or
    ``name`` exactly. ``stop`` may be called from any thread. OSError if the file cannot be made
    or its header written; then nothing is left of it."""

    def __init__(self, sampler: Sampler, directory: Path, name: str | None = None) -> None:
        if name is None:
            self.path, self._fd = create_stamped(directory, "gpuscope")
        else:
            self.path = directory / name
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            self._sink = RecordingSink(self._fd, "csv", DeviceRows(sampler.device_info))
        except OSError:  # not even the header fitted: an empty file would only be in the way
            os.close(self._fd)
            with contextlib.suppress(OSError):
                self.path.unlink()
            raise
        self._sampler = sampler
        self.error: OSError | None = None
        self._closed = False
        sampler.subscribe(self)

    @property
    def rows_written(self) -> int:
        return self._sink.rows_written

    def __call__(self, samples: Sequence[Sample]) -> None:
        if self.error is not None:
            return
        try:
            self._sink(samples)
        except OSError as exc:  # kept whole rows; the owner notices ``error``
            self.error = exc

    def stop(self) -> None:
        """Unsubscribe (waits for a tick in progress) and close; the file ends on a whole row."""
        if self._closed:
            return
        self._closed = True
        self._sampler.unsubscribe(self)
        os.close(self._fd)
