"""Where gpuscope keeps the user's files: one folder for ``config.toml`` and ``plugins/``.

A leaf every layer may use. ``$XDG_CONFIG_HOME/gpuscope`` where that is set (on macOS too);
else, on Linux and the other XDG systems, ``~/.config/gpuscope``, which is what platformdirs
gives there; else (macOS, Windows) the folder platformdirs names. platformdirs is imported only
in that last case: 7 ms of a ``gpuscope list`` that must start within 100 ms (issue 21).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def user_config_dir() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME", "").strip()
    if xdg:
        return Path(xdg) / "gpuscope"
    if sys.platform not in ("darwin", "win32"):
        return Path.home() / ".config" / "gpuscope"
    import platformdirs

    return Path(platformdirs.user_config_dir("gpuscope", appauthor=False))
