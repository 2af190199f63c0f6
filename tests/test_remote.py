"""Remote devices: the exporter's text read back into readings, URL checks, unreachable hosts."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from gpuscope.sampler import Sampler
from gpuscope.sinks.prometheus import TelemetryCollector
from gpuscope.telemetry.discover import discover
from gpuscope.telemetry.exposition import parse_exposition
from gpuscope.telemetry.model import Vendor
from gpuscope.telemetry.remote import RemoteHost, check_url, reading_from
from tests.fakes.fake_pynvml import FakeGpu, Ramp


def exposition(install_nvml, clock) -> str:  # type: ignore[no-untyped-def]
    install_nvml(
        [FakeGpu(power=Ramp(300.0), util_gpu=75, util_mem=40, mem_used=8 << 30, temperature=61)],
        clock=clock,
    )
    with discover(["nvidia"]) as found:
        sampler = Sampler(found.devices, clock=clock)
        sampler.tick()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(TelemetryCollector(sampler, [d.info for d in found.devices], "hostA"))
        return generate_latest(registry).decode()


def test_exported_figures_read_back_as_the_same_reading(install_nvml, clock) -> None:
    parsed = parse_exposition(exposition(install_nvml, clock))
    assert list(parsed.devices) == ["hostA/nvidia:0"] and parsed.not_kept == 0
    device = parsed.devices["hostA/nvidia:0"]
    assert device.info.vendor is Vendor.NVIDIA and device.info.name == "NVIDIA H100 80GB HBM3"
    reading = reading_from(device.info, device.values, 5.0)
    assert reading.util_gpu_pct == 75 and reading.util_mem_pct == 40
    assert reading.mem_used_mib == 8192 and reading.power_w == 300.0
    assert reading.temp_c == 61 and reading.clock_core_mhz == 885 and reading.pstate == 0
    assert reading.energy_counter_j is not None and reading.energy_counter_j > 2726
    assert reading.fan_pct is None  # not exported (unsupported there): n/a here, not 0
    assert reading.util_cpu_pct is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://hostA:9400", "http://hostA:9400/metrics"),
        ("https://hostA:9400/custom", "https://hostA:9400/custom"),
        ("http://10.0.0.2:9400/", "http://10.0.0.2:9400/metrics"),
    ],
)
def test_urls_are_completed(url: str, expected: str) -> None:
    assert check_url(url) == expected


@pytest.mark.parametrize(
    "url", ["hostA:9400", "ftp://hostA", "http://", "http://h:99999", "http://[::1"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="--remote"):
        check_url(url)


def test_unreachable_host_reads_all_none_and_says_since_when() -> None:
    def refuse(url: str, timeout_s: float) -> str:
        raise ConnectionRefusedError(111, "Connection refused")

    host = RemoteHost("http://hostB:9400", fetch=refuse)
    host.poll_once()
    assert host.unreachable_since() is not None
    assert host.error is not None and "refused" in host.error
    assert host.devices() == []
    reading = host.reading("hostB/nvidia:0", 1.0)
    assert reading.power_w is None and reading.util_gpu_pct is None


def test_host_that_answers_again_is_reachable_again(install_nvml, clock) -> None:
    text = exposition(install_nvml, clock)
    answers = iter([text, OSError("timed out"), text])

    def fetch(url: str, timeout_s: float) -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    host = RemoteHost("http://hostA:9400", fetch=fetch)
    host.poll_once()
    assert host.unreachable_since() is None
    assert host.reading("hostA/nvidia:0", 1.0).power_w == 300.0
    host.poll_once()
    assert host.unreachable_since() is not None
    assert host.reading("hostA/nvidia:0", 1.0).power_w is None
    host.poll_once()
    assert host.unreachable_since() is None


def test_two_exporters_with_one_host_label_both_show(install_nvml, clock) -> None:  # type: ignore[no-untyped-def]
    """Issue 22 re-trial: ``--remote A --remote B`` where both exporters call themselves
    ``hostA`` (two containers both named ``localhost``): B's devices were silently missing."""
    from gpuscope.telemetry.remote_hosts import RemoteHosts

    text = exposition(install_nvml, clock)
    urls = ["http://a:9400", "http://user:secret@b:9400"]  # a password never shows
    down: set[str] = set()

    def fetch(url: str, timeout_s: float) -> str:
        if url in down:
            raise ConnectionRefusedError(111, "Connection refused")
        return text

    remotes = RemoteHosts(urls, 1.0, fetch=fetch)
    for host in remotes.hosts:
        host.poll_once()
    added = remotes.new_devices(["cpu"])
    assert [d.info.device_id for d in added] == ["hostA/nvidia:0", "hostA/nvidia:0@b:9400"]
    assert all(d.read(1.0).power_w == 300.0 for d in added)
    assert remotes.new_devices(["cpu", *(d.info.device_id for d in added)]) == []
    down.add(remotes.hosts[1].url)  # b stops answering: only b's panel says so
    remotes.hosts[1].poll_once()
    assert list(remotes.notices()) == ["hostA/nvidia:0@b:9400"]


def test_activity_gauges_read_back_as_the_same_fields(clock) -> None:
    from gpuscope.telemetry.model import ACTIVITY_METRICS
    from tests.activity_device import ActivityDevice

    device = ActivityDevice()
    sampler = Sampler([device], clock=clock)
    sampler.want_activity("exporter")
    sampler.tick()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(TelemetryCollector(sampler, [device.info], "hostA"))
    parsed = parse_exposition(generate_latest(registry).decode())
    remote = parsed.devices["hostA/nvidia:0"]
    reading = reading_from(remote.info, remote.values, 5.0)
    local = sampler.latest("nvidia:0").reading  # type: ignore[union-attr]
    for name in ACTIVITY_METRICS:
        assert getattr(reading, name) == pytest.approx(getattr(local, name)), name
