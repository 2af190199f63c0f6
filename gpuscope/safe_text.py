"""Text from outside (a plugin, a remote host, a process's command line, a file) made safe to
print and bounded in length.

A terminal obeys what it is sent: ``ESC [2J`` clears the screen, ``ESC ]0;...BEL`` sets the
title, ``ESC ]52;...`` writes the clipboard. Every string that did not come from gpuscope
itself goes through :func:`printable` (or :func:`one_line`) before a terminal, a CSV cell or a
report shows it. One mechanism, so no face can forget a case another face handles.
"""

from __future__ import annotations

import re

# ESC-introduced sequences: CSI (ESC [ ... final), OSC / DCS / SOS / PM / APC strings up to BEL or
# ST, and two-byte escapes; then the 8-bit C1 forms (CSI 0x9b, OSC 0x9d, ...) the same way.
_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]?                     # CSI
  | \x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|$)        # OSC, DCS, SOS, PM, APC
  | \x1b[ -/]*[0-~]?                             # other two-byte escapes (ESC c, ESC ( B ...)
  | \x9b[0-?]*[ -/]*[@-~]?                       # 8-bit CSI
  | [\x90\x98\x9d\x9e\x9f].*?(?:\x07|\x9c|$)     # 8-bit string introducers
    """,
    re.VERBOSE | re.DOTALL,
)
# what is left of C0 and C1 after the sequences are gone, and DEL; tab and newline are handled apart
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# bidirectional overrides and isolates can reorder what a reader sees (Trojan Source)
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")

ONE_LINE_MAX = 300  # characters: an error or a note fits two lines of a wide terminal


def printable(text: str) -> str:
    """``text`` without escape sequences, control characters or bidi overrides; tabs become
    spaces; newlines are kept (use :func:`one_line` for a single line)."""
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n"))
    return _BIDI.sub("", text)


def clipped(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters, its end cut with an ellipsis."""
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def one_line(text: str, limit: int = ONE_LINE_MAX) -> str:
    """``text`` as one printable line of at most ``limit`` characters: runs of whitespace and
    newlines become one space, and the end is cut with an ellipsis. Only the first ``4 * limit``
    characters are looked at, so a 44 MB message costs no more than a short one."""
    head = text[: 4 * limit + 1]
    line = " ".join(printable(head).split())
    if len(text) > len(head) and len(line) <= limit:
        line += "…"
    return clipped(line, limit)


def field_text(text: str) -> str:
    """A name or note read from a file (a device name in a recording, a workload or a note in a
    results file) as gpuscope shows it: one printable line of at most ``ONE_LINE_MAX``
    characters, the same limit whatever the file. Printable text within the limit is returned
    as it is, without the work :func:`one_line` does: a recording has millions of names."""
    return text if len(text) <= ONE_LINE_MAX and text.isprintable() else one_line(text)
