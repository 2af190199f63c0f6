"""Recording from the UI: the same CSV as ``gpuscope record``, started and stopped by a key.

The sink runs on the sampler thread like any listener. A write failure (disk full) stops this
recording, not the sampler: the UI keeps monitoring and says what happened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gpuscope.sampler import Sampler
from gpuscope.sinks.output_files import create_stamped
from gpuscope.sinks.recording import DeviceRows, RecordingSink
from gpuscope.telemetry.model import Sample


class RecordingFile:
    """One recording to a new file in ``directory``; ``stop`` may be called from any thread."""

    def __init__(self, sampler: Sampler, directory: Path) -> None:
        self.path, self._fd = create_stamped(directory, "gpuscope")
        self._sink = RecordingSink(self._fd, "csv", DeviceRows(sampler.device_info))
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
        except OSError as exc:  # kept whole rows; the UI notices ``error`` and stops us
            self.error = exc

    def stop(self) -> None:
        """Unsubscribe (waits for a tick in progress) and close; the file ends on a whole row."""
        if self._closed:
            return
        self._closed = True
        self._sampler.unsubscribe(self)
        os.close(self._fd)
