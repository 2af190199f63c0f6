"""Issue 21, items 1-3: defaults per device, decided from what the device computes in hardware,
and CPU-vs-GPU ratios that name each side's precision and say when one is not fair.

The CPU's capability is faked both ways (native bf16 present, absent), so CI on either kind of
machine covers both."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpuscope.measurement.measured_run import MeasuredRun, describe_error
from gpuscope.measurement.run_params import choice_notes, run_params
from gpuscope.measurement.run_result import build_result, comparable_key, compare, comparisons
from gpuscope.measurement.targets import RunTarget
from gpuscope.telemetry.cpu import CpuDevice
from gpuscope.telemetry.model import DeviceInfo, Vendor
from gpuscope.telemetry.precisions import amd_precisions, cpu_precisions, nvidia_precisions
from gpuscope.workloads.api import BEST, WorkloadError
from gpuscope.workloads.events import ErrorKind, Failed, Phase, Result
from gpuscope.workloads.registry import bundled_workloads

AVX2 = "flags\t\t: fpu sse2 avx avx2 fma\n"  # the 2-core EPYC VM, most laptops
AMX = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n"  # Sapphire Rapids
WORKLOADS = bundled_workloads().workloads


def cpu(flags: str | None) -> RunTarget:
    info = DeviceInfo("cpu", Vendor.CPU, 0, "CPU", precisions=cpu_precisions(flags))
    return RunTarget("cpu", info)


def nvidia(major: int, minor: int, index: int = 0) -> RunTarget:
    info = DeviceInfo(
        f"nvidia:{index}", Vendor.NVIDIA, index, "GPU", precisions=nvidia_precisions(major, minor)
    )
    return RunTarget(f"cuda:{index}", info)


@pytest.mark.parametrize(
    ("cpuinfo", "native", "basis"),
    [
        (AVX2, {"fp32"}, "AVX2, no AVX512-BF16 or AMX"),
        (AMX, {"fp32", "bf16"}, "AMX-BF16"),
        ("flags : avx2 avx512f avx512_bf16\n", {"fp32", "bf16"}, "AVX512-BF16, no AMX"),
        ("flags : avx2 avx512f\n", {"fp32"}, "AVX512, no AVX512-BF16 or AMX"),
        ("flags : avx512f amx_bf16 amx_fp16\n", {"fp32", "bf16", "fp16"}, "AMX-BF16"),
        ("Features : fp asimd bf16\n", {"fp32", "bf16"}, "Arm BF16"),
        ("Features : fp asimd\n", {"fp32"}, "Arm, no BF16 extension"),
        (None, {"fp32"}, "the CPU's features are not readable here"),
    ],
)
def test_what_a_cpu_does_in_hardware_comes_from_its_flags(
    cpuinfo: str | None, native: set[str], basis: str
) -> None:
    found = cpu_precisions(cpuinfo)
    assert found.native == native and found.basis == basis


def test_what_a_gpu_does_in_hardware_comes_from_its_capability_or_target() -> None:
    assert nvidia_precisions(9, 0).native == {"fp32", "tf32", "fp16", "bf16", "fp8"}
    assert nvidia_precisions(8, 0).native == {"fp32", "tf32", "fp16", "bf16"}  # A100: no fp8
    assert nvidia_precisions(7, 0).native == {"fp32", "fp16"}  # V100: no bf16
    assert nvidia_precisions(6, 1).native == {"fp32"}  # GTX 10x0: fp16 at 1/64 rate
    assert amd_precisions("gfx942") is not None
    assert amd_precisions("gfx942").native == {"fp32", "fp16", "bf16", "fp8"}  # type: ignore[union-attr]
    assert amd_precisions("gfx1100").native == {"fp32", "fp16", "bf16"}  # type: ignore[union-attr]
    assert amd_precisions("gfx906").native == {"fp32", "fp16"}  # type: ignore[union-attr]
    assert amd_precisions("gfx803") is None and amd_precisions(None) is None


def test_the_cpu_device_reads_its_flags(tmp_path: Path) -> None:
    for flags, native in ((AVX2, {"fp32"}), (AMX, {"fp32", "bf16"})):
        (tmp_path / "cpuinfo").write_text(f"model name\t: Test CPU\n{flags}")
        device = CpuDevice(cpuinfo_path=tmp_path / "cpuinfo")
        assert device.info.precisions is not None and device.info.precisions.native == native


@pytest.mark.parametrize(
    ("target", "dtype", "size"),
    [
        (cpu(AVX2), "fp32", 2048),  # bf16 would be emulated: a hundred times slower
        (cpu(AMX), "bf16", 2048),  # native: the default is kept
        (nvidia(9, 0), "bf16", 8192),
        (nvidia(7, 0), "fp16", 8192),  # a V100 has no bf16: its fastest native one
    ],
)
def test_a_gemm_with_no_options_gets_each_devices_native_precision_and_size(
    target: RunTarget, dtype: str, size: int
) -> None:
    run = run_params(WORKLOADS["gemm"], {}, target)
    assert run.values == {"dtype": dtype, "size": size}
    assert set(run.chosen) == {"dtype", "size"} and run.emulated is None


def test_why_each_choice_was_made_is_said() -> None:
    run = run_params(WORKLOADS["gemm"], {}, cpu(AVX2))
    assert run.chosen == {
        "dtype": "bf16 would be emulated on cpu (AVX2, no AVX512-BF16 or AMX)",
        "size": "the default on a CPU",
    }
    assert choice_notes([run]) == [
        "dtype=fp32: bf16 would be emulated on cpu (AVX2, no AVX512-BF16 or AMX)"
    ]
    assert choice_notes([run_params(WORKLOADS["gemm"], {}, cpu(AMX))]) == []


def test_best_is_each_devices_fastest_native_precision() -> None:
    assert run_params(WORKLOADS["rnn"], {"precision": BEST}, nvidia(9, 0)).values["precision"] == (
        "bf16"  # the LSTM's default is fp32; best on an H100 is bf16
    )
    best_cpu = run_params(WORKLOADS["cnn"], {"precision": BEST}, cpu(AVX2))
    assert best_cpu.values["precision"] == "fp32" and best_cpu.chosen["precision"].startswith(
        "best native on cpu (AVX2"
    )
    assert run_params(WORKLOADS["cnn"], {"precision": BEST}, cpu(AMX)).values["precision"] == "bf16"
    unknown = RunTarget("cuda:0")  # its telemetry device not known before the run
    assert run_params(WORKLOADS["gemm"], {"dtype": BEST}, unknown).values["dtype"] == "bf16"


def test_an_emulated_precision_asked_for_runs_with_a_line_naming_the_native_one() -> None:
    run = run_params(WORKLOADS["gemm"], {"dtype": "bf16"}, cpu(AVX2))
    assert run.values["dtype"] == "bf16" and "dtype" not in run.chosen
    assert run.emulated is not None
    assert run.emulated.head() == "bf16 is emulated on cpu (AVX2, no AVX512-BF16 or AMX)"
    assert "fp32, which it does in hardware (dtype=fp32, or dtype=best" in run.emulated.text()
    assert choice_notes([run]) == [run.emulated.text()]  # said before the run
    assert run_params(WORKLOADS["gemm"], {"dtype": "bf16"}, cpu(AMX)).emulated is None
    with pytest.raises(WorkloadError, match="gemm has no parameter 'batch'"):
        run_params(WORKLOADS["gemm"], {"batch": 1}, cpu(AVX2))


def report(target: RunTarget, params: dict[str, str] | None = None, rate: float = 1.0):  # type: ignore[no-untyped-def]
    resolved = run_params(WORKLOADS["gemm"], params or {}, target)
    return build_result(
        "gemm", target.torch_device, "FLOP", resolved.values, Result(rate, None, 1.0, 1),
        None, None, None, chosen=resolved.chosen,
        emulated=resolved.emulated.head() if resolved.emulated else None,
        precision_param=resolved.precision_param,
    )  # fmt: skip


def test_runs_of_one_request_compare_and_the_ratio_names_both_precisions() -> None:
    """``bench gemm --compare cpu,cuda:0`` runs fp32 n=2048 on an AVX2 CPU and bf16 n=8192 on
    the GPU: one question, so one comparison, which says what each side ran."""
    on_cpu, on_gpu = report(cpu(AVX2), rate=1.3e11), report(nvidia(9, 0), rate=7.7e14)
    (found,) = comparisons([on_cpu, on_gpu])
    assert found.sides() == "cuda:0 (bf16) vs cpu (fp32)" and found.fair
    assert found.differs == ("size 2048/8192",)
    assert found.line().startswith("cuda:0 (bf16) vs cpu (fp32): throughput 5,920x")
    asked = report(nvidia(9, 0), {"size": 4096})  # another question: not compared
    key = comparable_key
    assert key("gemm", on_cpu.params, on_cpu.chosen) != key("gemm", asked.params, asked.chosen)


def test_a_ratio_against_an_emulated_precision_is_marked_and_the_fair_one_offered() -> None:
    slow = report(cpu(AVX2), {"dtype": "bf16"}, rate=1.3e9)
    fast = report(nvidia(9, 0), {"dtype": "bf16"}, rate=7.7e14)
    found = compare(slow, fast)
    assert not found.fair and found.emulated == ("cpu",)
    assert "NOT FAIR: cpu emulated its precision" in found.line()
    assert "--dtype best runs each device at its fastest native one" in found.line()


def test_a_first_step_that_does_not_finish_says_what_why_and_the_fix() -> None:
    """Issue 21: it said "no progress for 120 s during setup"."""
    info = WORKLOADS["gemm"]
    resolved = run_params(info, {"dtype": "bf16", "size": 8192}, cpu(AVX2))
    run = MeasuredRun(info, "cpu", resolved.values, emulated=resolved.emulated)
    hung = Failed(ErrorKind.HUNG, "no progress", phase=Phase.FIRST_STEP, limit_s=120.0)
    message = describe_error(hung, run)
    assert message.startswith(
        "one step of gemm dtype=bf16 size=8192 on cpu did not finish in 120 s: likely because "
        "bf16 is emulated on cpu (AVX2"
    )
    assert "(dtype=fp32, or dtype=best" in message and "--hang-timeout" in message
    fine = MeasuredRun(info, "cuda:0", {"dtype": "bf16", "size": 65536})
    setup = describe_error(Failed(ErrorKind.HUNG, "x", phase=Phase.SETUP, limit_s=120.0), fine)
    assert setup.startswith("setup of gemm dtype=bf16 size=65536 on cuda:0 did not finish in 120")
    assert "smaller size or batch" in setup


@pytest.mark.parametrize(("flags", "dtype"), [(AVX2, "fp32"), (AMX, "bf16")])
def test_bench_with_no_options_runs_the_cpus_native_precision_at_its_size(
    flags: str, dtype: str, tmp_path: Path, monkeypatch, capsys
) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: ``bench gemm --device cpu`` ran bf16 at n=8192, an hour a step on an AVX2 CPU,
    and was killed after 2 min. Here the CPU's flags are faked both ways; the runs are short, of
    a counting workload whose precision defaults to bf16 as gemm's (its child needs no torch:
    what is chosen and said is bench's)."""
    import json

    from gpuscope.cli import main
    from gpuscope.telemetry import cpu as cpu_module
    from tests.plugin_files import counting_workload

    counter = counting_workload(tmp_path, dtype="bf16")
    (tmp_path / "cpuinfo").write_text(flags)
    monkeypatch.setattr(cpu_module, "CPUINFO", tmp_path / "cpuinfo")
    args = ["bench", "counter", "--plugin", str(counter), "--device", "cpu", "--duration", "0.2",
            "--warmup", "0", "--json"]  # fmt: skip
    if dtype == "bf16":  # asked for by name on a CPU that has it: no note
        args += ["--dtype", "bf16"]
    assert main(args) == 0
    out = capsys.readouterr()
    (ran,) = json.loads(out.out)["reports"]
    assert ran["params"] == {"dtype": dtype} and ran["throughput"] > 0
    assert ran["emulated"] is None and out.err.count("note:") == (dtype == "fp32")
    assert ("dtype=fp32: bf16 would be emulated on cpu (AVX2" in out.err) is (dtype == "fp32")
    if dtype == "fp32":  # bf16 asked for by name on the AVX2 CPU: it runs, said once set up
        assert main([*args, "--dtype", "bf16"]) == 0
        emulated = capsys.readouterr()
        assert emulated.err.count("note: bf16 is emulated on cpu (AVX2") == 1
        assert json.loads(emulated.out)["reports"][0]["emulated"].startswith("bf16 is emulated")


