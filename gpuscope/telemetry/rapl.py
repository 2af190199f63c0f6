"""CPU package energy from Linux powercap RAPL (``/sys/class/powercap/intel-rapl:N``).

Each package zone's ``energy_uj`` wraps at its own ``max_energy_range_uj``, so wraps are undone per
zone here and the reader hands out one monotonic total. Since Linux 5.10 ``energy_uj`` is readable
by root only (CVE-2020-8694); then RAPL is simply unavailable and the reason says so, with the
one-line fix where there is one (docs/user-guide.md has the details).
AMD CPUs appear under the same ``intel-rapl`` names. ``intel-rapl-mmio`` duplicates the package
zone and is skipped so energy is not counted twice.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

POWERCAP = Path("/sys/class/powercap")
_PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")  # top level only; intel-rapl:0:0 are sub-zones
# Each reason ends with its one-line how-to: what makes RAPL readable where something can, else
# the estimate from TDP (telemetry.cpu_estimate). docs/user-guide.md has the details.
ESTIMATE_HINT = "estimate: --cpu-tdp W"


@dataclass
class _Zone:
    energy_path: Path
    range_uj: int
    last_raw_uj: int
    total_uj: int = 0


class RaplReader:
    """Cumulative package energy in joules since the reader was opened."""

    def __init__(self, zones: list[_Zone], power_limit_w: float | None) -> None:
        self._zones = zones
        self.power_limit_w = power_limit_w

    @classmethod
    def open(cls, root: Path = POWERCAP) -> tuple[RaplReader | None, str | None]:
        """The reader, or None and one line saying why RAPL is unavailable."""
        if not root.is_dir():
            return None, f"RAPL: {root} not present (VMs do not expose it); {ESTIMATE_HINT}"
        zone_dirs = sorted(p for p in root.iterdir() if _PACKAGE_ZONE.match(p.name))
        if not zone_dirs:
            return None, (
                "RAPL: no package zones under powercap (VMs do not expose it; on a host: "
                f"sudo modprobe intel_rapl_common); {ESTIMATE_HINT}"
            )
        zones: list[_Zone] = []
        limit_uw = 0
        for zone_dir in zone_dirs:
            try:
                raw = int((zone_dir / "energy_uj").read_text())
                range_uj = int((zone_dir / "max_energy_range_uj").read_text())
            except PermissionError:
                return None, (
                    "RAPL: energy_uj readable by root only (Linux >= 5.10): "
                    f"sudo chmod o+r {root}/intel-rapl:*/energy_uj; or {ESTIMATE_HINT}"
                )
            except (OSError, ValueError) as exc:
                return None, f"RAPL: cannot read {zone_dir.name} ({exc}); {ESTIMATE_HINT}"
            zones.append(_Zone(zone_dir / "energy_uj", range_uj, raw))
            with contextlib.suppress(OSError, ValueError):  # a limit is optional
                limit_uw += int((zone_dir / "constraint_0_power_limit_uw").read_text())
        return cls(zones, limit_uw / 1e6 if limit_uw else None), None

    def read_j(self) -> float | None:
        """Total energy since open, J; None if a zone could not be read this time."""
        for zone in self._zones:
            try:
                raw = int(zone.energy_path.read_text())
            except (OSError, ValueError):
                return None
            delta = raw - zone.last_raw_uj
            if delta < 0:  # wrapped at max_energy_range_uj
                delta += zone.range_uj
            zone.total_uj += delta
            zone.last_raw_uj = raw
        return sum(zone.total_uj for zone in self._zones) / 1e6
