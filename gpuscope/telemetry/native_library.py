"""Whether a vendor's shared library loads, asked before importing its Python binding.

Importing nvidia-ml-py takes 15-20 ms and amdsmi 5-7 ms (amdsmi then fails with a KeyError and
prints to stdout where ROCm is absent): a fifth of a ``gpuscope list`` that must start within
100 ms on a machine without that vendor's driver (issue 21). Each backend names the places its
binding itself loads the library from; where none loads, the backend is absent without the
import. Linux only, and never where the binding is already imported (nothing left to save):
there, and elsewhere, the binding's own initialisation says.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path


def worth_asking(module: str) -> bool:
    """Whether to look for the library before importing ``module``."""
    return sys.platform.startswith("linux") and module not in sys.modules


def loads(candidates: Iterable[str | Path]) -> bool:
    """Whether one of ``candidates`` (a file, or a name the dynamic linker looks up) loads."""
    import ctypes

    for candidate in candidates:
        try:
            ctypes.CDLL(str(candidate))
        except OSError:
            continue
        return True
    return False
