"""The workload launcher: pick a workload, its parameters and devices, and start it.

Broken plugins are listed with the reason they could not be loaded. Parameters are checked here
with the workload's own ``Param`` rules, so a typo is a one-line message, not a failed run. A
parameter may be swept instead (``bench --sweep``'s forms): its own field is then set aside,
and the dialog says how many runs the sweep makes and about how long they take.
"""

from __future__ import annotations

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, SelectionList, Static

from gpuscope.measurement.run_params import choice_notes, run_params
from gpuscope.measurement.sweep import (
    Sweep,
    parse_sweep,
    point_params,
    sweep_seconds,
    values_hint,
)
from gpuscope.measurement.targets import RunTarget, why_not_runnable
from gpuscope.session import Launch
from gpuscope.tui import formatting as fmt
from gpuscope.tui.checklist import CheckList, GlyphCheckbox
from gpuscope.tui.launch_fields import field_seconds, field_value, hang_hint, param_field
from gpuscope.workloads.api import Param, ParamValue, WorkloadError
from gpuscope.workloads.registry import Catalog, WorkloadInfo

BODY_MAX_ROWS = 30
DIALOG_CHROME_ROWS = 11  # border, title, the workload choice, error line, buttons, footer
DEFAULT_DURATION_S = 30.0
DEFAULT_WARMUP_S = 2.0
NO_SWEEP = ""