def test_what_was_chosen_reads_as_words_in_the_csv() -> None:
    import csv
    import io

    from gpuscope.sinks.results import write_results_csv

    stream = io.StringIO()
    write_results_csv([report(cpu(AVX2))], stream)
    (row,) = csv.DictReader(io.StringIO(stream.getvalue()))
    assert row["chosen"] == (
        "dtype: bf16 would be emulated on cpu (AVX2, no AVX512-BF16 or AMX); "
        "size: the default on a CPU"
    )
    assert row["emulated"] == "" and row["shared"] == "" and row["params"] == "dtype=fp32 size=2048"


def test_a_precision_parameters_own_device_default_is_its_default_there() -> None:
    """Review of issue 21: a precision parameter's device_defaults were ignored."""
    from gpuscope.workloads.api import Param

    class Declared:
        name = "plugin"
        params = (
            Param("amp", "bf16", choices=("fp32", "bf16"), precision=True,
                  device_defaults={"cpu": "fp32"}),
        )  # fmt: skip

    assert run_params(Declared, {}, cpu(AMX)).values == {"amp": "fp32"}  # its CPU default
    assert run_params(Declared, {}, cpu(None)).values == {"amp": "fp32"}  # formats unknown
    assert run_params(Declared, {}, nvidia(9, 0)).values == {"amp": "bf16"}


