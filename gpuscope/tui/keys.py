"""Every key of the app, declared once: the bindings, the footer, the command palette and the
help table are all generated from these tables, so they cannot drift apart."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from textual.binding import Binding, BindingType

TABS = ("devices", "processes", "workloads", "compare")


@dataclass(frozen=True, slots=True)
class Key:
    keys: str  # Textual key names, comma-separated
    action: str  # an action of the app
    title: str  # footer and command palette
    does: str  # help table and palette description
    display: str | None = None  # how the key is written, where its name is not it
    footer: bool = False
    palette: bool = True

    def binding(self, namespace: str = "") -> Binding:
        return Binding(
            self.keys, namespace + self.action, self.title, show=self.footer,
            key_display=self.display,
        )  # fmt: skip

    @property
    def written(self) -> str:
        return self.display or self.keys.split(",")[0]


# The app's: under a dialog the footer still shows them, but a focused field there may take the
# key (escape closes a dialog first).
APP_KEYS: tuple[Key, ...] = (
    Key(
        "q",
        "quit",
        "Quit",
        "quit (running workloads are stopped); in a dialog, escape first",
        footer=True,
        palette=False,
    ),
    Key("question_mark", "help", "Help", "this help; escape closes it", "?", True, False),
)

# The tabs' screen only: a dialog's own keys never reach these.
MAIN_KEYS: tuple[Key, ...] = (
    Key("tab", "step_tab(1)", "Next screen", "next screen", palette=False),
    Key("shift+tab", "step_tab(-1)", "Previous screen", "previous screen", palette=False),
    *(
        Key(str(i + 1), f"show_tab('{tab}')", f"Show {tab}", f"go to the {tab} screen")
        for i, tab in enumerate(TABS)
    ),
    Key("w", "launch", "Launch", "launch a workload (bundled or plugin) on one or more devices",
        footer=True),
    Key("x", "stop_runs", "Stop runs",
        "stop every running workload (each reports what it measured so far)", footer=True),
    Key("s", "save_results", "Save results", "save the results as CSV, and a report (HTML)"),
    Key("r", "toggle_record", "Record", "start / stop recording every device to CSV",
        footer=True),
    Key("p", "toggle_pause", "Pause", "pause the display (sampling and recording go on)",
        footer=True),
    Key("plus,equals_sign", "step_interval(-1)", "Sample faster",
        "sample faster (shorter interval)", "+"),
    Key("minus", "step_interval(1)", "Sample slower", "sample slower (longer interval)", "-"),
    Key("left_square_bracket", "step_window(-1)", "Shorter history",
        "shorter history in the charts", "["),
    Key("right_square_bracket", "step_window(1)", "Longer history",
        "longer history in the charts", "]"),
    Key("c", "choose_charts", "Charts",
        "choose the device charts: utilization, memory, power, temperature, clock, and GPM's "
        "SM, tensor and DRAM activity"),
)  # fmt: skip

# Textual's own, listed in the help only.
TEXTUAL_KEYS = (("ctrl+p", "command palette: every action, and the theme"),)


def help_table(places: Sequence[tuple[str, Sequence[BindingType]]] = ()) -> str:
    """The help screen's key table, in Markdown: the keys above, then each place's own
    bindings (a widget's or a dialog's, read from its ``BINDINGS``) under its name."""
    rows = [(f"`{key.written}`", key.does) for key in MAIN_KEYS]
    for place, bindings in places:
        for binding in bindings:
            if not isinstance(binding, Binding):
                continue  # ours are all Binding objects; Textual also allows tuples
            written = binding.key_display or binding.key.split(",")[0]
            rows.append((f"`{written}`", f"{place}: {binding.description.lower()}"))
    rows += [(f"`{keys}`", does) for keys, does in TEXTUAL_KEYS]
    rows += [(f"`{key.written}`", key.does) for key in reversed(APP_KEYS)]
    return "\n".join(["| key | does |", "|---|---|", *(f"| {k} | {d} |" for k, d in rows)])
