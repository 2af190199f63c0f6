"""The ``ui`` section: gpuscope's UI against nvitop, side by side in one run, under a GEMM.

People leave a monitor open for hours, so the figure that counts is the steady state: both
tools are measured together (``benchmarks/tui_cpu.py --together``) over their first seconds and
again from ``STEADY_AFTER_S`` on, with gpuscope's first frame. Only the benchmark's command line
and its ``--json`` figures are used here.
"""

from __future__ import annotations

import importlib.util
import json
import shlex
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .context import Context
from .report import SectionResult, format_value
from .runner import Unsupported

STEADY_AFTER_S = 120  # the floor for "steady" in the check (its own benchmark: 660 s)
WINDOW_S = 20  # each measured window, first and steady
FIRST_FRAME_TARGET_S = 0.5
RUN_S = STEADY_AFTER_S + WINDOW_S + 25  # start, steady window, captures, closing: ~165 s
PEER = ("nvitop", "--monitor", "full", "--interval", "0.5")


def ui(ctx: Context, result: SectionResult, left_s: float) -> None:
    terminal = "tmux" if shutil.which("tmux") else "pty"
    if terminal == "pty" and importlib.util.find_spec("pyte") is None:
        raise Unsupported("neither tmux nor pyte (a carried wheel) is here to run a terminal in")
    peer = [sys.executable, "-m", *PEER] if importlib.util.find_spec("nvitop") else None
    # Both monitors run at once while a GEMM keeps the GPU busy (same conditions for both);
    # the captures are gpuscope's screens after its steady window.
    with tempfile.TemporaryDirectory() as tmp, ctx.gemm_load(seconds=RUN_S + 120):
        figures_path = Path(tmp) / "tui.json"
        ctx.run(
            ctx.script(
                "benchmarks/tui_cpu.py", "--seconds", str(WINDOW_S), "--interval", "0.5",
                "--steady-after", str(STEADY_AFTER_S), "--terminal", terminal,
                "--json", str(figures_path), "--capture-dir", tmp,
                *(["--together", "--peer", shlex.join(peer)] if peer else []),
            ),
            timeout_s=min(left_s - 5, RUN_S + 60),
        )  # fmt: skip
        measured = json.loads(figures_path.read_text())
        for screen in ("overview", "processes"):
            text = (Path(tmp) / f"gpuscope-{screen}.txt").read_text()
            (ctx.out / f"ui-gemm-{screen}.txt").write_text(text)
            title = f"gpuscope {screen} with a bf16 GEMM on {ctx.cuda} (160x48, {terminal})"
            result.texts[title] = text
    summarise_ui(result, measured, peer is not None, f"GEMM on {ctx.cuda}")
    result.summary += f"; captures with a GEMM running ({terminal})"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "MISSED", None: "not measured"}[met]


def summarise_ui(
    result: SectionResult, measured: list[dict[str, Any]], peer_wanted: bool, under: str
) -> None:
    """The figures and summary from ``tui_cpu.py --json``: gpuscope first, the peer second."""
    ours = measured[0]
    first_s = ours["first_frame_s"]
    fast = _verdict(first_s < FIRST_FRAME_TARGET_S)
    target = f"target < {FIRST_FRAME_TARGET_S} s: {fast}"
    result.figure("gpuscope first frame", first_s, "s", target)
    result.figure("gpuscope full screen", ours.get("full_screen_s"), "s")
    steady_from = ours.get("steady_after_s", STEADY_AFTER_S)
    first_label = f"first {WINDOW_S} s"
    steady_label = f"steady, {WINDOW_S} s from {steady_from:g} s on"
    setting = f"0.5 s, 160x48, {under}"
    our_steady = ours.get("steady_cpu_pct_one_core")
    no_steady = "" if our_steady is not None else "not measured: tui_cpu.py gave no steady figure"
    result.figure(f"gpuscope CPU, {first_label}", ours["cpu_pct_one_core"], "% of one core",
                  setting)  # fmt: skip
    result.figure(f"gpuscope CPU, {steady_label}", our_steady, "% of one core", no_steady)
    summary_end = f"first frame {first_s:.2f} s (target < {FIRST_FRAME_TARGET_S} s: {fast})"
    theirs = measured[1] if len(measured) > 1 else None
    if not peer_wanted or theirs is None:
        result.figure("nvitop CPU", None, "% of one core", "nvitop not importable (no wheel)")
        result.summary = (
            f"gpuscope {format_value(our_steady, '%')} of one core at steady state; nvitop not "
            f"importable; {summary_end}"
        )
        return
    if "error" in theirs:
        result.figure("nvitop CPU", None, "% of one core", f"not measured: {theirs['error']}")
        result.summary = (
            f"gpuscope {format_value(our_steady, '%')} of one core at steady state; nvitop "
            f"failed to run; {summary_end}"
        )
        return
    their_steady = theirs.get("steady_cpu_pct_one_core")
    result.figure(f"nvitop CPU, {first_label}", theirs["cpu_pct_one_core"], "% of one core",
                  f"{' '.join(PEER)}, same run")  # fmt: skip
    result.figure(f"nvitop CPU, {steady_label}", their_steady, "% of one core")
    first_ratio = _ratio(ours["cpu_pct_one_core"], theirs["cpu_pct_one_core"])
    steady_ratio = _ratio(our_steady, their_steady)
    at_most = _verdict(None if steady_ratio is None else steady_ratio <= 1.0)
    result.figure(f"gpuscope / nvitop CPU, {first_label}", first_ratio, "x")
    result.figure(f"gpuscope / nvitop CPU, {steady_label}", steady_ratio, "x",
                  f"target at most nvitop's (<= 1x): {at_most}")  # fmt: skip
    result.summary = (
        f"steady state (from {steady_from:g} s): gpuscope {format_value(our_steady, '%')} vs "
        f"nvitop {format_value(their_steady, '%')} of one core ({format_value(steady_ratio, 'x')};"
        f" target at most nvitop's: {at_most}); first {WINDOW_S} s "
        f"{format_value(ours['cpu_pct_one_core'], '%')} vs "
        f"{format_value(theirs['cpu_pct_one_core'], '%')}; {summary_end}"
    )


def _ratio(ours: float | None, theirs: float | None) -> float | None:
    return ours / theirs if ours is not None and theirs else None
