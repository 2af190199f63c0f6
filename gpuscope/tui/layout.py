"""How device panels share the terminal: columns and chart height from its size.

From 80x24 up to a wide terminal the overview keeps every device's numbers on screen; charts get
whatever height is left, and vanish before numbers do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDE_COLUMNS = 150  # from here on, two panels side by side
CHROME_ROWS = 5  # header, tabs (2), status line, footer
PANEL_TEXT_ROWS = 4  # bars and figures
PANEL_BORDER_ROWS = 2
CHARTS = 3  # utilization, memory, power
MAX_CHART_ROWS = 4


@dataclass(frozen=True, slots=True)
class PanelLayout:
    columns: int  # panels side by side
    chart_rows: int  # braille rows per chart; 0 hides the charts


def panel_layout(width: int, height: int, devices: int) -> PanelLayout:
    columns = 2 if width >= WIDE_COLUMNS and devices > 1 else 1
    per_column = max(1, math.ceil(devices / columns))
    rows_each = (height - CHROME_ROWS) // per_column - PANEL_TEXT_ROWS - PANEL_BORDER_ROWS
    chart_rows = rows_each // CHARTS  # labels sit in a gutter on the chart's left
    return PanelLayout(columns, max(0, min(MAX_CHART_ROWS, chart_rows)))
