"""Units every layer shares: SI prefixes for rates, and what counts as a number of seconds.

One table and one rule, so the table, the live view and the chart axes scale a figure the same
way, and every option or field that takes seconds refuses the same things with the same words.
"""

from __future__ import annotations

import math

SI_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def si_prefix(value: float) -> tuple[float, str]:
    """The largest prefix ``value`` reaches: 7.7e14 -> (1e12, "T"); below 1000, none."""
    for scale, prefix in SI_PREFIXES:
        if abs(value) >= scale:
            return scale, prefix
    return 1.0, ""


def format_rate(value: float, unit: str, per: str = "s") -> str:
    """``1.23e12 FLOP/s`` -> ``1.23 TFLOP/s``; ``3981.4 images/s`` -> ``3.98 kimages/s``."""
    scale, prefix = si_prefix(value)
    return f"{value / scale:.3g} {prefix}{unit}/{per}"


def format_ratio(ratio: float | None) -> str:
    """A ratio to 3 significant figures with thousands separators: ``1,570x``, ``24.7x``,
    ``1.00x``, ``0.512x``; ``n/a`` where there is none. One form for the UI, bench and the
    report, so a figure reads the same in all three."""
    if ratio is None or not math.isfinite(ratio) or ratio <= 0:
        return "n/a"
    rounded = float(f"{ratio:.3g}")
    decimals = max(0, 2 - math.floor(math.log10(rounded)))
    return f"{rounded:,.{decimals}f}x"


# A year and a day: past any run, budget or recording anyone means, and well inside what a
# timer or ``Event.wait`` accepts (about 9.2e9 s on Linux; 1e10 raised OverflowError there).
MAX_SECONDS = 366 * 24 * 3600.0


def check_seconds(
    value: float,
    name: str,
    minimum: float = 0.0,
    inclusive: bool = False,
    maximum: float = MAX_SECONDS,
) -> float:
    """``value`` if it is a finite number of seconds above ``minimum`` (or equal to it, when
    ``inclusive``) and at most ``maximum``; else ValueError with a one-line message naming
    ``name``."""
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number of seconds, got {value}")
    if inclusive and value < minimum:
        if minimum > 0:
            raise ValueError(f"{name} must be at least {minimum:g} s, got {value}")
        raise ValueError(f"{name} must be a finite number of seconds >= {minimum:g}, got {value}")
    if not inclusive and value <= minimum:
        raise ValueError(f"{name} must be a finite number of seconds > {minimum:g}, got {value}")
    if value > maximum:
        most = (
            f"{maximum / 86400:g} days ({maximum:.0f} s)" if maximum >= 86400 else f"{maximum:g} s"
        )
        raise ValueError(f"{name} must be at most {most}, got {value:g}")
    return value


def decade_label(decade: int) -> str:
    """``10**decade`` short, for a log axis's ticks: 1, 10, 100, 1k ... 100P; 0.1, 0.01, 0.001;
    1e-4 below."""
    if decade >= 0:
        value = 10**decade
        scale, prefix = si_prefix(value)
        return f"{value // int(scale)}{prefix}"
    if decade >= -3:
        return f"{10.0**decade:.{-decade}f}"
    return f"1e{decade}"
