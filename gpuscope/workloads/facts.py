"""What a workload may report beside its figures, bounded: its facts, the notes on what was
dropped from them, and how a value reads as text.

A plugin's ``facts()`` runs in the child and its answer crosses to gpuscope, which shows it in
the results table, CSV, JSON and the report. Whatever it returns, what crosses is small, plain
and printable: at most ``MAX_FACTS`` JSON scalars (strings cut to ``FACT_TEXT_MAX``, integers of
at most ``FACT_INT_BITS`` bits, keys cut to ``FACT_KEY_MAX``), and at most ``MAX_NOTES`` notes
saying what was dropped, then one "and N more". The runner applies the same rules again to what
arrives, so a child whose checks were patched away cannot send more.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping

from gpuscope.safe_text import clipped, one_line

FactValue = str | int | float | bool | None

MAX_FACTS = 100
MAX_NOTES = 5  # said one by one; the rest are counted in one more note
FACT_KEY_MAX = 64  # characters
FACT_TEXT_MAX = 200  # characters of a string fact
FACT_INT_BITS = 64  # an int64 or a uint64: anything larger is no count a workload settles
_WRITABLE_BITS = 14_000  # Python writes an int of at most 4,300 digits (about 14,280 bits)


def value_text(value: object, limit: int = 80) -> str:
    """``value`` as printable text of at most ``limit`` characters. An integer too long to write
    (Python refuses past 4,300 digits) is named by its size, so showing a value never raises."""
    if isinstance(value, int) and not isinstance(value, bool):
        bits = abs(value).bit_length()
        if bits > min(4 * limit, _WRITABLE_BITS):
            return f"(an integer of about {math.ceil(bits * math.log10(2))} digits)"
        return clipped(str(value), limit)
    return one_line(str(value), limit)


def bounded_notes(notes: Iterable[str], more: int = 0) -> list[str]:
    """The first ``MAX_NOTES`` notes, each one short printable line, then ``and N more``
    counting the rest (and ``more`` that were never written out)."""
    kept: list[str] = []
    for note in notes:
        if len(kept) < MAX_NOTES:
            kept.append(one_line(str(note)))
        else:
            more += 1
    if more:
        kept.append(f"and {more} more notes (gpuscope says at most {MAX_NOTES})")
    return kept


def clean_facts(facts: object) -> tuple[dict[str, FactValue], list[str]]:
    """What ``facts()`` returned as at most ``MAX_FACTS`` printable JSON scalars, and notes on
    what was dropped (``bounded_notes``)."""
    if not isinstance(facts, Mapping):
        return {}, [f"facts() returned {one_line(type(facts).__name__, 60)}, not a dict: dropped"]
    kept: dict[str, FactValue] = {}
    notes: list[str] = []
    unsaid = 0
    for key, value in facts.items():
        why = _why_dropped(key, value) if len(kept) < MAX_FACTS else ""
        plain = _plain(value)
        if why is None and isinstance(key, str) and not isinstance(plain, _Dropped):
            kept[one_line(key, FACT_KEY_MAX)] = plain
        elif len(notes) < MAX_NOTES and why:
            notes.append(one_line(why))
        else:
            unsaid += 1
    if unsaid:
        notes.append(
            f"and {unsaid} more facts dropped (gpuscope keeps at most {MAX_FACTS} facts and "
            f"says why for {MAX_NOTES})"
        )
    return kept, notes


def _why_dropped(key: object, value: object) -> str | None:
    """Why ``key: value`` cannot be kept as a fact; None if it can."""
    if not isinstance(key, str) or not one_line(key, FACT_KEY_MAX):
        shown = repr(one_line(key, 60)) if isinstance(key, str) else type(key).__name__
        return f"fact key {shown} is not a printable string: dropped"
    name = repr(one_line(key, FACT_KEY_MAX))
    plain = _plain(value)
    if isinstance(plain, _Dropped):
        shown = repr(value) if isinstance(value, float) else type(value).__name__
        return f"fact {name} is {one_line(shown, 60)}, not a JSON number, string or bool: dropped"
    if isinstance(plain, int) and not isinstance(plain, bool):
        bits = abs(plain).bit_length()
        if bits > FACT_INT_BITS:
            return f"fact {name} is an integer of {bits} bits, more than {FACT_INT_BITS}: dropped"
    return None


class _Dropped:
    """A fact value that is not a JSON scalar."""


def _plain(value: object) -> FactValue | _Dropped:
    """``value`` as a built-in JSON scalar. Subclasses (an IntEnum, numpy's numbers, a str
    subclass) become the built-in type, so nothing of the plugin's is pickled to gpuscope;
    text is one printable line of at most ``FACT_TEXT_MAX`` characters."""
    if value is None:
        return None
    if isinstance(value, bool):
        return bool(value)
    try:
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            number = float(value)
            return number if math.isfinite(number) else _Dropped()
    except (ArithmeticError, TypeError, ValueError):  # a Fraction too large for a float
        return _Dropped()
    if isinstance(value, str):
        return one_line(str(value), FACT_TEXT_MAX)
    return _Dropped()
