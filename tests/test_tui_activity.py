"""The device panel of a GPU with activity counters (GPM): its fifth line, its charts, and that
the UI asks for the counters only while the Devices tab shows them (never with ``--no-gpm``)."""

from __future__ import annotations

from textual.widgets import Static

from gpuscope.measurement.achieved import achieved_estimate
from gpuscope.simulated.devices import SimulatedCpu
from gpuscope.telemetry.model import Reading
from gpuscope.tui.layout import panel_layout
from gpuscope.tui.panel_figures import activity_line
from tests.activity_device import ActivityDevice
from tests.tui_support import START_S, make_app, ready, tick


def gpm_app(device: ActivityDevice, **setup: object):  # type: ignore[no-untyped-def]
    return make_app(devices=[device, SimulatedCpu(START_S)], **setup)


async def test_the_devices_tab_asks_for_activity_while_shown_and_the_panel_shows_it() -> None:
    device = ActivityDevice()
    app = gpm_app(device)
    async with app.run_test(size=(120, 48)) as pilot:  # one panel a row: room for HMMA's share
        await ready(pilot)
        await tick(pilot, 3)
        assert device.wanted
        gpu = app.panels["nvidia:0"].text
        estimate = achieved_estimate(device.read(0.0), device.info)
        assert estimate is not None and estimate.gflop_per_j is not None
        line = gpu.splitlines()[4]
        assert line.startswith("SM 97%  occ 24%  tensor 70% (HMMA 70%)  DRAM 35%  ≈ ")
        assert f"≈ {estimate.tflops:.0f} TFLOP/s est, {estimate.gflop_per_j:.0f} GFLOP/J" in line
        assert "SM " not in app.panels["cpu"].text  # no counters: as before, four lines
        await pilot.press("2")  # Processes: nothing shows the counters, nobody reads them
        await tick(pilot, 2)
        assert not device.wanted and app.sampler is not None and not app.sampler.activity_wanted
        await pilot.press("1")
        await tick(pilot, 2)
        assert device.wanted


async def test_no_gpm_never_reads_them_and_the_header_says_why() -> None:
    """The device's own note (paused, as any device not asked) is all the panel can say; the
    header says the user turned GPM off (new-user trial: the cause was cut off the panel)."""
    from gpuscope.telemetry.gpm import NOT_WANTED

    device = ActivityDevice(note=NOT_WANTED)
    app = gpm_app(device, gpm=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        assert True not in device.told
        assert f"activity n/a ({NOT_WANTED})" in app.panels["nvidia:0"].text
        assert "GPM off (--no-gpm)" in app.header.text
    on = gpm_app(ActivityDevice())
    async with on.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        assert "GPM off" not in on.header.text


async def test_the_fifth_line_fits_the_panel_and_the_layout_makes_room_for_it() -> None:
    app = gpm_app(ActivityDevice())
    async with app.run_test(size=(80, 40)) as pilot:
        await ready(pilot)
        await tick(pilot, 3)
        await pilot.pause()
        panel = app.panels["nvidia:0"]
        for part in panel.query(".figures").results(Static):
            assert part.size.height == str(part.render()).count("\n") + 1  # no line wraps
        assert "SM 97%" in panel.text and "TFLOP/s est" in panel.text
        assert app.devices.layout_now == panel_layout(80, 40, 2, 1 + 1)  # absent line + GPM row
        assert not app.query_one("#panels-hint", Static).display  # both panels in sight


async def test_the_activity_charts_are_a_choice() -> None:
    app = gpm_app(ActivityDevice())
    async with app.run_test(size=(160, 48)) as pilot:
        await ready(pilot)
        app.chart_names = ("sm", "tens", "dram")
        await tick(pilot, 8)
        labels = [
            line.split()[0]
            for line in app.panels["nvidia:0"].charts_text.splitlines()
            if line[:1].strip()
        ]
        assert labels == ["sm", "tens", "dram"]
        cpu = app.panels["cpu"].charts_text.splitlines()
        assert [line.split()[:2] for line in cpu[:3]] == [["sm", "n/a:"], ["tens", "n/a:"],
                                                          ["dram", "n/a:"]]  # fmt: skip
        assert all("no GPM (an NVIDIA Hopper or newer GPU has it)" in line for line in cpu[:3])


def test_the_estimate_gives_way_to_the_width_and_an_unknown_part_says_why() -> None:
    device = ActivityDevice()
    device.want_activity(True)
    reading = device.read(1.0)
    assert "(HMMA" in activity_line(device.info, reading, 100)
    narrow = activity_line(device.info, reading, 72)
    assert "(HMMA" not in narrow and len(narrow) <= 72 and "TFLOP/s est" in narrow
    unknown = ActivityDevice(name="NVIDIA GeForce RTX 5090")
    line = activity_line(unknown.info, reading, 120)
    assert "TFLOP/s n/a (no datasheet peaks known for NVIDIA GeForce RTX 5090)" in line
    idle = Reading(time_s=1.0, wall_time_s=1.0)
    assert activity_line(device.info, idle, 80) == "activity n/a (not read now)"


async def test_the_compact_layout_reads_no_activity_unless_an_activity_chart_shows_it() -> None:
    """Review: at 80x24 the panels drop the activity line, yet GPM was read all the same."""
    device = ActivityDevice()
    app = gpm_app(device)
    async with app.run_test(size=(80, 16)) as pilot:  # two panels, too low for all lines
        await ready(pilot)
        await tick(pilot, 3)
        assert app.devices.layout_now.compact and not device.wanted
        app.chart_names = ("util", "sm")
        await tick(pilot)  # drawn: the chart asks
        await tick(pilot)  # the sampler tells the device at its next tick
        assert device.wanted  # the chart shows them now
        app.chart_names = ("util", "mem")
        await tick(pilot)
        await tick(pilot)
        assert not device.wanted
