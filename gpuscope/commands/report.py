"""``gpuscope report INPUT... -o report.html``: bench, sweep and record files made into one
self-contained document (or Markdown with PNG charts), its summary drawn from the figures."""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.bounded_read import STDIN
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.report.charts import matplotlib_missing
from gpuscope.report.document import write_report
from gpuscope.report.inputs import ReportInputError, load_inputs
from gpuscope.safe_text import one_line

FORMATS = ("html", "md")
SUFFIXES = {".html": "html", ".htm": "html", ".md": "md", ".markdown": "md", "": "html"}


@dataclass(frozen=True, slots=True)
class ReportOptions:
    inputs: tuple[Path, ...]
    output: Path
    output_format: str | None = None  # None: the output's suffix says
    force: bool = False
    title: str = "gpuscope report"


def output_format(options: ReportOptions) -> str:
    """``--format``, else what the output's suffix names; an unknown suffix is refused rather
    than written as HTML under a name that says otherwise."""
    if options.output_format is not None:
        if options.output_format not in FORMATS:
            raise UsageError(
                f"--format {options.output_format!r}: choose from {', '.join(FORMATS)}"
            )
        return options.output_format
    found = SUFFIXES.get(options.output.suffix.lower())
    if found is None:
        raise UsageError(
            f"-o {one_line(str(options.output))}: a report is .html or .md "
            "(or name one with --format)"
        )
    return found


def run_report(options: ReportOptions) -> int:
    if not options.inputs:
        raise UsageError("name at least one input: a bench --json, sweep --json or record file")
    if options.inputs.count(STDIN) > 1:
        raise UsageError("- (stdin) can be read once: name it once")
    if any(_same_file(options.output, i) for i in options.inputs):
        raise UsageError(
            f"{one_line(str(options.output))} is one of the inputs: name another output"
        )
    chosen = output_format(options)
    if options.output.exists() and not options.force:  # the machine said no: exit 1, as record
        raise CommandFailed(f"{one_line(str(options.output))} exists (--force overwrites it)")
    try:
        inputs = load_inputs(_unique(options.inputs))  # a file named twice is read once
    except ReportInputError as exc:
        raise UsageError(one_line(str(exc))) from None
    missing = matplotlib_missing()
    if missing is not None:
        print(f"gpuscope report: note: {missing}; the report has tables only", file=sys.stderr)
    try:
        write_report(inputs, options.output, chosen, options.title)
    except OSError as exc:
        raise CommandFailed(
            f"cannot write {one_line(str(options.output))}: {exc.strerror or exc}"
        ) from None
    return 0


def _identity(path: Path) -> tuple[int, int] | None:
    """What makes two names one regular file; None for stdin, a pipe or a device (each is read
    as it comes, so never skipped) or a name that cannot be looked at (reading it will say)."""
    if path == STDIN:
        return None
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISREG(info.st_mode) else None


def _same_file(output: Path, source: Path) -> bool:
    found = _identity(output)
    return found is not None and found == _identity(source)


def _unique(paths: tuple[Path, ...]) -> tuple[Path, ...]:
    seen: set[tuple[int, int]] = set()
    kept = []
    for path in paths:
        found = _identity(path)
        if found is None or found not in seen:
            kept.append(path)
        if found is not None:
            seen.add(found)
    return tuple(kept)
