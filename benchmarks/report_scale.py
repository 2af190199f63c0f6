"""``gpuscope report`` at scale (issue 22): a day's recording at 10 Hz of two devices (about
200 MB of CSV), bench files of 3,000 and 20,000 runs, a recording of 100,000 devices and a
results file at the caps, each made into a report by the real command in a child process;
prints its wall time and peak RSS.

Targets: under 20 s and 500 MB for the recording, under 20 s for 20,000 runs; the largest
results file ``report`` accepts (its worst shape) well under 500 MB.

    python benchmarks/report_scale.py            # the issue's sizes, in a temporary folder
    python benchmarks/report_scale.py --hours 1  # a quicker look

Peak RSS is the child's own (``os.wait4``'s rusage, as ``resource.getrusage(RUSAGE_CHILDREN)``
gives it, but per child rather than the largest of all so far).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gpuscope.measurement.run_result import RunResult
from gpuscope.sinks.columns import COLUMN_NAMES

H100 = "NVIDIA H100 80GB HBM3"
START_S = 1_796_000_000.0


def write_recording(path: Path, hours: float, hz: float = 10.0, devices: int = 2) -> None:
    """Rows as ``gpuscope record`` writes them: every column, two GPUs, a slow power wave with
    a spike now and then."""
    origin = dt.datetime.fromtimestamp(START_S, dt.UTC)
    with path.open("w") as handle:
        handle.write(",".join(COLUMN_NAMES) + "\n")
        for tick in range(int(hours * 3600 * hz)):
            stamp = (origin + dt.timedelta(seconds=tick / hz)).isoformat(timespec="milliseconds")
            for n in range(devices):
                watts = 250 + 200 * ((tick // 600 + n) % 3) / 2 + (380 if tick % 9973 == 0 else 0)
                util = 100 if (tick // 600) % 3 else tick % 7
                cells = {
                    "timestamp": stamp, "device": f"nvidia:{n}", "vendor": "nvidia",
                    "status": "ok", "util_gpu_pct": util, "util_mem_pct": util // 2,
                    "mem_used_mib": 40000 + tick % 1000, "mem_total_mib": 81559,
                    "power_w": f"{watts:.1f}", "power_limit_w": 700,
                    "energy_j": f"{tick * 30.1:.1f}", "energy_source": "counter", "temp_c": 54,
                    "clock_core_mhz": 1980, "clock_mem_mhz": 2619, "pstate": 0,
                    "throttle_reasons": 0, "fan_pct": "", "process_count": 1,
                    "device_name": H100, "device_uuid": f"GPU-95357a56-6a4f-{n:04d}",
                    "device_driver": "580.159.04",
                }  # fmt: skip
                handle.write(",".join(str(cells.get(name, "")) for name in COLUMN_NAMES) + "\n")


def write_bench(path: Path, runs: int) -> None:
    """``bench --json`` of ``runs`` runs: GEMM at six sizes and two dtypes on three devices,
    run over and over."""
    reports = []
    for n in range(runs):
        device = ("cpu", "cuda:0", "cuda:1")[n % 3]
        size, dtype = (256 << (n // 3 % 6)), ("fp32", "bf16")[n // 18 % 2]
        throughput = (1e11 if device == "cpu" else 4e14) * (1 + (n % 97) / 100)
        report = RunResult(
            workload="gemm", device=device,
            telemetry_device="cpu" if device == "cpu" else f"nvidia:{device[-1]}",
            device_name=H100 if device != "cpu" else "AMD EPYC", unit="FLOP",
            params={"dtype": dtype, "size": size}, units=throughput * 10, seconds=10.0,
            steps=100, throughput=throughput, tflops=throughput / 1e12, energy_j=3000.0,
            avg_power_w=300.0, work_per_joule=throughput / 300, energy_source="counter",
            pct_of_peak=40.0, measured_from_s=START_S + n * 12, measured_to_s=START_S + n * 12 + 10,
        )  # fmt: skip
        reports.append(report.as_dict())
    path.write_text(json.dumps({"reports": reports}, indent=2))


def write_many_devices(path: Path, devices: int = 100_000) -> None:
    """A recording of one row per device, each device named once: ``report`` keeps 64."""
    origin = dt.datetime.fromtimestamp(START_S, dt.UTC)
    with path.open("w") as handle:
        handle.write("timestamp,device,power_w,util_gpu_pct,device_name\n")
        for n in range(devices):
            stamp = (origin + dt.timedelta(seconds=n / 10)).isoformat(timespec="milliseconds")
            handle.write(f"{stamp},remote-{n:06d}:0,{100 + n % 300},{n % 101},{H100}\n")


def write_worst_results(path: Path) -> None:
    """The results file that costs the most memory to read of those ``report`` accepts: as
    many empty objects as the value cap lets through (64 bytes each once parsed, 3 in the
    file) and one string to the byte cap with an emoji in it (so Python holds the text at 4
    bytes a character). ``report`` reads it and finds no runs in it: exit 0, an empty report."""
    from gpuscope.report.inputs import JSON_MAX_BYTES, JSON_VALUES_MAX

    head = '{"reports": [], "x": [' + ",".join(["{}"] * (JSON_VALUES_MAX // 2 - 10)) + "]"
    filler = JSON_MAX_BYTES - len(head) - 32
    path.write_text(head + ', "y": "\U0001f600' + "a" * filler + '"}')


def measure(inputs: list[Path], output: Path) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MB and the exit code of one ``gpuscope report``."""
    started = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-m", "gpuscope", "report", *map(str, inputs), "-o", str(output)],
        stdout=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, usage.ru_maxrss / 1024, child.returncode


