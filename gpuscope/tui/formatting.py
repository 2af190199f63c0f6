"""Numbers as the UI shows them: units, ``n/a`` for anything unsupported (never 0), and bars."""

from __future__ import annotations

NA = "n/a"
_BAR_FULL = "█"
_BAR_PARTS = " ▏▎▍▌▋▊▉"
EMPTY_CELL = "░"


def value(number: float | None, pattern: str = "{:.0f}", unit: str = "") -> str:
    """``value(71.4, unit=" °C")`` -> ``71 °C``; ``value(None)`` -> ``n/a``."""
    if number is None:
        return NA
    return pattern.format(number) + unit


def percent(number: float | None) -> str:
    return value(number, "{:.0f}", "%")


def mib(used: float | None, total: float | None) -> str:
    """``61.0/79.6 GiB``: GiB from 1 GiB up, else MiB; n/a parts stay n/a."""
    scale, unit = (1024.0, "GiB") if (total or used or 0) >= 1024 else (1.0, "MiB")
    used_text = NA if used is None else f"{used / scale:.1f}"
    total_text = NA if total is None else f"{total / scale:.1f}"
    return f"{used_text}/{total_text} {unit}"


def energy(joules: float | None) -> str:
    """``812 J``, ``12.3 kJ``, ``4.56 MJ``; n/a when unknown."""
    if joules is None:
        return NA
    for scale, prefix in ((1e6, "M"), (1e3, "k")):
        if abs(joules) >= scale:
            return f"{joules / scale:.3g} {prefix}J"
    return f"{joules:.0f} J"


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar with eighth-block resolution; a dotted bar for n/a."""
    if width <= 0:
        return ""
    if fraction is None:
        return "·" * width
    eighths = round(min(1.0, max(0.0, fraction)) * width * 8)
    full, part = divmod(eighths, 8)
    text = _BAR_FULL * full + (_BAR_PARTS[part] if part and full < width else "")
    return text + EMPTY_CELL * (width - len(text))


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


def duration(seconds: float) -> str:
    """``45 s``, ``2 min``, ``1 h 5 min``."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


ADVICE_MAX = 26  # a reason's last clause up to this long is advice worth keeping whole


def clip(text: str, room: int) -> str:
    """``text`` in at most ``room`` characters, its end cut with an ellipsis."""
    return text if len(text) <= room else text[: max(0, room - 1)] + "…"


def shorten(reason: str, room: int) -> str:
    """``reason`` in at most ``room`` characters. Its last clause (after ``; ``), when short, is
    what to do about it (``estimate: --cpu-tdp W``), so the middle is cut, not the end."""
    if len(reason) <= room:
        return reason
    head, sep, advice = reason.rpartition("; ")
    if sep and len(advice) <= ADVICE_MAX and room - len(advice) - 3 >= 8:
        return head[: room - len(advice) - 3] + "…; " + advice
    return clip(reason, room)
