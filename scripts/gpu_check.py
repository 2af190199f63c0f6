#!/usr/bin/env python3
"""The whole GPU check of gpuscope in one command, for a machine with an NVIDIA GPU.

Every section measures gpuscope side by side with its reference on the same machine in the same
run (nvidia-smi, the raw NVML counter, plain torch, nvitop, gpustat) and writes what it found to
``OUT/gpu-check.md`` and ``OUT/gpu-check.json`` (rewritten after each section, so a run cut short
keeps what it measured). Sections that fail or that this machine cannot run say so; the rest go
on. Without an NVIDIA GPU it says so in one line and exits 1 at once.

    python3 scripts/gpu_check.py --fetch-wheels .whl           # here, with network: the wheels
    python3 scripts/gpu_check.py --wheels .whl --out gpu-out   # there: what fits in ~9 min
    python3 scripts/gpu_check.py --wheels .whl --out gpu-out2 --only ui,memory-probe  # the rest

docs/benchmarks.md ("The GPU check") has the steps and what each section compares; the time
each section needs is in scripts/gpucheck/sections.py.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
DEFAULT_BUDGET_S = 520.0  # a lent machine runs one command for at most 10 minutes; 9 for us
SITE_VARIABLE = "GPUSCOPE_CHECK_SITE"  # set once the carried wheels are on PYTHONPATH


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.fetch_wheels:
        from gpucheck.wheels import fetch_wheels

        return fetch_wheels(args.fetch_wheels)
    if args.out is None:
        print("gpu_check: --out DIR is required (where gpu-check.md and .json go)", file=sys.stderr)
        return 2
    if args.out.exists() and not args.out.is_dir():
        print(f"gpu_check: --out {args.out} is a file, not a folder", file=sys.stderr)
        return 2
    if not 0 < args.budget < float("inf"):  # also refuses NaN
        print(f"gpu_check: --budget must be a positive number of seconds, got {args.budget}",
              file=sys.stderr)  # fmt: skip
        return 2
    if args.only:
        from gpucheck.sections import SECTIONS

        names = [name for name, *_ in SECTIONS]
        unknown = sorted(set(args.only.split(",")) - set(names))
        if unknown:
            print(
                f"gpu_check: unknown section {', '.join(unknown)} (sections: {', '.join(names)})",
                file=sys.stderr,
            )
            return 2
    wheels_problem = check_wheels(args.wheels) if args.wheels else None
    if wheels_problem:
        print(f"gpu_check: {wheels_problem}", file=sys.stderr)
        return 2
    why_not = no_gpu_reason(args.index)
    if why_not:
        print(f"gpu_check: no NVIDIA GPU here: {why_not}", file=sys.stderr)
        return 1
    if args.wheels and SITE_VARIABLE not in os.environ:
        return _reexec_with_wheels(args.wheels, argv)
    return run_check(args)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="output folder (created)")
    parser.add_argument("--wheels", type=Path, help="folder of carried pure-Python wheels")
    parser.add_argument("--fetch-wheels", type=Path, metavar="DIR", help="download them (network)")
    parser.add_argument("--budget", type=float, default=DEFAULT_BUDGET_S, metavar="S")
    parser.add_argument("--index", type=int, default=0, help="which GPU (NVML index = cuda:N)")
    parser.add_argument("--only", help="comma-separated section names (default: all)")
    return parser


def check_wheels(folder: Path) -> str | None:
    """Why the carried wheels cannot be used, or None."""
    found = sorted(folder.glob("*.whl"))
    if not found:
        return f"no wheels in {folder}"
    if any(w.name.lower().startswith("torch-") for w in found):
        return "refusing a torch wheel: the GPU machine brings its own"
    return None


def _reexec_with_wheels(wheels: Path, argv: list[str] | None) -> int:
    """Install the carried wheels into a private folder (never torch, never from a network) and
    run this script again with that folder on PYTHONPATH, so children see them too."""
    found = sorted(wheels.glob("*.whl"))
    site = Path(tempfile.mkdtemp(prefix="gpuscope-check-site-"))
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
         "--disable-pip-version-check", "--target", str(site), *map(str, found)],
        capture_output=True,
        text=True,
    )  # fmt: skip
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        print(f"gpu_check: installing the wheels failed: {last[0]}", file=sys.stderr)
        return 2
    print(f"installed {len(found)} carried wheels into {site}", flush=True)
    paths = [str(site), str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(":"))]
    env = {**os.environ, SITE_VARIABLE: str(site), "PYTHONPATH": os.pathsep.join(paths)}
    env["PATH"] = f"{site / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        *(sys.argv[1:] if argv is None else argv),
    ]
    try:
        return subprocess.run(command, env=env).returncode
    finally:
        shutil.rmtree(site, ignore_errors=True)


def no_gpu_reason(index: int) -> str | None:
    """None when NVML lists GPU ``index``; else why not, in a few words."""
    if shutil.which("nvidia-smi") is None:
        return "nvidia-smi not on PATH (no NVIDIA driver)"
    from gpuscope.telemetry.discover import discover

    with discover(["nvidia"]) as found:
        ids = [d.info.device_id for d in found.devices]
        if f"nvidia:{index}" not in ids:
            return "; ".join(found.absent) or f"NVML lists {len(ids)} GPUs, not GPU {index}"
    return None


def machine_facts(index: int) -> dict[str, Any]:
    import pynvml as nv

    from gpuscope import __version__
    from gpuscope.telemetry.cpu import cpu_model_name
    from gpuscope.telemetry.discover import discover

    facts: dict[str, Any] = {}
    with discover(["nvidia"]) as found:  # gpuscope's own probe: what it says of the GPU
        (device,) = (d for d in found.devices if d.info.device_id == f"nvidia:{index}")
        info, reading = device.info, device.read(time.monotonic())
        facts["gpu"] = info.name
        facts["gpu uuid"] = info.uuid
        facts["driver"] = info.driver
        facts["nvml"] = _text(nv.nvmlSystemGetNVMLVersion())  # NVML is open inside the block
        cuda = nv.nvmlSystemGetCudaDriverVersion()
        facts["cuda driver"] = f"{cuda // 1000}.{cuda % 1000 // 10}"
        facts["gpu memory MiB"] = info.mem_total_mib
        facts["power limit W"] = reading.power_limit_w
        facts["gpus on host"] = len(found.devices)
    torch_line = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.__version__, torch.version.cuda)"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.split()
    facts["torch"] = torch_line[0] if torch_line else "not importable"
    facts["torch cuda"] = torch_line[1] if len(torch_line) > 1 else None
    facts["python"] = platform.python_version()
    facts["nvidia-ml-py"] = _version("nvidia-ml-py")
    facts["textual"] = _version("textual")
    facts["nvitop"] = _version("nvitop")
    facts["gpustat"] = _version("gpustat")
    facts["gpuscope"] = f"{__version__} ({_git_head()})"
    facts["host cpu"] = cpu_model_name()
    facts["host cores"] = os.cpu_count()
    facts["command"] = "python3 scripts/gpu_check.py " + " ".join(sys.argv[1:])
    return facts


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _git_head() -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip() or "not a git checkout"


def run_check(args: argparse.Namespace) -> int:
    from gpucheck.context import Context
    from gpucheck.report import CheckReport, Status, write_json, write_markdown
    from gpucheck.runner import run_sections
    from gpucheck.sections import all_sections

    started = time.monotonic()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    log_file = (out / "gpu-check.log").open("w")

    def log(line: str) -> None:
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    log(f"gpuscope GPU check: GPU {args.index}, budget {args.budget:.0f} s, output in {out}")
    facts = machine_facts(args.index)
    log(", ".join(f"{key} {value}" for key, value in facts.items() if key != "command"))
    report = CheckReport(
        date=time.strftime("%Y-%m-%d %H:%M %Z"), machine=facts, budget_s=args.budget
    )

    def save(results: list[Any]) -> None:
        report.sections = list(results)
        report.elapsed_s = time.monotonic() - started
        write_json(report, out / "gpu-check.json")
        write_markdown(report, out / "gpu-check.md")

    ctx = Context(out=out, index=args.index, log=log)
    only = set(args.only.split(",")) if args.only else None
    results = run_sections(
        all_sections(ctx),
        budget_s=args.budget - (time.monotonic() - started),
        log=log,
        only=only,
        after_each=save,
    )
    save(results)
    failed = [r.name for r in results if r.status is Status.FAILED]
    log(
        f"done in {time.monotonic() - started:.0f} s: {out / 'gpu-check.md'}"
        + (f"; failed: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
