"""``gpuscope report INPUT... -o report.html``: bench, sweep and record files made into one
self-contained document (or Markdown with PNG charts), its summary drawn from the figures."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.errors import CommandFailed, UsageError
from gpuscope.report.charts import matplotlib_missing
from gpuscope.report.document import write_report
from gpuscope.report.inputs import ReportInputError, load_inputs

FORMATS = ("html", "md")


@dataclass(frozen=True, slots=True)
class ReportOptions:
    inputs: tuple[Path, ...]
    output: Path
    output_format: str = "html"
    force: bool = False
    title: str = "gpuscope report"


def run_report(options: ReportOptions) -> int:
    if options.output_format not in FORMATS:
        raise UsageError(f"--format {options.output_format!r}: choose from {', '.join(FORMATS)}")
    if not options.inputs:
        raise UsageError("name at least one input: a bench --json, sweep --json or record file")
    if any(options.output.resolve() == i.resolve() for i in options.inputs):
        raise UsageError(f"{options.output} is one of the inputs: name another output")
    if options.output.exists() and not options.force:  # the machine said no: exit 1, as record
        raise CommandFailed(f"{options.output} exists (--force overwrites it)")
    unique = tuple(dict.fromkeys(path.resolve() for path in options.inputs))
    try:
        inputs = load_inputs(unique)  # a file named twice is read once
    except ReportInputError as exc:
        raise UsageError(str(exc)) from None
    missing = matplotlib_missing()
    if missing is not None:
        print(f"gpuscope report: note: {missing}; the report has tables only", file=sys.stderr)
    try:
        write_report(inputs, options.output, options.output_format, options.title)
    except OSError as exc:
        raise CommandFailed(f"cannot write {options.output}: {exc.strerror or exc}") from None
    return 0
