"""gpuscope's bundled workloads against plain torch, side by side in one run.

Targets (issue 3): the bundled GEMM reaches >= 97 % of plain ``torch.matmul`` on the same device
in the same run; ResNet-50 and LSTM training are within 5 % of plain torch. The plain loops below
build the same tensors and models as the workloads, warm up the same way, synchronise at both
ends, and are timed in this process; gpuscope's runs are ``gpuscope bench --json`` as a user runs
it (child process, events, sampler window), which also gives work per joule and % of peak. The
order alternates (plain, gpuscope, plain) and the plain figure is the mean of the two, so drift
does not favour either side.

    python benchmarks/workload_overhead.py                  # CPU, small sizes
    python benchmarks/workload_overhead.py --device cuda:0  # the sizes of the H100 reference
    python benchmarks/workload_overhead.py --device cuda:0 --cases gemm --json figures.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from gpuscope.units import format_rate  # noqa: E402
from gpuscope.workloads.api import Work, Workload, resolve_params  # noqa: E402
from gpuscope.workloads.registry import find_workloads  # noqa: E402

CASES: dict[str, dict[str, tuple[str, dict[str, Any], float]]] = {
    # device kind -> case -> (workload, params, target fraction of plain torch)
    "cpu": {
        "gemm fp32 n=1024": ("gemm", {"dtype": "fp32", "size": 1024}, 0.97),
        "resnet50 train fp32 b=8 64px": (
            "cnn",
            {"precision": "fp32", "batch": 8, "image_size": 64},
            0.95,
        ),
        "lstm train fp32 b=16 h=256": ("rnn", {"batch": 16, "hidden": 256, "vocab": 2000}, 0.95),
    },
    "cuda": {
        "gemm bf16 n=8192": ("gemm", {"dtype": "bf16", "size": 8192}, 0.97),
        "gemm fp16 n=8192": ("gemm", {"dtype": "fp16", "size": 8192}, 0.97),
        "gemm tf32 n=8192": ("gemm", {"dtype": "tf32", "size": 8192}, 0.97),
        "gemm fp32 n=8192": ("gemm", {"dtype": "fp32", "size": 8192}, 0.97),
        "gemm fp8 n=8192": ("gemm", {"dtype": "fp8", "size": 8192}, 0.97),
        "resnet50 train bf16 b=256": ("cnn", {"precision": "bf16", "batch": 256}, 0.95),
        "resnet50 infer bf16 b=256": (
            "cnn",
            {"mode": "infer", "precision": "bf16", "batch": 256},
            0.95,
        ),
        "lstm train fp32 b=64": ("rnn", {}, 0.95),
    },
}


def plain_rate(
    cls: type[Workload], device: str, params: dict[str, Any], warmup_s: float, seconds: float
) -> float:
    """Units per second of the workload's own setup driven by a bare loop: no runner, no events.

    The workload object only builds the tensors and the model; timing, synchronisation and the
    loop are the plain-torch ones a user would write.
    """
    import torch

    workload = cls()
    workload.setup(device, resolve_params(cls, params))
    sync: Callable[[], None] = (
        (lambda: torch.cuda.synchronize(device)) if device != "cpu" else (lambda: None)
    )
    step = workload.step
    if cls.name == "gemm" and params.get("dtype") != "fp8":
        step = _plain_matmul(workload)
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        step()
    sync()
    units = 0.0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        done = step()
        units += done.units if isinstance(done, Work) else float(done)
    sync()
    rate = units / (time.perf_counter() - start)
    workload.teardown()
    return rate


def _plain_matmul(gemm: Any) -> Callable[[], float]:
    """``a @ b`` exactly as a user would write it (allocating its output), for GEMM's baseline."""
    a, b = gemm._a, gemm._b
    flops = 2.0 * a.shape[0] * a.shape[1] * b.shape[1]

    def step() -> float:
        _ = a @ b
        return flops

    return step


def gpuscope_report(
    name: str, device: str, params: dict[str, Any], warmup_s: float, seconds: float
) -> dict[str, Any]:
    """``gpuscope bench NAME --json`` on ``device``: the report a user gets (throughput, work/J,
    % of peak, energy source). RuntimeError with gpuscope's own message when it fails."""
    command = [
        sys.executable, "-m", "gpuscope", "bench", name, "--device", device,
        "--duration", str(seconds), "--warmup", str(warmup_s), "--json",
        *(f"--{key}={value}" for key, value in params.items()),
    ]  # fmt: skip
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=seconds + warmup_s + 240
    )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines() or ["no output"]
        raise RuntimeError(f"gpuscope bench exited {done.returncode}: {lines[-1]}")
    report: dict[str, Any] = json.loads(done.stdout)["reports"][0]
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--cases", help="only the cases whose name contains one of these (a,b)")
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    args = parser.parse_args()
    import torch

    if args.device == "cpu":
        torch.set_num_threads(torch.get_num_threads())  # both sides use all cores
    catalog = find_workloads(plugin_dirs=[], use_entry_points=False)
    kind = "cpu" if args.device == "cpu" else "cuda"
    print(
        f"{time.strftime('%Y-%m-%d')}  torch {torch.__version__}  device {args.device}"
        + (f" ({torch.cuda.get_device_name(args.device)})" if kind == "cuda" else "")
    )
    print(f"{'case':<30}{'plain torch':>18}{'gpuscope':>18}{'ratio':>8}  target")
    wanted = [part for part in (args.cases or "").split(",") if part]
    figures: dict[str, dict[str, Any]] = {}
    for case, (name, params, target) in CASES[kind].items():
        if wanted and not any(part in case for part in wanted):
            continue
        cls = catalog.workloads[name].ref.load()  # bundled: its class, for plain torch
        case_started = time.monotonic()
        try:
            first = plain_rate(cls, args.device, params, args.warmup, args.seconds)
            report = gpuscope_report(name, args.device, params, args.warmup, args.seconds)
            second = plain_rate(cls, args.device, params, args.warmup, args.seconds)
        except Exception as exc:  # e.g. fp8 on a GPU without it: say so and go on
            print(f"{case:<30}  not measured: {str(exc).splitlines()[0]}")
            figures[case] = {"error": str(exc).splitlines()[0], "target": target}
            _release_memory(args.device)
            _save(args.json, figures)
            continue
        _release_memory(args.device)
        ours = float(report["throughput"])
        plain = (first + second) / 2
        ratio = ours / plain
        verdict = "meets" if ratio >= target else "MISSES"
        print(
            f"{case:<30}{format_rate(plain, cls.unit):>18}{format_rate(ours, cls.unit):>18}"
            f"{ratio:>8.1%}  >= {target:.0%}: {verdict}  (plain runs {first:.4g}, {second:.4g})"
        )
        figures[case] = {
            "unit": f"{cls.unit}/s",
            "plain": plain,
            "plain_runs": [first, second],
            "gpuscope": ours,
            "ratio": ratio,
            "target": target,
            "meets": ratio >= target,
            "report": report,
            "wall_s": time.monotonic() - case_started,
        }
        _save(args.json, figures)


def _save(path: Path | None, figures: dict[str, dict[str, Any]]) -> None:
    """After every case, so a run cut short by its caller keeps the cases it finished."""
    if path is not None:
        path.write_text(json.dumps(figures, indent=1) + "\n")


def _release_memory(device: str) -> None:
    """Hand cached blocks back so the next case's child finds the device's memory free."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
