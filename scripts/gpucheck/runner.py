"""Runs the check's sections in order inside one time budget, and keeps going after a failure.

A GPU machine is lent for minutes at a time and one command may run for at most ten, so a section
that would not fit what is left is skipped (and says so) rather than cut off half-way, and a
section that breaks costs only itself.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .report import SectionResult, Status


class Unsupported(Exception):
    """Raised by a section that this machine cannot run (a peer not installed, no fp8, ...)."""


@dataclass(frozen=True, slots=True)
class Section:
    name: str
    title: str
    estimate_s: float  # what it needs; it is skipped when less than this is left
    run: Callable[[SectionResult, float], None]  # (result to fill, seconds it may take)

    def allowance_s(self, left_s: float) -> float:
        """What it may take: twice its estimate at most, so one hung section cannot starve
        every section after it."""
        return min(left_s, 2 * self.estimate_s)


def run_sections(
    sections: Sequence[Section],
    budget_s: float,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    only: set[str] | None = None,
    after_each: Callable[[list[SectionResult]], None] = lambda results: None,
) -> list[SectionResult]:
    """Each section's result, in order. Never raises for a section's failure."""
    start = clock()
    results = []
    for section in sections:
        result = SectionResult(section.name, section.title)
        results.append(result)
        elapsed = clock() - start
        left = budget_s - elapsed
        if only is not None and section.name not in only:
            result.status = Status.SKIPPED
            result.error = "not asked for (--only)"
            continue
        if left < section.estimate_s:
            result.status = Status.SKIPPED
            result.error = f"needs about {section.estimate_s:.0f} s, {max(left, 0):.0f} s left"
            log(f"[{elapsed:5.0f} s] {section.name}: skipped ({result.error})")
            continue
        log(
            f"[{elapsed:5.0f} s] {section.name}: {section.title} (about {section.estimate_s:.0f} s)"
        )
        began = clock()
        try:
            section.run(result, section.allowance_s(left))
        except Unsupported as exc:
            result.status = Status.UNSUPPORTED
            result.error = str(exc)
        except Exception as exc:  # a broken section costs only itself
            result.status = Status.FAILED
            result.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            result.texts["traceback"] = traceback.format_exc()[-3000:]
        result.seconds = clock() - began
        outcome = result.summary if result.status is Status.OK else result.error
        log(
            f"[{clock() - start:5.0f} s] {section.name}: {result.status.value} "
            f"in {result.seconds:.0f} s: {outcome}"
        )
        after_each(results)
    return results
