"""What every section needs: where to write, how to start gpuscope and torch, a GEMM load."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Context:
    out: Path  # the output folder: gpu-check.md, .json, captures, logs
    index: int  # the GPU checked: NVML index and cuda:N (CUDA_VISIBLE_DEVICES is not remapped)
    log: Callable[[str], None]

    @property
    def cuda(self) -> str:
        return f"cuda:{self.index}"

    @property
    def env(self) -> dict[str, str]:
        """Children import gpuscope from this source tree (and the carried wheels)."""
        paths = [str(REPO), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}

    def gpuscope(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "gpuscope", *args]

    def script(self, relative: str, *args: str) -> list[str]:
        return [sys.executable, str(REPO / relative), *args]

    def run(
        self, command: list[str], timeout_s: float, check: bool = True, echo: bool = False
    ) -> str:
        """stdout of ``command``; RuntimeError with its last stderr line on failure or timeout.

        ``echo``: log each line of its stdout as it comes (progress of the long sections).
        """
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",  # a reader that died on bad UTF-8 would stop draining the pipe
            env=self.env,
            cwd=REPO,
            start_new_session=True,  # its own process group: a timeout ends its children too
        )
        lines: list[str] = []
        errors: list[str] = []

        def pump(stream: IO[str], into: list[str], show: bool) -> None:
            for line in stream:
                into.append(line)
                if show:
                    self.log("    " + line.rstrip())

        assert process.stdout is not None and process.stderr is not None
        readers = [
            threading.Thread(target=pump, args=(process.stdout, lines, echo), daemon=True),
            threading.Thread(target=pump, args=(process.stderr, errors, False), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            process.wait(max(timeout_s, 1.0))
        except subprocess.TimeoutExpired:
            stop_group(process)
            raise RuntimeError(f"{_short(command)} timed out after {timeout_s:.0f} s") from None
        finally:
            for reader in readers:
                reader.join(5)
        if check and process.returncode != 0:
            last = "".join(errors or lines).strip().splitlines() or ["no output"]
            raise RuntimeError(f"{_short(command)} exited {process.returncode}: {last[-1][:300]}")
        return "".join(lines)

    def run_json(self, command: list[str], timeout_s: float) -> Any:
        return json.loads(self.run(command, timeout_s))

    @contextmanager
    def gemm_load(self, seconds: float, ready_timeout_s: float = 90.0) -> Iterator[float]:
        """A bf16 GEMM keeping the GPU busy; yields once it has run for its ramp-up.

        Yields the monotonic time it became ready. Stopped (killed if need be) on exit.
        """
        process = subprocess.Popen(
            self.script(
                "scripts/gpucheck/load.py", "--device", self.cuda, "--seconds", str(seconds)
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=self.env,
            start_new_session=True,
        )
        try:
            assert process.stdout is not None
            readable, _, _ = select.select([process.stdout], [], [], ready_timeout_s)
            line = process.stdout.readline() if readable else ""  # "ready", or "" at its exit
            if line.strip() != "ready":
                stop_group(process, grace_s=0)
                _, err = process.communicate(timeout=10)
                last = err.strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"GEMM load did not start: {last[0][:300]}")
            yield time.monotonic()
        finally:
            stop_group(process)


def stop_group(process: subprocess.Popen[str], grace_s: float = 5.0) -> None:
    """SIGTERM to the process group a child leads (its own children too: ``gpuscope bench``'s
    workload, a terminal's monitor), SIGKILL after ``grace_s``. Safe if it already ended."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(wait_s)
            break
        except subprocess.TimeoutExpired:
            continue


def settle_idle(
    read_power_w: Callable[[], float | None],
    timeout_s: float = 20.0,
    tolerance_w: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> float | None:
    """Wait until the GPU's power is steady (two reads 1 s apart within ``tolerance_w``), so a
    comparison is not taken on the tail of the previous section's load. The last power, or None
    if it never settled within ``timeout_s``."""
    previous = read_power_w()
    waited = 0.0
    while waited < timeout_s:
        sleep(1.0)
        waited += 1.0
        current = read_power_w()
        if previous is not None and current is not None and abs(current - previous) <= tolerance_w:
            return current
        previous = current
    return None


def _short(command: list[str]) -> str:
    shown = [Path(part).name if index < 2 else part for index, part in enumerate(command)]
    return " ".join(shown[:6]) + (" ..." if len(shown) > 6 else "")
