"""The ``?`` screen: every key, and how to read the figures."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from gpuscope.tui.keys import help_table
from gpuscope.tui.launcher import LaunchScreen
from gpuscope.tui.processes_view import ProcessTable

HELP = f"""\
# gpuscope keys

{help_table([("processes", ProcessTable.BINDINGS), ("launcher", LaunchScreen.BINDINGS)])}

# Reading the figures

* `n/a` means the device does not report that figure. It is never shown as 0.
* **energy** is counted since gpuscope started. Its source is in brackets: `counter` (the
  hardware's energy counter), `integrated` (sampled power integrated over time),
  `counter+integrated`, or `estimate` (a model, never a measurement).
* **work/J** is work done per joule of the device that did it, over the measured stretch
  (warm-up excluded). A CPU without readable RAPL has no energy, so its work/J is `n/a`; its
  line says how to make RAPL readable. `--cpu-tdp W` (or `cpu_tdp_w` in
  `~/.config/gpuscope/config.toml`) gives an `estimate` from the TDP and utilization instead:
  `~39 W est`, and every figure made from it says `estimate`.
* **clock limits** are NVML's clock-event reasons (e.g. `sw_power_cap`); `none` means none active.
* Runs on several devices at once share the host: the CPU's figures include feeding the GPU.
  Tick *one device at a time* in the launcher for cleaner figures.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Markdown(HELP)