def test_an_amd_gpu_gets_the_rocm_default_whatever_torch_calls_it() -> None:
    from gpuscope.workloads.api import Param

    class Declared:
        name = "plugin"
        params = (Param("size", 8, device_defaults={"cpu": 2, "rocm": 4}),)

    mi300 = DeviceInfo("amd:0", Vendor.AMD, 0, "MI300X", precisions=amd_precisions("gfx942"))
    for name in ("cuda:0", "rocm:0"):  # a ROCm build of torch calls it cuda:0
        target = RunTarget(name, mi300)
        assert target.kind == "rocm"
        assert run_params(Declared, {}, target).values == {"size": 4}


def test_a_plugins_precision_parameter_names_each_side_whatever_its_name() -> None:
    """Review of issue 21: only parameters named dtype or precision were named beside a device;
    a plugin's ``amp`` showed up as a difference instead, and the fair hint named --dtype."""
    from gpuscope.workloads.api import Param

    class Declared:
        name = "plugin"
        params = (
            Param("amp", "bf16", choices=("fp32", "bf16"), precision=True),
            Param("n", 8, device_defaults={"cpu": 2}),
        )

    def ran(target: RunTarget, given: dict[str, str]):  # type: ignore[no-untyped-def]
        resolved = run_params(Declared, given, target)
        return build_result(
            "plugin", target.torch_device, "things", resolved.values,
            Result(1.0, None, 1.0, 1), None, None, None, chosen=resolved.chosen,
            emulated=resolved.emulated.head() if resolved.emulated else None,
            precision_param=resolved.precision_param,
        )  # fmt: skip

    fair = compare(ran(cpu(AVX2), {}), ran(nvidia(9, 0), {}))
    assert fair.sides() == "cuda:0 (bf16) vs cpu (fp32)" and fair.differs == ("n 2/8",)
    unfair = compare(ran(cpu(AVX2), {"amp": "bf16"}), ran(nvidia(9, 0), {"amp": "bf16"}))
    assert "--amp best runs each device at its fastest native one" in unfair.line()


def test_the_ui_names_each_runs_precision_and_marks_an_emulated_one() -> None:
    """Trial of issue 21: fp32 and bf16 runs on the CPU read alike in the Workloads tab."""
    from gpuscope.measurement.measured_run import new_run
    from gpuscope.measurement.result_cells import figure_cells
    from gpuscope.tui.runs_view import status_label

    info = WORKLOADS["gemm"]
    native = new_run(info, cpu(AVX2), run_params(info, {}, cpu(AVX2)), 1.0, 0.0)
    asked = run_params(info, {"dtype": "bf16"}, cpu(AVX2))
    emulated = new_run(info, cpu(AVX2), asked, 1.0, 0.0)
    assert status_label(native) == "gemm on cpu fp32"
    assert status_label(emulated) == "gemm on cpu bf16!"
    assert figure_cells(report(cpu(AVX2), {"dtype": "bf16"}))["dtype"] == "bf16 emulated"
