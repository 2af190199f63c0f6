"""The user's settings file: ``config.toml`` in gpuscope's user folder (``user_dirs``:
``~/.config/gpuscope/config.toml`` on Linux, ``$XDG_CONFIG_HOME`` honoured), beside the plugin
folder.

It holds one key so far, ``cpu_tdp_w``; a command-line option beats it. The file is optional. One
that is not a regular file (a FIFO, a device), is over 1 MiB, is not UTF-8 TOML (a BOM is fine),
has an unknown key or a bad value stops the command with one line and exit 2, whether or not
the option was given, so a broken file never goes unnoticed.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from gpuscope.bounded_read import NotRegularFile, TooLarge, read_regular
from gpuscope.errors import CommandFailed, UsageError
from gpuscope.telemetry.cpu_estimate import CpuPowerModel, check_tdp_w
from gpuscope.user_dirs import user_config_dir

KEYS = ("cpu_tdp_w",)
MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a config is a few lines; more is a mistake, not settings


def config_path() -> Path:
    return user_config_dir() / "config.toml"


@dataclass(frozen=True, slots=True)
class UserConfig:
    cpu_tdp_w: float | None = None  # the CPU package's TDP, W, all sockets together


def load_config(path: Path | None = None) -> UserConfig:
    """The settings in ``path`` (default ``config_path()``); empty if there is no file.
    UsageError for a file that is not a regular file, over ``MAX_CONFIG_BYTES``, not TOML (a
    UTF-8 BOM is allowed), nested too deeply, with an unknown key or a bad value; CommandFailed
    for one that cannot be read."""
    path = path if path is not None else config_path()
    text = _read_text(path)
    if text is None:
        return UserConfig()
    if sys.version_info >= (3, 11):  # only when there is a file: most machines have none
        import tomllib
    else:  # the same parser, before it joined the standard library
        import tomli as tomllib
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    except RecursionError:  # the parser recurses once per level of [[[...]]] or {a={b=...}}
        raise UsageError(f"{path} is not valid TOML: it nests too deeply") from None
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    tdp_w = table.get("cpu_tdp_w")
    if tdp_w is not None:
        try:
            tdp_w = check_tdp_w(tdp_w, f"cpu_tdp_w in {path}")
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return UserConfig(cpu_tdp_w=tdp_w)


def _read_text(path: Path) -> str | None:
    """The file's text, None if there is none. Read by ``bounded_read`` as every input is: opened
    without waiting (a FIFO at the path would hang every command until something wrote to it)
    and read only if it is a regular file, of at most ``MAX_CONFIG_BYTES``."""
    try:
        data = read_regular(path, MAX_CONFIG_BYTES)
    except FileNotFoundError:
        return None
    except NotRegularFile:
        raise UsageError(f"{path} is not a regular file: make it one, or remove it") from None
    except TooLarge:
        raise UsageError(f"{path} is over 1 MiB: a gpuscope config is a few lines") from None
    except OSError as exc:
        raise CommandFailed(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")  # a BOM, as some Windows editors write, is dropped
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None


def cpu_power_model(option_w: float | None, path: Path | None = None) -> CpuPowerModel | None:
    """The CPU estimate asked for: ``--cpu-tdp`` if given, else the file's ``cpu_tdp_w``, else
    None (no estimate). UsageError (one line) for a bad option or file."""
    config = load_config(path)
    if option_w is not None:
        try:
            return CpuPowerModel(check_tdp_w(option_w, "--cpu-tdp"))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return None if config.cpu_tdp_w is None else CpuPowerModel(config.cpu_tdp_w)
