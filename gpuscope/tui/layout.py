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
CHARTS = 3  # utilization, memory, power
MAX_CHART_ROWS = 4


@dataclass(frozen=True, slots=True)
class PanelLayout:
    columns: int  # panels side by side
    chart_rows: int  # braille rows per chart; 0 hides the charts
    compact: bool  # figures folded into two lines


def panel_layout(width: int, height: int, devices: int, extra_rows: int = 0) -> PanelLayout:
    """``extra_rows``: lines above the panels (e.g. absent backends)."""
    columns = 2 if width >= WIDE_COLUMNS and devices > 1 else 1
    per_column = max(1, math.ceil(devices / columns))
    rows_each = (height - CHROME_ROWS - extra_rows) // per_column - PANEL_BORDER_ROWS
    if rows_each < PANEL_TEXT_ROWS:
        return PanelLayout(columns, 0, compact=True)
    chart_rows = (rows_each - PANEL_TEXT_ROWS) // CHARTS  # labels sit in a gutter on the left
    return PanelLayout(columns, max(0, min(MAX_CHART_ROWS, chart_rows)), compact=False)
