"""Issue 21, item 8: one device name everywhere. Every command takes both spellings (``nvidia:0``
and ``cuda:0``, ``amd:0`` and ``rocm:0``), mapped through torch's numbering of the GPUs, which
CUDA_VISIBLE_DEVICES and CUDA_DEVICE_ORDER change; where the two names differ, both are said."""

from __future__ import annotations

import json

import pytest

from gpuscope.cli import main
from gpuscope.measurement.targets import UnknownTarget, launch_targets, run_target
from gpuscope.telemetry.model import DeviceInfo, Vendor
from gpuscope.telemetry.torch_numbering import torch_numbering

UUIDS = [f"GPU-{n}{n}{n}{n}aaaa-0000-4000-8000-00000000000{n}" for n in range(3)]


def gpus(*names: str, vendor: Vendor = Vendor.NVIDIA) -> list[DeviceInfo]:
    prefix = "nvidia" if vendor is Vendor.NVIDIA else "amd"
    found = [
        DeviceInfo(f"{prefix}:{i}", vendor, i, name, uuid=UUIDS[i]) for i, name in enumerate(names)
    ]
    return [*found, DeviceInfo("cpu", Vendor.CPU, 0, "CPU")]


H100S = gpus("H100", "H100", "H100")


@pytest.mark.parametrize(
    ("env", "order"),
    [
        ({}, [0, 1, 2]),  # one model: PCI bus order, as NVML lists them
        ({"CUDA_VISIBLE_DEVICES": "2,0"}, [2, 0]),
        ({"CUDA_VISIBLE_DEVICES": "1, 7, 0"}, [1]),  # CUDA stops at the first unusable entry
        ({"CUDA_VISIBLE_DEVICES": "GPU-2222"}, [2]),  # a unique UUID prefix
        ({"CUDA_VISIBLE_DEVICES": ""}, []),  # no GPU at all
        ({"CUDA_VISIBLE_DEVICES": "MIG-abc"}, None),  # a MIG instance: cannot be told
    ],
)
def test_torchs_numbering_of_nvml_gpus(env: dict[str, str], order: list[int] | None) -> None:
    numbering = torch_numbering(H100S, env)
    assert (None if numbering is None else [g.index for g in numbering]) == order


