"""The one naming rule for files gpuscope makes on its own (a UI recording, saved results):
``NAME-YYYYmmdd-HHMMSS.csv`` in the chosen folder, ``-2``, ``-3``... when that exists. Created
exclusively, so two saves in one second (or two gpuscopes) never overwrite each other."""

from __future__ import annotations

import os
import time
from pathlib import Path


def create_stamped(directory: Path, name: str, extension: str = "csv") -> tuple[Path, int]:
    """A new file's path and an open write-only descriptor; OSError if the folder refuses."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    suffix = 1
    while True:
        tail = "" if suffix == 1 else f"-{suffix}"
        path = directory / f"{name}-{stamp}{tail}.{extension}"
        try:
            return path, os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            suffix += 1
