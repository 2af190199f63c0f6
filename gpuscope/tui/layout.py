"""How device panels share the terminal: columns, compact figures and chart height from its size.

From 80x24 up to a wide terminal the overview keeps every device's numbers on screen: charts get
whatever height is left and vanish first; then each panel folds its figures into two lines.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDE_COLUMNS = 150  # from here on, two panels side by side
CHROME_ROWS = 4  # header, tabs (2), footer
PANEL_TEXT_ROWS = 4  # bars and figures
PANEL_BORDER_ROWS = 2
AXIS_ROWS = 1  # the time axis under the charts
CHARTS = 3  # utilization, memory, power by default; the user may choose others
MAX_CHART_ROWS = 8  # taller charts for few devices: a terminal is not left half empty


@dataclass(frozen=True, slots=True)
class PanelLayout:
    columns: int  # panels side by side
    chart_rows: int  # braille rows per chart; 0 hides the charts
    compact: bool  # figures folded into two lines
    time_axis: bool = False  # a time axis under the charts (not under one-row sparklines)


def panel_layout(
    width: int, height: int, devices: int, extra_rows: int = 0, charts: int = CHARTS
) -> PanelLayout:
    """``extra_rows``: lines above the panels (e.g. absent backends); ``charts``: how many
    history charts each panel shows."""
    charts = max(1, charts)
    columns = 2 if width >= WIDE_COLUMNS and devices > 1 else 1
    per_column = max(1, math.ceil(devices / columns))
    rows_each = (height - CHROME_ROWS - extra_rows) // per_column - PANEL_BORDER_ROWS
    if rows_each < PANEL_TEXT_ROWS:
        return PanelLayout(columns, 0, compact=True)
    # labels sit in a gutter on the left; one time axis under all three charts
    chart_rows = (rows_each - PANEL_TEXT_ROWS - AXIS_ROWS) // charts
    if chart_rows >= 2:
        return PanelLayout(columns, min(MAX_CHART_ROWS, chart_rows), False, time_axis=True)
    sparklines = min(1, (rows_each - PANEL_TEXT_ROWS) // charts)  # too short for an axis
    return PanelLayout(columns, max(0, sparklines), compact=False)
