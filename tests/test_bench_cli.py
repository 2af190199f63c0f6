"""``gpuscope bench`` as a user runs it, on the CPU with tiny sizes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.plugin_files import counting_workload, workload_with_step, write_plugin
from tests.waiting import exited, wait_until

pytest.importorskip("torch")

GPUSCOPE = [sys.executable, "-m", "gpuscope"]


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GPUSCOPE, "bench", *args], capture_output=True, text=True, timeout=120)


def test_list_shows_workloads_parameters_and_broken_plugins(tmp_path: Path) -> None:
    broken = write_plugin(tmp_path, "oops", "import not_a_real_module\n")
    result = bench("--list", "--plugin", str(broken))
    assert result.returncode == 0, result.stderr
    assert "gemm" in result.stdout
    assert (
        "--dtype 'bf16'; where the device emulates it, its fastest native one "
        "(one of fp32, tf32, fp16, bf16, fp8, or best)" in result.stdout
    )
    assert "--size 8192, 2048 on cpu (>= 1)" in result.stdout  # each device's default
    assert (
        f"broken        {broken}: line 3: ModuleNotFoundError: No module named 'not_a_real_module'"
        in result.stdout
    )


def test_gemm_on_cpu_json(tmp_path: Path) -> None:
    result = bench(
        "gemm", "--dtype", "fp32", "--size=128", "--duration", "0.6", "--warmup", "0.1", "--json"
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["workload"] == "gemm" and report["device"] == "cpu" and report["unit"] == "FLOP"
    assert report["params"] == {"dtype": "fp32", "size": 128}
    assert report["units"] == report["steps"] * 2 * 128**3
    assert report["throughput"] == pytest.approx(report["units"] / report["seconds"])
    assert report["seconds"] == pytest.approx(0.6, abs=0.3)
    assert report["telemetry_device"] == "cpu"
    if report["energy_source"] is None:  # no readable RAPL here: unknown, never zero
        assert (
            report["energy_j"] is None
            and report["work_per_joule"] is None
            and report["energy_note"]
        )


def test_compare_prints_both_and_the_ratio(tmp_path: Path) -> None:
    counter = str(counting_workload(tmp_path))  # the table, not gemm: no torch in the children
    result = bench(
        "counter", "--plugin", counter, "--dtype", "fp32", "--compare", "cpu,cpu",
        "--duration", "0.4", "--warmup", "0.1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["workload", "device", "params", "throughput"]
    rows = [line for line in lines if line.split()[:2] == ["counter", "cpu"]]
    assert len(rows) == 2  # a line "counter on cpu: shared: ..." where the machine is busy
    assert lines[-1].startswith("cpu (fp32) vs cpu (fp32): throughput ")


def test_csv_output(tmp_path: Path) -> None:
    counter = str(counting_workload(tmp_path))
    result = bench("counter", "--plugin", counter, "--duration", "0.3", "--warmup", "0", "--csv")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.startswith("workload,device,telemetry_device,device_name,params,unit")
    assert row.startswith("counter,cpu,cpu,")


def test_plugin_from_the_command_line_runs(tmp_path: Path) -> None:
    plugin = workload_with_step(tmp_path, "counter", "return Work(units=5)")
    result = bench(
        "counter", "--plugin", str(plugin), "--duration", "0.3", "--warmup", "0", "--json"
    )
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["unit"] == "things" and report["units"] == 5 * report["steps"]


def test_crashing_plugin_is_one_line_exit_1(tmp_path: Path) -> None:
    plugin = workload_with_step(tmp_path, "segv", "import ctypes; ctypes.string_at(0)")
    result = bench("segv", "--plugin", str(plugin), "--duration", "0.3", "--warmup", "0")
    assert result.returncode == 1
    first, *context = result.stderr.strip().splitlines()
    assert first.startswith("gpuscope bench: segv on cpu: child killed by SIGSEGV without a result")
    # then what the child printed (here faulthandler's stack), marked as quoted output
    assert context[0] == "gpuscope bench:   last lines segv printed:"
    assert all(line.startswith("gpuscope bench:   | ") for line in context[1:])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "unknown workload 'nope' (available: axpy, cnn, gemm, memory-probe"),
        (["gemm", "--batch", "3"], "gemm has no parameter --batch"),
        (
            ["gemm", "--dtype", "int4"],
            "dtype must be one of fp32, tf32, fp16, bf16, fp8; got 'int4'",
        ),
        (["gemm", "--size", "abc"], "size must be int, got 'abc'"),
        (["gemm", "--device", "tpu:0"], "unknown device 'tpu:0'"),
        (["gemm", "--device", "cpu", "--compare", "cpu"], "give --device or --compare, not both"),
        (
            ["gemm", "--dtype", "tf32", "--size", "16", "--duration", "0.2"],
            "tf32 needs a CUDA device",
        ),
        ([], "name a workload"),
        (["memory-probe"], "memory-probe does not run on cpu (it supports cuda, rocm)"),
        (
            ["cnn", "--precision", "fp16", "--batch", "1", "--image-size", "32"],
            "fp16 autocast is for GPUs",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(args: list[str], message: str) -> None:
    result = bench(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_bench_parent_never_imports_torch() -> None:
    code = (
        "import sys\nfrom gpuscope.cli import main\n"
        "main(['bench', 'gemm', '--size', '32', '--duration', '0.2', '--warmup', '0', '--json'])\n"
        "assert 'torch' not in sys.modules and 'textual' not in sys.modules"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("name", "args", "unit"),
    [
        ("axpy", ["--size", "4096"], "bytes"),
        ("mlp-inference", ["--batch", "4", "--width", "32"], "samples"),
    ],
)
def test_example_plugins_from_the_project_folder_run(name: str, args: list[str], unit: str) -> None:
    result = bench(name, *args, "--duration", "0.3", "--warmup", "0", "--json")
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["unit"] == unit and report["throughput"] > 0 and report["tflops"] is not None


def _command_line(process: psutil.Process) -> str:
    """A process's command line; empty once it has exited (bench's short-lived children, the
    plugin and torch probes, end as zombies until reaped: psutil refuses their command line)."""
    try:
        return " ".join(process.cmdline())
    except psutil.Error:
        return ""


def wait_for_the_workload_child(proc: subprocess.Popen[str], poll_s: float) -> None:
    """Until bench has spawned its workload child; fails at once if bench exited first."""

    def started() -> bool:
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:  # bench itself ended: ``exited`` says how
            return False
        return any("spawn_main" in _command_line(child) for child in children)

    wait_until(
        started,
        "bench never started its workload child",
        exited(proc),
        poll_s=poll_s,
    )


def test_ctrl_c_in_a_terminal_stops_gracefully_with_a_partial_result(tmp_path: Path) -> None:
    # the third step leaves a mark: with --warmup 0 only the first warms up, so it measures
    measuring = tmp_path / "measuring"
    step = f"""
        self.steps = getattr(self, "steps", 0) + 1
        if self.steps == 3:
            open({str(measuring)!r}, "w").close()
        return Work(units=1)
    """
    plugin = workload_with_step(tmp_path, "spin", step)
    # A terminal's Ctrl-C signals the whole foreground process group: parent and child alike.
    proc = subprocess.Popen(
        [*GPUSCOPE, "bench", "spin", "--plugin", str(plugin), "--duration", "60", "--warmup", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_until(measuring.exists, "the workload never measured", exited(proc))
    os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "spin      cpu (stopped)" in stdout
    assert "KeyboardInterrupt" not in stderr and "Traceback" not in stderr


def test_ctrl_c_before_anything_was_measured_gives_no_throughput_and_no_traceback(
    tmp_path: Path,
) -> None:
    """Issue 21: a Ctrl-C as the child starts printed a KeyboardInterrupt traceback and "failed:
    child killed by SIGINT"; a run stopped before it measured was reported as 0 FLOP/s."""
    counter = str(counting_workload(tmp_path))  # no torch: set up at once, not in seconds
    proc = subprocess.Popen(
        [*GPUSCOPE, "bench", "counter", "--plugin", counter, "--warmup", "60", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    wait_for_the_workload_child(proc, 0.005)
    os.killpg(proc.pid, signal.SIGINT)  # as the child starts: the terminal's Ctrl-C
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    (report,) = json.loads(stdout)["reports"]
    assert report["stopped_early"] is True
    assert report["throughput"] is None and report["work_per_joule"] is None


def test_progress_shows_in_a_terminal_and_is_cleared(tmp_path: Path) -> None:
    """In a terminal, bench shows its progress on stderr (rich) and clears it before the table;
    through a pipe (every other test here) nothing but the table is printed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from terminal import PtyTerminal

    counter = str(counting_workload(tmp_path))  # the progress line, not gemm: no torch
    command = [*GPUSCOPE, "bench", "counter", "--plugin", counter, "--duration", "3",
               "--warmup", "0"]  # fmt: skip
    terminal = PtyTerminal(command, 120, 20)
    try:
        seen_progress = False
        deadline = time.monotonic() + 60
        while terminal.wait(0.1) is None:
            screen = terminal.screen()
            seen_progress |= "counter on cpu" in screen and "/3 s" in screen
            assert time.monotonic() < deadline, screen
        assert terminal.wait(1) == 0
        final = terminal.screen()
        assert seen_progress, final
        progress = [
            line for line in final.splitlines() if "counter on cpu" in line and "/3 s" in line
        ]
        assert not progress and "throughput" in final  # cleared, then the table
    finally:
        terminal.close()


def test_a_unit_that_looks_like_markup_is_printed_as_it_is(tmp_path: Path) -> None:
    """rich draws the progress and the table: a plugin's name or unit is text, never markup."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from terminal import PtyTerminal

    plugin = workload_with_step(tmp_path, "marked", "return 1")
    plugin.write_text(plugin.read_text().replace('unit = "things"', 'unit = "tok[/]"'))
    command = [*GPUSCOPE, "bench", "marked", "--plugin", str(plugin), "--duration", "1",
               "--warmup", "0"]  # fmt: skip
    terminal = PtyTerminal(command, 160, 20)
    try:
        assert terminal.wait(60) == 0, terminal.screen()
        assert "tok[/]/s" in terminal.screen() and "Traceback" not in terminal.screen()
    finally:
        terminal.close()


def test_a_sweep_records_the_memory_boundary_and_skips_what_lies_beyond(tmp_path: Path) -> None:
    plugin = write_plugin(
        tmp_path,
        "grows",
        """
        class Plugin(Workload):
            name = "grows"
            unit = "rows"
            devices = ("cpu",)
            params = (Param("rows", 1, minimum=1),)

            def setup(self, device, params):
                if params["rows"] > 4:  # as a model too big for the device
                    raise MemoryError(f"cannot hold {params['rows']} rows")
                self.rows = params["rows"]

            def step(self):
                return Work(units=self.rows)
        """,
    )
    args = ("grows", "--plugin", str(plugin), "--duration", "0.2", "--warmup", "0")
    result = bench(*args, "--sweep", "rows=1..16x2", "--json")
    assert result.returncode == 0, result.stderr  # the boundary is a result, not an error
    payload = json.loads(result.stdout)
    assert payload["sweep"] == {"param": "rows", "values": [1, 2, 4, 8, 16]}
    statuses = [(p["rows"], p["status"]) for p in payload["points"]]
    assert statuses == [(1, "measured"), (2, "measured"), (4, "measured"), (8, "oom"),
                        (16, "skipped")]  # fmt: skip
    measured = [p["report"] for p in payload["points"] if p["report"]]
    assert [r["params"]["rows"] for r in measured] == [1, 2, 4]
    assert all(r["peak_mem_source"] == "rss" and r["peak_mem_mib"] > 1 for r in measured)
    oom = payload["points"][3]
    assert "cannot hold 8 rows" in oom["note"]
    assert payload["points"][4]["note"] == "larger than 8, which ran out of memory on cpu"

    table = bench(*args, "--sweep", "rows=2,8")
    assert table.returncode == 0, table.stderr
    assert "rows swept over 2, 8" in table.stdout
    lines = table.stdout.splitlines()
    assert any(line.startswith("8 ") and "oom: out of host memory" in line for line in lines)

    csv_out = bench(*args, "--sweep", "rows=2,8", "--csv")
    header, *rows = csv_out.stdout.splitlines()
    assert header.startswith("sweep_param,sweep_value,sweep_device,status,note,workload,")
    assert [r.split(",")[:4] for r in rows] == [  # the device even where nothing was measured
        ["rows", "2", "cpu", "measured"],
        ["rows", "8", "cpu", "oom"],
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sweep", "size=8..4x2"), "the range must grow"),
        (
            ("--sweep", "size=64,128", "--size", "64"),
            "--size is swept: give its values in --sweep only",
        ),
        (("--sweep", "nope=1,2"), "no parameter 'nope'"),
    ],
)
def test_a_bad_sweep_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = bench("gemm", *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