class LaunchScreen(ModalScreen[Launch | None]):
    BINDINGS = [
        Binding("escape", "dismiss_none", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]

    def __init__(
        self,
        catalog: Catalog,
        targets: list[RunTarget],
        unavailable: list[str],
        remembered: dict[str, Launch] | None = None,
    ) -> None:
        """``remembered``: the last launch of each workload, newest last; the dialog opens on
        the newest, and each workload comes back with its own last choices."""
        super().__init__(id="launcher")
        self.catalog = catalog
        self.targets = targets
        self.unavailable = unavailable  # devices shown but not launchable, with why
        self.remembered = {k: v for k, v in (remembered or {}).items() if k in catalog.workloads}

    def compose(self) -> ComposeResult:
        names = sorted(self.catalog.workloads)
        first = "cnn" if "cnn" in names else names[0] if names else None
        if self.remembered:
            first = list(self.remembered)[-1]
        last = self.remembered.get(first or "")
        devices = set(last.devices) if last is not None else {"cpu"}
        with Vertical(id="launch-dialog"):
            yield Label("Launch a workload", id="launch-title")
            yield Select(
                [(f"{n} — {self.catalog.workloads[n].description}", n) for n in names],
                value=first if first else Select.BLANK,
                allow_blank=not names,
                id="launch-workload",
            )
            with VerticalScroll(id="launch-body", can_focus=False):
                yield Vertical(id="launch-params")
                yield Label("Devices (space selects; several run together)")
                yield CheckList(
                    *[
                        (
                            f"{t.label:<7} {escape(t.telemetry.name if t.telemetry else '')}",
                            t.torch_device,
                            t.torch_device in devices,
                        )
                        for t in self.targets
                    ],
                    id="launch-devices",
                )
                for line in self.unavailable:
                    yield Static(f"[$text-muted]{escape(line)}[/]", classes="launch-note")
                with Horizontal(classes="launch-row"):
                    yield Label("measure s", classes="param-label")
                    duration = last.duration_s if last is not None else DEFAULT_DURATION_S
                    yield Input(f"{duration:g}", id="launch-duration")
                    yield Label("warm-up s", classes="param-label")
                    warmup = last.warmup_s if last is not None else DEFAULT_WARMUP_S
                    yield Input(f"{warmup:g}", id="launch-warmup")
                with Horizontal(classes="launch-row"):
                    yield Label("hang limit s", classes="param-label")
                    hang = last.hang_timeout_s if last is not None else None
                    field = Input(f"{hang:g}" if hang is not None else "", id="launch-hang")
                    field.placeholder = hang_hint(self.catalog.workloads.get(first or ""))
                    field.tooltip = (
                        "how long a run may go without progress before it is stopped, as bench's "
                        "--hang-timeout; empty: by phase, as the hint says"
                    )
                    yield field
                yield GlyphCheckbox(
                    "one device at a time (cleaner figures, no contention)",
                    value=last.one_at_a_time if last is not None else False,
                    id="launch-sequential",
                )
                broken = self.catalog.broken
                if broken:
                    yield Label("Plugins that could not be loaded")
                    for plugin in broken:
                        yield Static(
                            f"[$error]✗[/] {escape(plugin.where)}: {escape(plugin.reason)}",
                            classes="launch-broken",
                        )
                for shadowed in self.catalog.shadowed:
                    yield Static(
                        f"[$warning]![/] {escape(shadowed.describe())}", classes="launch-broken"
                    )
            yield Static("", id="launch-error")
            with Horizontal(id="launch-buttons"):
                yield Button("Start", variant="primary", id="launch-start")
                yield Button("Cancel", id="launch-cancel")

    async def on_mount(self) -> None:
        await self._show_params()
        self._fit_body(self.app.size.height)

    def on_resize(self, event: events.Resize) -> None:
        self._fit_body(event.size.height)

    def _fit_body(self, screen_rows: int) -> None:
        """The scrolling middle gives way on a short terminal, so Start and Cancel stay on
        screen (at 80x24 they were below its last row, with nothing to show it)."""
        body = self.query_one("#launch-body", VerticalScroll)
        body.styles.max_height = max(4, min(BODY_MAX_ROWS, screen_rows - DIALOG_CHROME_ROWS))

    @on(Select.Changed, "#launch-workload")
    async def _workload_changed(self) -> None:
        await self._show_params()

    def _chosen(self) -> WorkloadInfo | None:
        value = self.query_one("#launch-workload", Select).value
        if not isinstance(value, str):
            return None
        return self.catalog.workloads.get(value)

    async def _show_params(self) -> None:
        box = self.query_one("#launch-params", Vertical)
        await box.remove_children()  # the new fields reuse the old ids
        chosen = self._chosen()
        if chosen is None:
            await box.mount(Static("[$error]no workloads found[/]"))
            return
        last = self.remembered.get(chosen.name)
        given = dict(last.given) if last is not None else {}  # its last choices, else defaults
        swept = last.sweep if last is not None and last.sweep is not None else None
        rows: list[Horizontal | Static] = []
        for param in chosen.params:
            field = param_field(chosen, param, given, self.targets)
            field.tooltip = param.help
            rows.append(
                Horizontal(Label(param.name, classes="param-label"), field, classes="launch-row")
            )
        if chosen.params:
            rows.append(Static("", id="launch-params-note", classes="launch-note"))
            rows += self._sweep_rows(chosen.params, swept)
        await box.mount(
            Static(f"unit of work: {escape(chosen.unit)}", classes="launch-note"), *rows
        )
        self._sweep_changed()

    def _sweep_rows(
        self, params: tuple[Param, ...], last: Sweep | None
    ) -> list[Horizontal | Static]:
        choice = Select(
            [("no sweep", NO_SWEEP), *((f"sweep {p.name}", p.name) for p in params)],
            value=last.param if last is not None else NO_SWEEP,
            allow_blank=False,
            id="launch-sweep-param",
        )
        choice.tooltip = "run once per value of this parameter, on each device"
        values = Input(last.text if last is not None else "", id="launch-sweep-values")
        return [
            Horizontal(Label("sweep", classes="param-label"), choice, values, classes="launch-row"),
            Static("", id="launch-sweep-note", classes="launch-note"),
        ]

    @on(Select.Changed, ".launch-row Select")
    @on(Input.Changed, ".launch-row Input")
    @on(Select.Changed, "#launch-sweep-param")
    @on(Input.Changed, "#launch-sweep-values")
    @on(Input.Changed, "#launch-duration")
    @on(Input.Changed, "#launch-warmup")
    @on(SelectionList.SelectedChanged, "#launch-devices")
    @on(Checkbox.Changed, "#launch-sequential")
    def _sweep_changed(self) -> None:
        """The swept parameter's own field is set aside; the note says what the sweep makes."""
        chosen = self._chosen()
        for hang in self.query("#launch-hang").results(Input):
            hang.placeholder = hang_hint(chosen)
        choices = self.query("#launch-sweep-param")
        if chosen is None or not choices:
            return
        param = choices.first(Select).value
        for each in chosen.params:  # query: the fields may be between two workloads
            for field in self.query(f"#param-{each.name}"):
                field.disabled = each.name == param
        values = self.query_one("#launch-sweep-values", Input)
        values.display = param != NO_SWEEP
        if isinstance(param, str):
            values.placeholder = values_hint(chosen.params, param)
        self.query_one("#launch-error", Static).update("")  # about the fields before: stale
        note = self._sweep_note(chosen)
        shown = self.query_one("#launch-sweep-note", Static)
        shown.update(note)
        shown.display = bool(note)
        said = "\n".join(f"[$warning]{escape(line)}[/]" for line in self._choice_notes(chosen))
        for params_note in self.query("#launch-params-note").results(Static):
            params_note.update(said)
            params_note.display = bool(said)

    def _choice_notes(self, chosen: WorkloadInfo) -> list[str]:
        """What the runs will get that a user should know before Start: a precision emulated
        on a chosen device, a default precision replaced by the device's native one."""
        try:
            given = self._given(chosen, self._sweep(chosen))
        except WorkloadError:
            return []  # the fields say it on Start
        targets = {t.torch_device: t for t in self.targets}
        resolved = []
        for device in self.query_one("#launch-devices", SelectionList).selected:
            try:
                resolved.append(run_params(chosen, given, targets[device]))
            except (WorkloadError, KeyError):
                continue
        return choice_notes(resolved)

    def _sweep_note(self, chosen: WorkloadInfo) -> str:
        param = self.query_one("#launch-sweep-param", Select).value
        text = self.query_one("#launch-sweep-values", Input).value.strip()
        if param == NO_SWEEP or not isinstance(param, str):
            return ""
        if not text:
            hint = values_hint(chosen.params, param)
            return f"[$text-muted]the values of {escape(param)}, e.g. {escape(hint)}[/]"
        try:
            sweep = self._sweep(chosen)
            duration = field_seconds(
                self.query_one("#launch-duration", Input).value, "measure", 0.5
            )
            warmup = field_seconds(self.query_one("#launch-warmup", Input).value, "warm-up", 0.0)
        except WorkloadError as exc:
            return f"[$error]{escape(str(exc))}[/]"
        if sweep is None:
            return ""
        devices = len(self.query_one("#launch-devices", SelectionList).selected) or 1
        in_turn = self.query_one("#launch-sequential", Checkbox).value
        seconds = sweep_seconds(sweep, devices, in_turn, warmup + duration)
        together = "" if devices == 1 else " one device at a time" if in_turn else " together"
        shown = ", ".join(map(str, sweep.values))
        boundary = "; a value that runs out of memory ends the larger ones on its device"
        return (
            f"[$text-muted]{escape(shown)}: {len(sweep.values) * devices} runs{together}, "
            f"about {fmt.duration(seconds)}{boundary if sweep.numeric else ''}[/]"
        )

    @on(Button.Pressed, "#launch-cancel")
    def action_dismiss_none(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#launch-start")
    def action_start(self) -> None:
        try:
            request = self._request()
        except WorkloadError as exc:
            self.query_one("#launch-error", Static).update(f"[$error]{escape(str(exc))}[/]")
            return
        self.dismiss(request)

    def _given(self, chosen: WorkloadInfo, sweep: Sweep | None) -> dict[str, ParamValue]:
        """The values the fields set; a field left on its per-device default sets none."""
        given: dict[str, ParamValue] = {}
        for param in chosen.params:
            if sweep is not None and param.name == sweep.param:
                continue  # its values are the sweep's
            widget = self.query_one(f"#param-{param.name}")
            value = field_value(param, widget.value if isinstance(widget, Input | Select) else "")
            if value is not None:
                given[param.name] = value
        return given

    def _request(self) -> Launch:
        chosen = self._chosen()
        if chosen is None:
            raise WorkloadError("pick a workload")
        sweep = self._sweep(chosen)
        given = self._given(chosen, sweep)
        devices = tuple(self.query_one("#launch-devices", SelectionList).selected)
        if not devices:
            raise WorkloadError("pick at least one device")
        targets = {t.torch_device: t for t in self.targets}
        for device in devices:
            target = targets[device]
            refused = why_not_runnable(chosen, target)
            if refused is not None:
                raise WorkloadError(refused)
            try:  # every run's parameters on its device, before any starts
                if sweep is None:
                    run_params(chosen, given, target)
                else:
                    point_params(chosen, given, sweep, target)
            except WorkloadError as exc:
                raise WorkloadError(
                    f"{'sweep ' if sweep else ''}{exc} (on {target.label})"
                ) from None
        duration, warmup = self._times()
        hang_text = self.query_one("#launch-hang", Input).value.strip()
        hang = field_seconds(hang_text, "hang limit", 1.0) if hang_text else None
        sequential = self.query_one("#launch-sequential", Checkbox).value
        return Launch(chosen, given, devices, duration, warmup, sequential, sweep, hang)

    def _times(self) -> tuple[float, float]:
        """The measure and warm-up seconds the fields give; WorkloadError if they do not."""
        duration = field_seconds(self.query_one("#launch-duration", Input).value, "measure", 0.5)
        warmup = field_seconds(self.query_one("#launch-warmup", Input).value, "warm-up", 0.0)
        return duration, warmup

    def _sweep(self, chosen: WorkloadInfo) -> Sweep | None:
        choices = self.query("#launch-sweep-param")
        param = choices.first(Select).value if choices else NO_SWEEP
        if param == NO_SWEEP or not isinstance(param, str):
            return None
        text = self.query_one("#launch-sweep-values", Input).value.strip()
        if not text:
            raise WorkloadError(
                f"give the values to sweep {param} over, e.g. {values_hint(chosen.params, param)}"
            )
        try:
            return parse_sweep(f"{param}={text}", chosen.params)
        except WorkloadError as exc:
            raise WorkloadError(str(exc).removeprefix("--")) from None
