"""A real headless Chromium for the report's browser checks; they skip where there is none
(`.ci/run` installs it where it can)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

needs_chromium = pytest.mark.skipif(
    shutil.which("chromium") is None, reason="no chromium here (apt install chromium)"
)


def dump_dom(page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """The page's DOM after Chromium ran it (``stdout``), its log on ``stderr``; the run
    asserted to have succeeded."""
    browser = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", *flags, "--dump-dom",
         page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert browser.returncode == 0, browser.stderr[-2000:]
    return browser
