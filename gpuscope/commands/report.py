"""``gpuscope report INPUT... -o report.html``: bench, sweep and record files made into one
self-contained document (or Markdown with PNG charts), its summary drawn from the figures.

The report is made in memory, then written whole or not at all: the HTML or Markdown through
``write_atomically``, a Markdown report's charts into a hidden folder renamed into place, so
a full disk leaves nothing behind that would turn the retry away."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.bounded_read import STDIN
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.report.charts import matplotlib_missing
from gpuscope.report.document import ReportFiles, images_folder, render_report
from gpuscope.report.inputs import ReportInputError, load_inputs
from gpuscope.safe_text import one_line
from gpuscope.sinks.output_files import OutputError, write_atomically, write_error

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
    made = [options.output] + [images_folder(options.output)] * (chosen == "md")
    for path in made:
        if path.exists() and not options.force:  # the machine said no: exit 1, as record
            raise CommandFailed(f"{one_line(str(path))} exists (--force overwrites it)")
    try:
        inputs = load_inputs(_unique(options.inputs))  # a file named twice is read once
    except ReportInputError as exc:
        raise UsageError(one_line(str(exc))) from None
    missing = matplotlib_missing()
    if missing is not None:
        print(f"gpuscope report: note: {missing}; the report has tables only", file=sys.stderr)
    files = render_report(inputs, options.output, chosen, options.title)
    try:
        save_report(files, options.output)
    except OutputError as exc:
        raise CommandFailed(one_line(str(exc))) from None
    return 0


def save_report(files: ReportFiles, output: Path) -> None:
    """``output`` and its charts' folder written whole, or left as they were: the charts go to a
    hidden folder renamed into place (an old one moved aside until the text is written), the
    text through ``write_atomically``. OutputError, one line, if the disk says no."""
    if files.folder is None:
        write_atomically(output, files.text)
        return
    folder, token = files.folder, secrets.token_hex(4)
    staged = folder.with_name(f".{folder.name}.{token}.tmp")
    old = folder.with_name(f".{folder.name}.{token}.old")
    try:
        staged.mkdir()
        for name, data in files.images:
            with open(staged / name, "xb") as handle:
                handle.write(data)
        moved = _move_aside(folder, old)
    except OSError as exc:
        shutil.rmtree(staged, ignore_errors=True)
        raise OutputError(write_error(folder, exc)) from None
    try:
        os.replace(staged, folder)
        write_atomically(output, files.text)
    except (OSError, OutputError) as exc:
        for made in (staged, folder):
            shutil.rmtree(made, ignore_errors=True)
        if moved:
            with contextlib.suppress(OSError):
                os.replace(old, folder)
        if isinstance(exc, OutputError):
            raise
        raise OutputError(write_error(folder, exc)) from None
    if moved:
        shutil.rmtree(old, ignore_errors=True)


def _move_aside(folder: Path, old: Path) -> bool:
    """An existing charts folder (``--force``) renamed to ``old`` until the new one is in
    place; False when there was none."""
    try:
        os.replace(folder, old)
    except FileNotFoundError:
        return False
    return True


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
