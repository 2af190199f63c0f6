"""The ``gpuscope`` command line: parses arguments and turns every failure into one line.

Subcommands import their modules lazily, so ``gpuscope list`` and ``gpuscope record`` never pay for
Textual or torch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import NoReturn

from gpuscope import __version__
from gpuscope.errors import RunFailure, UsageError


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not usage plus error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def _run_list(args: argparse.Namespace) -> int:
    from gpuscope.commands.listing import run_list

    return run_list(as_json=args.json)


def _run_record(args: argparse.Namespace) -> int:
    from gpuscope.commands.recording import RecordOptions, run_record

    return run_record(
        RecordOptions(
            output=args.output,
            interval_s=args.interval,
            duration_s=args.duration,
            devices=args.devices,
            fmt=args.format,
            force=args.force,
        )
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="gpuscope",
        description="Live GPU and CPU telemetry: utilization, memory, power and energy.",
    )
    parser.add_argument("--version", action="version", version=f"gpuscope {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for internal errors")
    commands = parser.add_subparsers(dest="command", parser_class=_OneLineParser)

    listing = commands.add_parser("list", help="devices found, what each supports, absent backends")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(run=_run_list)

    record = commands.add_parser("record", help="sample every device to CSV or JSON lines")
    record.add_argument("-o", "--output", default="-", help="file to write, - for stdout (default)")
    record.add_argument(
        "-i",
        "--interval",
        type=float,
        default=0.5,
        metavar="S",
        help="seconds between samples (>= 0.05)",
    )
    record.add_argument(
        "-d",
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="stop after S seconds (default: Ctrl-C)",
    )
    record.add_argument(
        "--devices",
        default="all",
        help="comma-separated: all, gpu, nvidia, amd, cpu, nvidia:0, a UUID",
    )
    record.add_argument("-f", "--format", choices=("csv", "jsonl"), default="csv")
    record.add_argument("--force", action="store_true", help="overwrite an existing output file")
    record.set_defaults(run=_run_record)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        code: int = args.run(args)
        return code
    except UsageError as exc:
        print(f"gpuscope {args.command}: {exc}", file=sys.stderr)
        return 2
    except RunFailure as exc:
        print(f"gpuscope {args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"gpuscope {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(run with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1
