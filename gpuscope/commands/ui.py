"""Bare ``gpuscope``: the terminal UI. Textual is imported here, never by headless commands."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.config import cpu_power_model
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.intervals import DEFAULT_INTERVAL_S, check_interval


@dataclass(frozen=True, slots=True)
class UiOptions:
    interval_s: float = DEFAULT_INTERVAL_S
    demo: bool = False
    light: bool = False
    plugin_files: tuple[Path, ...] = ()
    record_dir: Path = Path(".")
    remotes: tuple[str, ...] = ()
    serve: str | None = None  # HOST:PORT
    cpu_tdp_w: float | None = None  # None: the config file's, if any
    gpm: bool = True  # False (--no-gpm): never read activity counters, which DCGM shares


def run_ui(options: UiOptions) -> int:
    try:
        check_interval(options.interval_s)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    remotes: tuple[str, ...] = ()
    if options.remotes:  # http.client and email: 20 ms of imports, only to watch remote hosts
        from gpuscope.telemetry.remote import check_url

        try:
            remotes = tuple(check_url(url) for url in options.remotes)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    serve = None
    if options.serve is not None:  # the exporter's modules cost 0.1 s: only when serving
        from gpuscope.sinks.exporter import parse_listen

        try:
            serve = parse_listen(options.serve, "--serve")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        _check_port_free(options.serve, *serve)
    cpu_model = cpu_power_model(options.cpu_tdp_w)
    if not options.record_dir.is_dir():
        raise UsageError(f"--record-dir {options.record_dir} is not a directory")
    for plugin in options.plugin_files:
        if not plugin.is_file():
            raise UsageError(f"plugin file {plugin} not found")
    # Textual draws on stderr and reads the terminal's size from stdout
    if not (sys.stdout and sys.stdout.isatty() and sys.stderr.isatty()):
        raise UsageError(
            "the UI needs a terminal on stdout and stderr "
            "(for headless sampling use gpuscope record)"
        )

    from gpuscope.tui.app import AppSetup, GpuscopeApp

    setup = AppSetup(
        interval_s=options.interval_s,
        plugin_files=options.plugin_files,
        record_dir=options.record_dir,
        remotes=remotes,
        serve=serve,
        theme="textual-light" if options.light else "textual-dark",
        cpu_model=cpu_model,
        gpm=options.gpm,
    )
    if options.demo:
        from gpuscope.simulated.demo import demo_parts

        parts = demo_parts()
        setup.discover = parts.discover
        setup.run_factory = parts.run_factory
        setup.simulated_ids = parts.simulated_ids
    GpuscopeApp(setup).run()
    return 0


def _check_port_free(listen: str, host: str, port: int) -> None:
    """Fail before the UI starts (exit 1, one line) rather than inside it."""
    from gpuscope.sinks.exporter import describe_listen_error

    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise CommandFailed(describe_listen_error(listen, exc, "serve on")) from None
