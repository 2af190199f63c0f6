"""A steady GEMM load for the readings and energy sections: plain torch, no gpuscope.

    python scripts/gpucheck/load.py --device cuda:0 --seconds 30

Prints ``ready`` once the GPU has been busy for ``--ramp`` seconds (clocks and power settled), then
keeps it busy until ``--seconds`` have passed or it is terminated.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--ramp", type=float, default=1.5)
    parser.add_argument("--size", type=int, default=8192)
    args = parser.parse_args()
    import torch

    a = torch.randn(args.size, args.size, device=args.device, dtype=torch.bfloat16)
    b = torch.randn(args.size, args.size, device=args.device, dtype=torch.bfloat16)
    out = torch.empty_like(a)
    start = time.monotonic()
    announced = False
    while time.monotonic() - start < args.seconds:
        for _ in range(20):  # ~20 ms of work per batch on an H100: the clock check stays cheap
            torch.matmul(a, b, out=out)
        torch.cuda.synchronize(args.device)
        if not announced and time.monotonic() - start >= args.ramp:
            print("ready", flush=True)
            announced = True


if __name__ == "__main__":
    main()