def make_inputs(root: Path, hours: float, runs: list[int]) -> list[tuple[str, list[Path]]]:
    """The inputs, and a name for each that gives its size."""
    cases = []
    recording = root / "day.csv"
    write_recording(recording, hours)
    megabytes = recording.stat().st_size / 1e6
    cases.append((f"recording, {hours:g} h at 10 Hz, 2 devices ({megabytes:.0f} MB)",
                  [recording]))  # fmt: skip
    for count in runs:
        bench = root / f"bench-{count}.json"
        write_bench(bench, count)
        size = bench.stat().st_size / 1e6
        cases.append((f"bench file, {count:,} runs ({size:.0f} MB)", [bench]))
    many = root / "devices.csv"
    write_many_devices(many)
    cases.append((f"recording, 100,000 devices ({many.stat().st_size / 1e6:.1f} MB)", [many]))
    worst = root / "worst.json"
    write_worst_results(worst)
    cases.append((f"results file at the caps, worst shape ({worst.stat().st_size / 1e6:.0f} MB)",
                  [worst]))  # fmt: skip
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="recording length (24)")
    parser.add_argument("--runs", default="3000,20000", help="bench sizes (3000,20000)")
    parser.add_argument("--make", type=Path, help=argparse.SUPPRESS)  # the generating child
    args = parser.parse_args()
    runs = [int(r) for r in args.runs.split(",")]
    if args.make is not None:
        cases = make_inputs(args.make, args.hours, runs)
        print(json.dumps([(name, [str(p) for p in paths]) for name, paths in cases]))
        return
    with tempfile.TemporaryDirectory(prefix="gpuscope-report-scale-") as folder:
        root = Path(folder)
        # made in a child: a child's peak RSS starts from this process's size at its fork
        made = subprocess.run(
            [sys.executable, __file__, "--make", str(root), "--hours", str(args.hours),
             "--runs", args.runs],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        cases = [(name, [Path(p) for p in paths]) for name, paths in json.loads(made.stdout)]
        print(f"{'input':<52} {'wall s':>8} {'peak RSS MB':>12} {'exit':>5}")
        for n, (name, inputs) in enumerate(cases):
            wall, rss, code = measure(inputs, root / f"report-{n}.html")
            print(f"{name:<52} {wall:8.1f} {rss:12.0f} {code:5d}", flush=True)


if __name__ == "__main__":
    main()
