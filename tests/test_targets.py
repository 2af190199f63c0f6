"""Issue 23, item 1: where a run goes is decided in one place (``measurement.targets``): whether
torch is a ROCm build, each target's kind, and whether a workload may run there, said in the
same line by bench, suite, the session and the launcher."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuscope.measurement import targets
from gpuscope.measurement.targets import RunTarget, launch_targets, why_not_runnable
from gpuscope.session import Launch, Session, SessionSetup
from gpuscope.simulated.devices import SimulatedCpu
from gpuscope.telemetry.discover import Discovery
from gpuscope.telemetry.model import DeviceInfo, Vendor
from gpuscope.workloads.api import WorkloadError
from gpuscope.workloads.registry import find_workloads
from gpuscope.workloads.torch_probe import TorchFacts

MI300 = [DeviceInfo(f"amd:{i}", Vendor.AMD, i, "MI300X", uuid=f"amd-{i}") for i in range(2)]
H100 = DeviceInfo("nvidia:0", Vendor.NVIDIA, 0, "H100", uuid="GPU-0000")


class RocmOnly:
    name = "rocm-only"
    params = ()
    devices = ("rocm",)


@pytest.mark.parametrize(
    ("build", "infos", "rocm"),
    [
        (("2.9.0+rocm6.4", True, True), [H100], True),  # torch's own build decides
        (("2.11.0+cu130", True, False), MI300, False),
        (("2.13.0+cpu", False, False), MI300, True),  # no GPU build: as the GPUs found say
        (None, MI300, True),  # version.py unreadable: the same
        (None, [H100, *MI300], False),  # a machine with both runs a CUDA build
    ],
)
def test_whether_torch_is_a_rocm_build_is_decided_once(
    monkeypatch: pytest.MonkeyPatch,
    build: tuple[str, bool, bool] | None,
    infos: list[DeviceInfo],
    rocm: bool,
) -> None:
    monkeypatch.setattr(targets, "read_build", lambda: build)
    assert targets.rocm_build(infos) is rocm
    (gpu, *_) = launch_targets(infos)[0]
    assert gpu.kind == ("rocm" if rocm else "cuda")


def test_amd_gpus_whose_numbering_is_unknown_are_still_rocm_targets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With two AMD masks set, torch's numbering is not known: the launcher offered cuda:N
    with no telemetry, took them for CUDA GPUs, and refused a ROCm-only workload there."""
    monkeypatch.setattr(targets, "read_build", lambda: None)
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "0,1")
    monkeypatch.setenv("ROCR_VISIBLE_DEVICES", "0,1")
    offered, _ = launch_targets([*MI300, DeviceInfo("cpu", Vendor.CPU, 0, "CPU")])
    assert [(t.torch_device, t.telemetry, t.kind) for t in offered[:2]] == [
        ("cuda:0", None, "rocm"),
        ("cuda:1", None, "rocm"),
    ]
    assert why_not_runnable(RocmOnly, offered[0]) is None  # type: ignore[arg-type]


def test_a_target_refuses_a_workload_in_one_line_by_its_kind() -> None:
    amd, nvidia = RunTarget("cuda:0", MI300[0]), RunTarget("cuda:0", H100)
    assert why_not_runnable(RocmOnly, amd) is None  # type: ignore[arg-type]
    refused = "rocm-only does not run on cuda:0 (it supports rocm)"
    assert why_not_runnable(RocmOnly, nvidia) == refused  # type: ignore[arg-type]
    assert why_not_runnable(RocmOnly, RunTarget("cuda:0", H100, rocm=True)) is None  # type: ignore[arg-type]


def test_the_session_refuses_what_bench_refuses_in_the_same_words(tmp_path: Path) -> None:
    setup = SessionSetup(
        discover=lambda: Discovery(devices=[SimulatedCpu(1000.0)]),
        find_catalog=lambda: find_workloads(plugin_dirs=[], use_entry_points=False),
        record_dir=tmp_path,
        autostart=False,
    )
    session = Session(setup)
    session.probe()
    probe = session.find_catalog().workloads["memory-probe"]
    with pytest.raises(WorkloadError) as refused:
        session.launch(Launch(probe, {}, ("cpu",), 1.0, 0.0, False))
    # bench says it so too (tests/test_bench_cli.py)
    assert str(refused.value) == "memory-probe does not run on cpu (it supports cuda, rocm)"
    assert session.runs == [] and not session.busy
    session.close()


def test_where_version_py_cannot_be_read_torchs_own_answer_decides_the_kind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With ``version.py`` unreadable, a target's kind was the GPUs' vendor (NVIDIA here:
    cuda) while the check asked torch (a ROCm build): a ROCm-only workload was refused on a
    device its child would run as ROCm. The check's answer is the target's kind from then on."""
    monkeypatch.setattr(targets, "read_build", lambda: None)
    monkeypatch.setattr(targets, "torch_installed", lambda: True)
    monkeypatch.setattr(
        targets, "known_torch_facts", lambda gpus_seen: TorchFacts("2.9.0+rocm6.4", 1, hip=True)
    )
    named = RunTarget("cuda:0", H100)
    assert named.kind == "cuda"
    (checked,) = targets.check_runnable(RocmOnly, [named], Discovery())  # type: ignore[arg-type]
    assert checked.kind == "rocm" and checked.torch_device == "cuda:0"
