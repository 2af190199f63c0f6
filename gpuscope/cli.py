"""The ``gpuscope`` command line: parses arguments and turns every failure into one line.

Subcommands import their modules lazily, so ``gpuscope list`` and ``gpuscope record`` never pay for
Textual or torch.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from gpuscope import __version__
from gpuscope.commands.jobs import add_jobs_parser
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.intervals import DEFAULT_INTERVAL_S, MAX_INTERVAL_S, MIN_INTERVAL_S, SERVE_INTERVAL_S
from gpuscope.safe_text import one_line

CPU_TDP_HELP = (
    "the CPU's TDP in watts (all sockets): estimate CPU power and energy where RAPL cannot be "
    "read, labelled 'estimate' (default: cpu_tdp_w in the config file)"
)


def _add_interval(
    parser: argparse._ActionsContainer, default: float, dest: str = "interval"
) -> None:
    """``-i/--interval`` as every command that samples takes it (checked by the sampler)."""
    parser.add_argument(
        "-i", "--interval", dest=dest, type=float, default=default, metavar="S",
        help=f"seconds between samples ({MIN_INTERVAL_S:g} to {MAX_INTERVAL_S:g}, "
        f"default {default:g})",
    )  # fmt: skip


def _add_cpu_tdp(parser: argparse._ActionsContainer, dest: str = "cpu_tdp") -> None:
    """The same option on every command that samples (checked by config.cpu_power_model)."""
    parser.add_argument("--cpu-tdp", dest=dest, type=float, metavar="W", help=CPU_TDP_HELP)


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _run_list(args: argparse.Namespace) -> int:
    from gpuscope.commands.listing import run_list

    return run_list(as_json=args.json, cpu_tdp_w=args.cpu_tdp)


def _run_record(args: argparse.Namespace) -> int:
    from gpuscope.commands.record import RecordOptions, run_record

    return run_record(
        RecordOptions(
            output=args.output,
            interval_s=args.interval,
            duration_s=args.duration,
            devices=args.devices,
            fmt=args.format,
            force=args.force,
            cpu_tdp_w=args.cpu_tdp,
            processes=args.processes,
            gpm=args.gpm,
        )
    )


def _run_bench(args: argparse.Namespace) -> int:
    from gpuscope.commands.bench import BenchOptions, run_bench

    if args.device and args.compare is not None:
        raise UsageError("give --device or --compare, not both")
    devices = args.compare.split(",") if args.compare is not None else [args.device or "cpu"]
    return run_bench(
        BenchOptions(
            workload=args.workload,
            devices=tuple(d.strip() for d in devices if d.strip()),
            duration_s=args.duration,
            warmup_s=args.warmup,
            output_format="json" if args.json else "csv" if args.csv else "table",
            plugin_files=tuple(args.plugin),
            list_only=args.list,
            param_args=tuple(args.extra),
            hang_timeout_s=args.hang_timeout,
            debug=args.debug,
            cpu_tdp_w=args.cpu_tdp,
            sweep=args.sweep,
        )
    )


def _run_report(args: argparse.Namespace) -> int:
    from gpuscope.commands.report import ReportOptions, run_report

    return run_report(
        ReportOptions(
            inputs=tuple(args.inputs),
            output=args.output,
            output_format=args.format,
            force=args.force,
        )
    )


def _run_suite(args: argparse.Namespace) -> int:
    from gpuscope.commands.suite import SuiteOptions, run_suite

    stamp = time.strftime("%Y%m%d-%H%M%S")
    devices = None  # all
    if args.devices is not None:
        devices = tuple(d.strip() for d in args.devices.split(",") if d.strip())
    return run_suite(
        started_s=args.started_s,
        options=SuiteOptions(
            budget_s=args.budget,
            devices=devices,
            output_dir=args.output or Path(f"gpuscope-suite-{stamp}"),
            cpu_tdp_w=args.cpu_tdp,
            debug=args.debug,
        ),
    )


def _run_serve(args: argparse.Namespace) -> int:
    from gpuscope.commands.serve import run_serve, serve_options

    return run_serve(serve_options(args))


def _run_ui(args: argparse.Namespace) -> int:
    from gpuscope.commands.ui import UiOptions, run_ui

    return run_ui(
        UiOptions(
            interval_s=args.ui_interval,
            demo=args.demo,
            light=args.light,
            plugin_files=tuple(args.ui_plugin),
            record_dir=args.record_dir,
            remotes=tuple(args.remote),
            serve=args.serve,
            cpu_tdp_w=args.ui_cpu_tdp,
            gpm=not args.no_gpm,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="gpuscope",
        allow_abbrev=False,  # a workload's --de must never be taken for --debug or --demo
        description="Live GPU and CPU telemetry: utilization, memory, power and energy. "
        "Without a command, opens the terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"gpuscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    ui = parser.add_argument_group("terminal UI (no command)")
    ui.add_argument("--demo", action="store_true", help="simulated GPUs beside the real CPU")
    _add_interval(ui, DEFAULT_INTERVAL_S, dest="ui_interval")  # its own dest, as --cpu-tdp's
    ui.add_argument("--light", action="store_true", help="light theme")
    ui.add_argument(
        "--plugin", dest="ui_plugin", action="append", type=Path, default=[], metavar="FILE"
    )
    ui.add_argument(
        "--record-dir",
        type=Path,
        default=Path("."),
        metavar="DIR",
        help="where r (record) and s (save results) write",
    )
    ui.add_argument(
        "--remote",
        action="append",
        default=[],
        metavar="URL",
        help="another host's gpuscope serve, e.g. http://hostA:9400 (repeatable)",
    )
    ui.add_argument(
        "--serve",
        metavar="HOST:PORT",
        help="also export /metrics from the UI, with its workload results (e.g. 127.0.0.1:9400)",
    )
    ui.add_argument(
        "--no-gpm",
        action="store_true",
        help="never read GPU activity counters (GPM), not even while the Devices tab shows "
        "them: they share the hardware counters with DCGM's profiling",
    )
    _add_cpu_tdp(ui, dest="ui_cpu_tdp")  # its own dest: a command's default must not reset it
    parser.set_defaults(run=_run_ui)
    commands = parser.add_subparsers(dest="command", parser_class=_OneLineParser)

    listing = commands.add_parser("list", help="devices found, what each supports, absent backends")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _add_cpu_tdp(listing)  # so list shows the energy source the other commands will use
    listing.set_defaults(run=_run_list)

    record = commands.add_parser("record", help="sample every device to CSV or JSON lines")
    record.add_argument("-o", "--output", default="-", help="file to write, - for stdout (default)")
    _add_interval(record, DEFAULT_INTERVAL_S)
    record.add_argument(
        "-d",
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds, at most 366 days (default: Ctrl-C)",
    )
    record.add_argument(
        "--devices",
        default="all",
        help="comma-separated: all, gpu, nvidia, amd, cpu, nvidia:0 or cuda:0, a UUID",
    )
    record.add_argument("-f", "--format", choices=("csv", "jsonl"), default="csv")
    record.add_argument("--force", action="store_true", help="overwrite an existing output file")
    record.add_argument(
        "--processes",
        metavar="FILE",
        help="also write one row per GPU process per sample to FILE (same format), with the "
        "energy charged to it: by SM share (labelled estimate), or all of its GPU's as the sole "
        "compute process where the driver gives no shares (energy_basis says which)",
    )
    record.add_argument(
        "--gpm",
        action="store_true",
        help="also record GPU activity counters (NVML GPM, Hopper and newer: SM active, tensor, "
        "DRAM, ...) and the achieved TFLOP/s estimate; off by default, as DCGM's profiling "
        "shares these counters",
    )
    _add_cpu_tdp(record)
    record.set_defaults(run=_run_record)

    serve = commands.add_parser(
        "serve",
        help="Prometheus exporter: /metrics for every device",
        description="Serves Prometheus metrics on 127.0.0.1:9400 unless --listen says otherwise; "
        "listening on other interfaces exposes this machine's telemetry to the network.",
    )
    serve.add_argument(
        "--listen", default="127.0.0.1:9400", metavar="HOST:PORT", help=":9400 for all interfaces"
    )
    _add_interval(serve, SERVE_INTERVAL_S)
    serve.add_argument("--devices", default="all", help="as for record")
    serve.add_argument("--host-label", metavar="NAME", help="the host label (default: host name)")
    serve.add_argument(
        "--gpm",
        action="store_true",
        help="also export GPU activity counters (NVML GPM, Hopper and newer) and the achieved "
        "FLOP/s estimate; off by default, as DCGM's profiling shares these counters",
    )
    serve.add_argument(
        "--job-retention", type=float, metavar="SECONDS",
        help="keep a job's series this long after its last process left the GPU (default 600, "
        "at least 10: a scrape must see its last figures)",
    )  # fmt: skip
    _add_cpu_tdp(serve)
    serve.set_defaults(run=_run_serve)

    bench = commands.add_parser(
        "bench",
        help="run a workload on devices: throughput, energy, work per joule",
        description="Workload parameters follow the workload name, e.g. "
        "gpuscope bench gemm --dtype bf16 --size 4096 (gpuscope bench --list shows them).",
        allow_abbrev=False,  # so a workload's --dur or --dev is never taken for ours
    )
    bench.add_argument("workload", nargs="?", help="workload name (see --list)")
    bench.add_argument("--list", action="store_true", help="workloads, parameters, broken plugins")
    bench.add_argument("--device", help="cpu (default), cuda:N or nvidia:N, rocm:N or amd:N")
    bench.add_argument("--compare", metavar="DEVICES", help="e.g. cpu,cuda:0: one run on each")
    bench.add_argument(
        "--sweep",
        metavar="PARAM=VALUES",
        help="run each value on each device: size=256,512,1024 or size=256..8192x2 "
        "(a value that runs out of memory is recorded as OOM, larger ones skipped)",
    )
    bench.add_argument("--duration", type=float, default=10.0, metavar="S", help="measured seconds")
    bench.add_argument("--warmup", type=float, default=2.0, metavar="S", help="unmeasured seconds")
    bench.add_argument("--plugin", action="append", type=Path, default=[], metavar="FILE")
    _add_cpu_tdp(bench)
    bench.add_argument(
        "--hang-timeout",
        type=float,
        default=None,
        metavar="S",
        help="kill a run silent this long (default: 120 s of setup, then 30 s)",
    )
    bench.add_argument(  # also after the command; SUPPRESS keeps a top-level --debug
        "--debug", action="store_true", default=argparse.SUPPRESS, help="show a run's traceback"
    )
    output = bench.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--csv", action="store_true")
    bench.set_defaults(run=_run_bench)

    report = commands.add_parser(
        "report",
        help="bench, sweep and record files made into one HTML (or Markdown) report",
        description="Inputs: files from bench --json, bench --sweep --json, and record.",
    )
    report.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                        help="a file, or - for stdin (read once, at most 2 GiB)")  # fmt: skip
    report.add_argument("-o", "--output", type=Path, required=True, metavar="FILE",
                        help="FILE.html or FILE.md (the suffix picks the format)")  # fmt: skip
    report.add_argument(
        "--format",
        choices=("html", "md"),
        default=None,
        help="html (one self-contained file) or md (PNG charts beside it); default: -o's suffix",
    )
    report.add_argument("--force", action="store_true", help="overwrite an existing output")
    report.set_defaults(run=_run_report)

    suite = commands.add_parser(
        "suite",
        help="the standard workloads on the CPU and every GPU, within a budget, and a report",
        description="GEMM at each device's best native precision and at fp32, ResNet-50 train "
        "and infer and the LSTM at each device's best, and the memory probe (GPUs), on every "
        "device, all within --budget seconds; writes suite.json, record.csv and report.html to "
        "a new folder.",
    )
    suite.add_argument("--budget", type=float, default=300.0, metavar="S",
                       help="seconds for the whole suite (default 300)")  # fmt: skip
    suite.add_argument("--devices", metavar="LIST",
                       help="e.g. cpu,cuda:0 or cpu,nvidia:0 (default: all)")  # fmt: skip
    suite.add_argument("-o", "--output", type=Path, metavar="DIR",
                       help="a new folder (default gpuscope-suite-DATE-TIME)")  # fmt: skip
    _add_cpu_tdp(suite)
    suite.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show a run's traceback")  # fmt: skip
    suite.set_defaults(run=_run_suite)
    add_jobs_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    started_s = time.monotonic()  # a suite's budget is the whole command's
    if sys.stderr is None or sys.stdin is None:  # started with 2>&- or <&-
        from gpuscope.commands.stdout import open_closed_streams

        open_closed_streams()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "bench":  # only bench takes open-ended (workload) options
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command and (given := _ui_options_given(parser, args.command, argv)):
        parser.error(
            f"{given[0]} is an option of the terminal UI (gpuscope without a command), "
            f"not of {args.command}"
        )
    args.extra = extra
    args.started_s = started_s
    try:
        code: int = args.run(args)
        return code
    except UsageError as exc:
        print(f"{_prog(args)}: {one_line(str(exc))}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"{_prog(args)}: {one_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"{_prog(args)}: internal error: {type(exc).__name__}: {one_line(str(exc))} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


def _ui_options_given(
    parser: argparse.ArgumentParser, command: str, argv: Sequence[str] | None
) -> list[str]:
    """The terminal UI's options typed before a command (``gpuscope --demo record``), as typed:
    the command would silently ignore them, even one given its default value."""
    words = list(sys.argv[1:] if argv is None else argv)
    before = words[: words.index(command)] if command in words else []
    group = next(g for g in parser._action_groups if g.title == "terminal UI (no command)")
    options = [o for action in group._group_actions for o in action.option_strings]
    # "--interval=1", and a short option's value may follow it at once ("-i1")
    joined = [f"{o}=" if o.startswith("--") else o for o in options]
    return [w for w in before if w in options or w.startswith(tuple(joined))]


def _prog(args: argparse.Namespace) -> str:
    return f"gpuscope {args.command}" if args.command else "gpuscope"
