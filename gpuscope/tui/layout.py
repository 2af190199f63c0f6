"""How device panels share the terminal: columns, compact figures and chart height from its size.

From 80x24 up to a wide terminal the overview keeps every device's numbers on screen: charts get
whatever height is left, stacked while each has two rows and an axis, else side by side in a
strip a row or more high (so rows that would stay blank still show history); then each panel
folds its figures into two lines under a title line, and its charts into the rows left.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDE_COLUMNS = 150  # from here on, two panels side by side
CHROME_ROWS = 4  # header, tabs (2), footer
PANEL_TEXT_ROWS = 4  # bars and figures
PANEL_BORDER_ROWS = 2
COMPACT_TEXT_ROWS = 2  # figures folded into two lines
COMPACT_BORDER_ROWS = 1  # a folded panel keeps only its top border: the title line
AXIS_ROWS = 1  # the time axis under the charts
CHARTS = 3  # utilization, memory, power by default; the user may choose others
MAX_CHART_ROWS = 8  # taller charts for few devices: a terminal is not left half empty
MAX_STRIP_ROWS = 3  # charts side by side: taller than this, stacked charts fit instead


@dataclass(frozen=True, slots=True)
class PanelLayout:
    columns: int  # panels side by side
    chart_rows: int  # braille rows per chart; 0 hides the charts
    compact: bool  # figures folded into two lines, under a title line (no bottom border)
    time_axis: bool = False  # a time axis under the charts (not under one-row sparklines)
    strip: bool = False  # the charts side by side in ``chart_rows`` rows, not stacked


def panel_layout(
    width: int, height: int, devices: int, extra_rows: int = 0, charts: int = CHARTS
) -> PanelLayout:
    """``extra_rows``: lines above the panels (e.g. absent backends); ``charts``: how many
    history charts each panel shows."""
    charts = max(1, charts)
    columns = 2 if width >= WIDE_COLUMNS and devices > 1 else 1
    per_column = max(1, math.ceil(devices / columns))
    rows_per_panel = (height - CHROME_ROWS - extra_rows) // per_column
    rows_each = rows_per_panel - PANEL_BORDER_ROWS
    if rows_each < PANEL_TEXT_ROWS:
        strip = rows_per_panel - COMPACT_BORDER_ROWS - COMPACT_TEXT_ROWS
        rows = min(MAX_STRIP_ROWS, strip)
        return PanelLayout(columns, max(0, rows), compact=True, strip=rows > 0)
    # labels sit in a gutter on the left; one time axis under all three charts
    chart_rows = (rows_each - PANEL_TEXT_ROWS - AXIS_ROWS) // charts
    if chart_rows >= 2:
        return PanelLayout(columns, min(MAX_CHART_ROWS, chart_rows), False, time_axis=True)
    if rows_each - PANEL_TEXT_ROWS >= charts:  # a sparkline each, too short for an axis
        return PanelLayout(columns, 1, compact=False)
    strip = min(MAX_STRIP_ROWS, rows_each - PANEL_TEXT_ROWS)
    return PanelLayout(columns, strip, compact=False, strip=strip > 0)


def panel_spans(rows: dict[str, int], columns: int) -> dict[str, tuple[int, int]]:
    """Where each panel lies in its pane (top row, bottom row exclusive), from the rows each
    takes: a grid of ``columns``, a row of panels as tall as its tallest, none between."""
    spans: dict[str, tuple[int, int]] = {}
    top = 0
    ids = list(rows)
    for start in range(0, len(ids), max(1, columns)):
        row = ids[start : start + max(1, columns)]
        for device in row:
            spans[device] = (top, top + rows[device])
        top += max(rows[device] for device in row)
    return spans


def offscreen_hint(panels: dict[str, tuple[int, int]], view: tuple[int, int]) -> str:
    """The line naming the panels (device id: top and bottom row) out of ``view`` (top and
    bottom row): a terminal too small must not hide a device without saying so."""
    above = [device for device, (top, _) in panels.items() if top < view[0]]
    below = [device for device, (_, bottom) in panels.items() if bottom > view[1]]
    parts = []
    if above:
        parts.append(f"↑ {len(above)} above ({', '.join(above)})")
    if below:
        parts.append(f"↓ {len(below)} below ({', '.join(below)})")
    text = "  ".join(parts)
    return f"{text}: scroll with the mouse wheel, or enlarge the terminal" if text else ""