def test_gpus_of_different_models_are_numbered_only_in_pci_bus_order_or_by_uuid() -> None:
    mixed = gpus("A100", "RTX 4090")
    assert torch_numbering(mixed, {}) is None  # fastest first: CUDA does not publish the rule
    numbering = torch_numbering(mixed, {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"})
    assert numbering is not None and [g.index for g in numbering] == [0, 1]
    by_uuid = torch_numbering(mixed, {"CUDA_VISIBLE_DEVICES": "GPU-1111,GPU-0000"})
    assert by_uuid is not None and [g.index for g in by_uuid] == [1, 0]  # named: known
    assert torch_numbering(mixed, {"CUDA_VISIBLE_DEVICES": "1,0"}) is None  # fastest-first ids


def test_gpuscopes_own_runs_number_gpus_in_bus_order_so_mixed_models_are_named_right(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Review of issue 21: with an A100 and a T4, cuda:1 was taken for NVML's second GPU while
    CUDA's fastest-first order put the other A100 there: the wrong precisions were chosen. The
    workload child runs with CUDA_DEVICE_ORDER=PCI_BUS_ID unless the user set another."""
    from gpuscope.workloads.child import run_environment

    mixed = gpus("A100", "T4", "A100")
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    assert run_environment({})["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"
    assert run_target("cuda:1", mixed).telemetry == mixed[1]
    assert [t.label for t in launch_targets(mixed)[0]] == ["cuda:0", "cuda:1", "cuda:2", "cpu"]
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST")  # the user's choice stands
    assert run_environment({"CUDA_DEVICE_ORDER": "FASTEST_FIRST"})["CUDA_DEVICE_ORDER"] == (
        "FASTEST_FIRST"
    )
    assert run_target("cuda:1", mixed).telemetry is None  # found by UUID once it starts
    offered, unavailable = launch_targets(mixed)
    assert [t.telemetry for t in offered[:3]] == [None, None, None] and unavailable == []
    with pytest.raises(UnknownTarget, match="numbering of these GPUs is not known"):
        run_target("nvidia:1", mixed)


def test_either_spelling_names_one_target_and_both_are_said_where_they_differ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")
    by_nvml = run_target("nvidia:2", H100S)
    by_torch = run_target("cuda:0", H100S)
    assert by_nvml == by_torch and by_nvml.torch_device == "cuda:0"
    assert by_nvml.label == "cuda:0 (nvidia:2)"
    assert run_target("cuda:1", H100S).label == "cuda:1 (nvidia:0)"
    assert run_target("cuda", H100S).torch_device == "cuda:0"
    assert run_target("CPU", H100S).label == "cpu"
    with pytest.raises(UnknownTarget, match="nvidia:1 is hidden from torch by CUDA_VISIBLE"):
        run_target("nvidia:1", H100S)
    with pytest.raises(UnknownTarget, match="nvidia GPUs found: nvidia:0, nvidia:1, nvidia:2"):
        run_target("nvidia:5", H100S)
    with pytest.raises(UnknownTarget, match="use cpu, cuda:N or nvidia:N, rocm:N or amd:N"):
        run_target("gpu0", H100S)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert run_target("nvidia:1", H100S).label == "cuda:1"  # the same: said once


def test_amd_gpus_are_named_rocm_or_amd_on_a_machine_without_nvidia() -> None:
    mi300 = gpus("MI300X", "MI300X", vendor=Vendor.AMD)
    assert run_target("amd:1", mi300).torch_device == "rocm:1"
    assert run_target("rocm:1", mi300).telemetry == mi300[1]
    with pytest.raises(UnknownTarget, match="torch runs on the NVIDIA GPUs here"):
        run_target("amd:0", [*H100S[:1], *mi300])


def test_the_launcher_offers_torchs_gpus_and_says_which_are_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2")
    targets, unavailable = launch_targets(H100S)
    assert [t.label for t in targets] == ["cuda:0 (nvidia:2)", "cpu"]
    assert unavailable == [
        "nvidia:0: hidden from torch by CUDA_VISIBLE_DEVICES",
        "nvidia:1: hidden from torch by CUDA_VISIBLE_DEVICES",
    ]


def test_record_takes_torchs_names_and_list_says_both(
    install_nvml, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from tests.fakes.fake_pynvml import FakeGpu

    install_nvml([FakeGpu(), FakeGpu(uuid="GPU-b", bus_id="00000000:00:07.0")])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    out = tmp_path / "rec.jsonl"
    assert main(["record", "--devices", "cuda:0", "-d", "0.2", "-i", "0.1", "-f", "jsonl",
                 "-o", str(out)]) == 0  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert rows and {row["device"] for row in rows} == {"nvidia:1"}
    capsys.readouterr()
    assert main(["record", "--devices", "cuda:1", "-d", "0.2", "-o", str(tmp_path / "x")]) == 2
    assert "unknown device 'cuda:1' (torch would see: cuda:0 (nvidia:1))" in capsys.readouterr().err
    assert main(["list"]) == 0
    assert "torch calls it cuda:0" in capsys.readouterr().out
    assert main(["list", "--json"]) == 0
    listed = {
        d["device"]: d["torch_device"] for d in json.loads(capsys.readouterr().out)["devices"]
    }
    assert listed == {"nvidia:0": None, "nvidia:1": "cuda:0", "cpu": "cpu"}


def test_bench_and_suite_take_nvml_names(
    install_nvml, capsys: pytest.CaptureFixture[str], tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """``suite --devices nvidia:0`` was "unknown device"; here torch is a CPU build, so the
    GPU is named and refused for that reason, never for its name."""
    from tests.fakes.fake_pynvml import FakeGpu

    assert main(["bench", "gemm", "--device", "nvidia:0"]) == 2  # no GPU: and why none
    err = capsys.readouterr().err
    assert "unknown device 'nvidia:0' (nvidia GPUs found: none); NVML: " in err
    install_nvml([FakeGpu()])
    assert main(["bench", "gemm", "--device", "nvidia:0"]) == 2
    err = capsys.readouterr().err
    assert "unknown device" not in err and "cuda:0" in err
    assert (
        main(["suite", "--devices", "nvidia:0", "--budget", "60", "-o", str(tmp_path / "s")]) == 2
    )
    err = capsys.readouterr().err
    assert "unknown device" not in err and "nothing of the suite can run here" in err
