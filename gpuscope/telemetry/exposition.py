"""Another host's exporter text read back into devices and figures, at bounded cost.

Only the ``gpuscope_`` samples of the one table in ``exported_metrics`` are read; every other
line is skipped after a prefix test. At most ``max_devices`` devices are kept, so a scrape with
3,000 devices costs a pass over its lines, not 3,000 devices' worth of objects, and a host whose
device ids change every scrape cannot grow the caller's memory. A value that is not a finite
number (``NaN``, ``+Inf``) is left out: that figure reads n/a, the device stays. Every label
that will be shown (names, ids) goes through ``safe_text``.

One line is parsed in linear time (no backtracking pattern runs over a whole line), so the
cost of an answer is bounded by its size, which the fetch bounds.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field

from gpuscope.safe_text import one_line
from gpuscope.telemetry.exported_metrics import (
    CLOCK,
    DEVICE_INFO,
    PREFIX,
    UTILIZATION,
    reading_fields,
)
from gpuscope.telemetry.model import DeviceInfo, Vendor

MAX_DEVICES = 64  # per host: a node has 8 GPUs and a CPU; more panels help no one

_FIELDS = reading_fields()  # exporter sample name -> (Reading field, factor back)
_INFO, _UTIL, _CLOCK = PREFIX + DEVICE_INFO, PREFIX + UTILIZATION, PREFIX + CLOCK
_WANTED = {_INFO, _UTIL, _CLOCK, *_FIELDS}
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\]|\\.)*)"[ \t]*(,?)')
_ESCAPE = re.compile(r"\\(.)")


@dataclass
class ParsedDevice:
    info: DeviceInfo
    values: dict[str, float] = field(default_factory=dict)  # Reading field -> finite value


@dataclass(frozen=True, slots=True)
class Exposition:
    devices: dict[str, ParsedDevice]  # remote id (``host/device``) -> device, in text order
    not_kept: int  # devices beyond the cap, skipped


def parse_exposition(
    text: str, known: Collection[str] = (), max_devices: int = MAX_DEVICES
) -> Exposition:
    """The exporter's text -> its devices. Ids in ``known`` (already shown) are always kept;
    new ones while ``known`` and the new ones together stay within ``max_devices``."""
    room = max(0, max_devices - len(known))
    keys: dict[tuple[str, str], str] = {}  # raw (host, device) labels -> printable id
    kept: set[str] = set()
    skipped: set[str] = set()
    infos: dict[str, DeviceInfo] = {}
    values: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if not line.startswith(PREFIX):
            continue  # comments, HELP, TYPE, other exporters' metrics
        sample = _sample(line)
        if sample is None:
            continue
        name, labels, number = sample
        host, device = labels.get("host"), labels.get("device")
        if host is None or device is None:
            continue
        key = keys.get((host, device))
        if key is None:
            key = keys[host, device] = f"{one_line(host, 64)}/{one_line(device, 32)}"
        if key not in kept:
            if key in skipped or (key not in known and room == 0):
                skipped.add(key)
                continue
            kept.add(key)
            room -= key not in known
        if name == _INFO:
            info = _info(key, labels)
            if info is not None:
                infos[key] = info
        elif math.isfinite(number):  # NaN or inf: that figure is n/a
            _store(values.setdefault(key, {}), name, labels, number)
    devices = {key: ParsedDevice(info, values.get(key, {})) for key, info in infos.items()}
    return Exposition(devices, len(skipped))


def _sample(line: str) -> tuple[str, dict[str, str], float] | None:
    """``name{labels} value [timestamp]`` -> its parts, for the names we read; else None."""
    match = _NAME.match(line)
    if match is None or match.group() not in _WANTED:
        return None
    name, pos = match.group(), match.end()
    labels: dict[str, str] = {}
    if line.startswith("{", pos):
        pos += 1
        while (label := _LABEL.match(line, pos)) is not None:
            value = label[2]
            labels[label[1]] = _ESCAPE.sub(_unescape, value) if "\\" in value else value
            pos = label.end()
            if not label[3]:
                break
        pos = len(line) - len(line[pos:].lstrip(" \t"))
        if not line.startswith("}", pos):
            return None
        pos += 1
    fields = line[pos:].split()
    if not fields:
        return None
    try:
        return name, labels, float(fields[0])
    except ValueError:
        return None


def _unescape(match: re.Match[str]) -> str:
    """The format's three escapes; any other backslash is kept, as Prometheus keeps it."""
    return {"n": "\n", "\\": "\\", '"': '"'}.get(match[1], match[0])


def _store(fields: dict[str, float], name: str, labels: dict[str, str], number: float) -> None:
    if name == _UTIL:
        fields["util"] = number * 100
    elif name == _CLOCK:
        fields["clock_core_mhz" if labels.get("clock") == "core" else "clock_mem_mhz"] = (
            number / 1e6
        )
    else:
        reading_field, factor = _FIELDS[name]
        fields[reading_field] = number * factor


def _info(key: str, labels: dict[str, str]) -> DeviceInfo | None:
    """None for a vendor this version does not know (its figures would mean nothing here)."""
    try:
        vendor = Vendor(labels.get("vendor", "cpu"))
    except ValueError:
        return None
    index = labels["device"].rpartition(":")[2]
    return DeviceInfo(
        device_id=key,
        vendor=vendor,
        index=int(index) if index.isascii() and index.isdigit() and len(index) < 6 else 0,
        name=one_line(labels.get("name") or key, 100),
        uuid=one_line(labels.get("uuid", ""), 100) or None,
        pci_bus_id=one_line(labels.get("pci", ""), 100) or None,
        driver=one_line(labels.get("driver", ""), 100) or None,
    )
