"""A runner that checks what it is given (issue 10): step results, facts, options and devices are
validated, before any child starts where possible; what a plugin starts ends with it."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from gpuscope.cli import build_parser
from gpuscope.sinks.results import finite
from gpuscope.workloads.api import (
    RESERVED_PARAM_NAMES,
    ContractError,
    Param,
    Work,
    WorkloadError,
    as_work,
)
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import FirstStep, Started, WarmupDone
from gpuscope.workloads.facts import clean_facts
from gpuscope.workloads.registry import WorkloadRef, find_workloads
from gpuscope.workloads.runner import RUN_SILENCE_S, HangLimits
from gpuscope.workloads.torch_probe import TorchFacts, check_device, known_torch_facts
from tests.plugin_files import counting_workload, workload_with_step, write_plugin
from tests.waiting import exited, wait_until

GPUSCOPE = [sys.executable, "-m", "gpuscope"]


def bench(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GPUSCOPE, "bench", *args], capture_output=True, text=True, timeout=timeout
    )


def quick(plugin: Path, name: str, *more: str) -> subprocess.CompletedProcess[str]:
    return bench(name, "--plugin", str(plugin), "--duration", "0.3", "--warmup", "0", *more)


@pytest.mark.parametrize("value", [-5, math.nan, math.inf, "abc", None, True, Work(1, -1.0)])
def test_step_results_that_are_not_amounts_of_work_are_refused(value: object) -> None:
    with pytest.raises(ContractError, match="step returned"):
        as_work(value)


def test_amounts_of_work_pass() -> None:
    assert as_work(3) == Work(3.0) and as_work(Work(2, 5)) == Work(2, 5)
    assert as_work(0.0) == Work(0.0)


@pytest.mark.parametrize("returned", ["-5", "float('nan')", "float('inf')", "'abc'"])
def test_a_bad_step_result_is_one_line_naming_workload_and_value(
    tmp_path: Path, returned: str
) -> None:
    pytest.importorskip("torch")
    plugin = workload_with_step(tmp_path, "badstep", f"return {returned}")
    result = quick(plugin, "badstep", "--json")
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    shown = repr(eval(returned))
    assert first.startswith(f"gpuscope bench: badstep on cpu: step returned {shown}: it must")
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    json.loads(result.stdout)  # still JSON, with no report


def test_facts_keep_json_scalars_and_drop_the_rest_with_a_note() -> None:
    kept, notes = clean_facts(
        {"batch": 256, "ok": True, "name": "x", "bad": object(), "n": math.nan}
    )
    assert kept == {"batch": 256, "ok": True, "name": "x"}
    assert len(notes) == 2 and "'bad' is object" in notes[0] and "'n' is nan" in notes[1]
    assert clean_facts(["not", "a", "dict"]) == ({}, ["facts() returned list, not a dict: dropped"])


def test_a_tensor_fact_is_dropped_and_the_result_kept(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    plugin = write_plugin(
        tmp_path,
        "tensorfacts",
        """
class T(Workload):
    name = "tensorfacts"
    unit = "things"
    devices = ("cpu",)

    def setup(self, device, params):
        import torch
        self._t = torch.ones(1)

    def step(self):
        return 1

    def facts(self):
        return {"tensor": self._t, "obj": object(), "kept": 7}
""",
    )
    result = quick(plugin, "tensorfacts", "--json")
    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["reports"]
    assert report["facts"] == {"kept": 7} and report["units"] > 0
    assert len(report["notes"]) == 2
    assert "note: tensorfacts on cpu: fact 'tensor' is Tensor" in result.stderr


def test_json_never_holds_nan_or_infinity() -> None:
    assert finite({"a": [math.nan, 1.0, {"b": math.inf}], "c": "x"}) == {
        "a": [None, 1.0, {"b": None}],
        "c": "x",
    }


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# the hang limit counts from the child's start: 3 s lets it start and set up on a loaded machine
@pytest.mark.parametrize(
    ("step", "extra"), [("return 1", ()), ("import time; time.sleep(60)", ("--hang-timeout", "3"))]
)
def test_processes_a_plugin_starts_end_with_its_run(
    tmp_path: Path, step: str, extra: tuple[str, ...]
) -> None:
    pytest.importorskip("torch")
    pid_file = tmp_path / "sleep.pid"
    setup = (
        f"import subprocess; p = subprocess.Popen(['sleep', '1000']); "
        f"open({str(pid_file)!r}, 'w').write(str(p.pid))"
    )
    plugin = workload_with_step(tmp_path, "spawner", step, setup_body=setup)
    result = quick(plugin, "spawner", *extra)
    assert result.returncode == (0 if not extra else 1), result.stderr
    pid = int(pid_file.read_text())
    try:
        wait_until(lambda: not _alive(pid), "the plugin's subprocess outlived its run")
    finally:
        if _alive(pid):  # never leave a sleep 1000 behind, even when the test fails
            psutil.Process(pid).kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--hang-timeout", "0"), "--hang-timeout must be a finite number of seconds > 0, got 0.0"),
        (("--hang-timeout", "-3"), "--hang-timeout must be a finite number of seconds > 0"),
        (("--hang-timeout", "nan"), "--hang-timeout must be a finite number of seconds, got nan"),
        (("--duration", "inf"), "--duration must be a finite number of seconds, got inf"),
        (("--warmup", "inf"), "--warmup must be a finite number of seconds, got inf"),
        (("--compare", ","), "--compare needs at least one device"),
        (("--device", "cuda:0"), "cuda:0: this torch (is a CPU-only build|sees no GPU)"),
        (("--compare", "cpu,cuda:0"), "cuda:0: this torch (is a CPU-only build|sees no GPU)"),
        (("--device", "rocm:0"), "rocm:0: this torch is not a ROCm build"),
        (("--size", "-5"), "size must be at least 1, got -5"),
    ],
)
def test_options_and_devices_are_checked_before_any_child(
    args: tuple[str, ...], message: str
) -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available() and "CPU-only" in message:  # then cuda:0 is there
        pytest.skip("this machine has a GPU")
    start = time.monotonic()
    result = bench("gemm", "--size", "16", *args) if "--size" not in args else bench("gemm", *args)
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith("gpuscope bench: ")
    assert re.search(message, line) or message in line
    assert result.stdout == ""  # nothing ran: not even the CPU half of a compare
    assert line.count("cuda:0") <= 1  # the device is named once, as typed
    assert time.monotonic() - start < 30


def test_a_float_param_refuses_nan_and_infinity() -> None:
    param = Param("scale", 1.0)
    for text in ("nan", "inf", "-inf"):
        with pytest.raises(WorkloadError, match="finite"):
            param.parse(text)
    assert param.parse("2") == 2.0
    with pytest.raises(WorkloadError, match="must be true or false"):
        Param("on", True).parse("maybe")


@pytest.mark.parametrize(
    ("param", "reason"),
    [
        ('Param("n", None)', "default of 'n' must be int, float, str or bool"),
        ('Param("device", "x")', "parameter 'device' has the name of a gpuscope bench option"),
        ('Param("duration", 1.0)', "has the name of a gpuscope bench option (--duration)"),
        ('Param("my-size", 1)', "must be an ASCII Python identifier"),
        ('Param("scale", float("nan"))', "default of 'scale' is not valid"),
        ('Param("n", 0, minimum=1)', "default of 'n' is not valid: n must be at least 1"),
        ('Param("mode", "a", choices=("a", 2))', "choices of 'mode' must all have the default's"),
    ],
)
def test_unusable_parameters_make_the_plugin_broken_at_load(
    tmp_path: Path, param: str, reason: str
) -> None:
    plugin = write_plugin(
        tmp_path,
        "params",
        f"""
class P(Workload):
    name = "params"
    unit = "things"
    params = ({param},)

    def setup(self, device, params):
        pass

    def step(self):
        return 1
""",
    )
    catalog = find_workloads([plugin], plugin_dirs=[], use_entry_points=False)
    assert "params" not in catalog.workloads
    (broken,) = catalog.broken
    assert reason in broken.reason and broken.name == "params"


def test_reserved_names_cover_every_bench_option() -> None:
    # each option's name, as parsed: bench's, less those of gpuscope itself
    bench = set(vars(build_parser().parse_args(["bench", "gemm"])))
    dests = bench - set(vars(build_parser().parse_args([])))
    assert {"duration", "hang_timeout", "compare"} <= dests
    assert dests <= RESERVED_PARAM_NAMES


def _spec(warmup_s: float = 2.0) -> RunSpec:
    return RunSpec(WorkloadRef("X", "x"), "cpu", {}, duration_s=3.0, warmup_s=warmup_s)


def test_the_hang_limit_follows_the_run_not_one_fixed_figure() -> None:
    limits = HangLimits(_spec(), None, setup_timeout_s=120.0)
    assert limits.silence_limit_s == 120.0  # building a model on a cold GPU
    limits.seen(Started(1, "cpu", None))
    assert limits.silence_limit_s == 120.0  # the first step may compile or autotune
    limits.seen(FirstStep(0.5))
    assert limits.silence_limit_s == 2.0 + RUN_SILENCE_S  # warm-up, then one step's silence
    limits.seen(WarmupDone(4, 2.0))
    assert limits.silence_limit_s == RUN_SILENCE_S  # a 3 s run of a hung step does not wait 120 s
    slow = HangLimits(_spec(), None, 120.0)
    slow.seen(WarmupDone(1, 8.0))
    assert slow.silence_limit_s == 80.0  # ten of its own steps
    explicit = HangLimits(_spec(), 5.0, 120.0)
    assert explicit.silence_limit_s == 5.0
    explicit.seen(FirstStep(0.5))
    assert explicit.silence_limit_s == 7.0


def test_debug_shows_the_plugins_traceback_and_failures_its_last_lines(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    plugin = workload_with_step(
        tmp_path, "boom", "print('about to fail'); raise ValueError('boom')"
    )
    plain = quick(plugin, "boom")
    assert plain.returncode == 1
    lines = plain.stderr.splitlines()
    assert lines[0] == "gpuscope bench: boom on cpu: ValueError: boom"
    assert "gpuscope bench:   | about to fail" in lines
    assert "Traceback" not in plain.stderr and "--debug" in lines[-1]
    debug = quick(plugin, "boom", "--debug")
    assert "Traceback (most recent call last)" in debug.stderr
    assert "raise ValueError('boom')" in debug.stderr


@pytest.mark.parametrize("output", ["--json", "--csv", None])
def test_a_comparison_prints_once_and_keeps_json_and_csv_machine_readable(
    output: str | None, tmp_path: Path
) -> None:
    plugin = counting_workload(tmp_path)  # what is printed, not gemm: no torch in the children
    args = ["counter", "--plugin", str(plugin), "--compare", "cpu,cpu", "--dtype", "fp32"]
    result = bench(*args, "--duration", "0.3", "--warmup", "0", *([output] if output else []))
    assert result.returncode == 0, result.stderr
    if output == "--json":
        payload = json.loads(result.stdout)
        assert len(payload["reports"]) == 2 and len(payload["comparisons"]) == 1
    elif output == "--csv":
        assert len(result.stdout.strip().splitlines()) == 3 and "vs cpu" not in result.stdout
    else:
        assert result.stdout.count("cpu (fp32) vs cpu (fp32): throughput") == 1


def test_device_checks_name_the_device_as_typed() -> None:
    cuda_one = TorchFacts("2.11.0+cu130", 1, hip=False)
    check_device("cuda:0", cuda_one)
    check_device("cpu", TorchFacts("2.13.0+cpu", 0, False, gpu_build=False))
    cases = [
        ("cuda:1", cuda_one, "cuda:1: no such GPU; this torch sees cuda:0"),
        ("rocm:0", cuda_one, "rocm:0: this torch is not a ROCm build (torch 2.11.0+cu130)"),
        ("cuda:0", TorchFacts("2.13.0+cpu", 0, False, False), "cuda:0: this torch is a CPU-only"),
        ("cuda:0", TorchFacts("2.11.0+cu130", 0, False), "cuda:0: this torch sees no GPU"),
    ]
    for device, facts, message in cases:
        with pytest.raises(WorkloadError) as caught:
            check_device(device, facts)
        assert str(caught.value).startswith(message)
    check_device("rocm:1", TorchFacts("2.9.0+rocm6.4", 2, hip=True))


def test_torch_is_asked_in_a_child_only_when_the_quick_way_cannot_tell(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gpuscope.workloads import torch_probe

    asked: list[bool] = []
    monkeypatch.setattr(torch_probe, "torch_installed", lambda: True)
    monkeypatch.setattr(
        torch_probe, "ask_torch", lambda: asked.append(True) or TorchFacts("x", 7, False)
    )
    monkeypatch.setattr(torch_probe, "read_build", lambda: ("2.11.0+cu130", True, False))
    for name in torch_probe.VISIBLE_DEVICES:
        monkeypatch.delenv(name, raising=False)
    assert known_torch_facts(lambda hip: 2).gpus == 2 and not asked  # NVML counted two
    assert known_torch_facts(lambda hip: None).gpus == 7 and asked  # no NVML: torch is asked
    asked.clear()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert known_torch_facts(lambda hip: 2).gpus == 7 and asked  # torch numbers what is visible
    monkeypatch.setattr(torch_probe, "read_build", lambda: ("2.13.0+cpu", False, False))
    assert not known_torch_facts(lambda hip: 2).gpu_build


def test_the_build_is_read_without_importing_torch() -> None:
    pytest.importorskip("torch")
    code = (
        "import sys; from gpuscope.workloads.torch_probe import read_build; "
        "print(read_build() is not None, 'torch' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_a_rocm_device_keeps_its_name_and_torch_gets_cuda() -> None:
    from gpuscope.measurement.measured_run import MeasuredRun
    from gpuscope.workloads.api import torch_device

    info = find_workloads(plugin_dirs=[], use_entry_points=False).workloads["gemm"]
    assert MeasuredRun(info, "rocm:1", {}).label == "gemm on rocm:1"  # was reported as cuda:1
    assert [torch_device(d) for d in ("rocm:1", "cuda:0", "cuda", "cpu")] == [
        "cuda:1", "cuda:0", "cuda:0", "cpu"
    ]  # fmt: skip


def test_facts_of_plugin_types_cross_as_built_in_values() -> None:
    import enum

    class Mode(enum.IntEnum):
        FAST = 2

    class Label(str):
        pass

    kept, notes = clean_facts({"mode": Mode.FAST, "label": Label("x"), "ratio": 0.5})
    assert kept == {"mode": 2, "label": "x", "ratio": 0.5} and notes == []
    assert [type(v) for v in kept.values()] == [int, str, float]  # nothing of the plugin's


def test_real_numbers_of_any_kind_are_work_and_huge_ones_are_not() -> None:
    from fractions import Fraction

    assert as_work(Fraction(3, 2)) == Work(1.5)
    numpy = pytest.importorskip("numpy")
    assert as_work(numpy.int64(5)) == Work(5.0)
    with pytest.raises(ContractError):
        as_work(10**400)  # float() overflows: a contract error, not OverflowError


def test_a_plugin_enum_fact_keeps_the_json(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    plugin = write_plugin(
        tmp_path,
        "enumfact",
        """
import enum

class Mode(enum.IntEnum):
    FAST = 2

class E(Workload):
    name = "enumfact"
    unit = "things"
    devices = ("cpu",)

    def setup(self, device, params):
        pass

    def step(self):
        return 1

    def facts(self):
        return {"mode": Mode.FAST}
""",
    )
    result = quick(plugin, "enumfact", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["reports"][0]["facts"] == {"mode": 2}


def test_workload_options_are_never_abbreviations_of_gpuscopes() -> None:
    _, extra = build_parser().parse_known_args(["--deb", "bench", "x"])
    assert "--deb" in extra  # not taken for --debug


def test_a_run_ends_when_gpuscope_is_killed(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pid_file = tmp_path / "child.pid"
    setup = f"import os; open({str(pid_file)!r}, 'w').write(str(os.getpid()))"
    plugin = workload_with_step(tmp_path, "hangs", "import time; time.sleep(600)", setup)
    parent = subprocess.Popen(
        [*GPUSCOPE, "bench", "hangs", "--plugin", str(plugin), "--warmup", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # written in setup, after the child began to watch its parent
        wait_until(lambda: pid_file.exists() and pid_file.read_text(), "set up", exited(parent))
        child = int(pid_file.read_text())
        parent.kill()  # SIGKILL: gpuscope gets no chance to reap its child
        parent.wait()
        wait_until(lambda: not _alive(child), "the workload child outlived gpuscope")
    finally:
        parent.kill()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            psutil.Process(int(pid_file.read_text())).kill()


def test_one_rule_says_where_a_workload_runs() -> None:
    from gpuscope.workloads.api import kind_on, not_runnable, runs_on

    class RocmOnly:
        name = "rocm-only"
        devices = ("rocm",)
        params = ()

    # a ROCm build of torch calls AMD GPUs cuda:N: bench, the launcher and the child agree
    assert runs_on(RocmOnly, kind_on("cuda:0", hip=True))  # type: ignore[arg-type]
    assert not runs_on(RocmOnly, kind_on("cuda:0", hip=False))  # type: ignore[arg-type]
    assert runs_on(RocmOnly, kind_on("rocm:1", hip=True))  # type: ignore[arg-type]
    assert not runs_on(RocmOnly, kind_on("cpu", hip=True))  # type: ignore[arg-type]
    assert not_runnable(RocmOnly, "cuda:0") == (  # type: ignore[arg-type]
        "rocm-only does not run on cuda:0 (it supports rocm)"
    )


def test_a_gpu_only_workload_is_refused_on_the_cpu_before_any_child(tmp_path: Path) -> None:
    plugin = workload_with_step(tmp_path, "gpuonly", "return 1")
    plugin.write_text(plugin.read_text().replace('devices = ("cpu",)', 'devices = ("cuda",)'))
    result = quick(plugin, "gpuonly")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gpuscope bench: gpuonly does not run on cpu (it supports cuda)"
    )


@pytest.mark.parametrize(
    ("value", "minimum", "inclusive", "message"),
    [
        (0.0, 0.0, False, "x must be a finite number of seconds > 0, got 0.0"),
        (-1.0, 0.0, True, "x must be a finite number of seconds >= 0, got -1.0"),
        (0.01, 0.05, True, "x must be at least 0.05 s, got 0.01"),
        (math.inf, 0.0, False, "x must be a finite number of seconds, got inf"),
        (math.nan, 0.0, True, "x must be a finite number of seconds, got nan"),
    ],
)
def test_one_rule_for_seconds(value: float, minimum: float, inclusive: bool, message: str) -> None:
    from gpuscope.units import check_seconds

    with pytest.raises(ValueError) as caught:
        check_seconds(value, "x", minimum, inclusive)
    assert str(caught.value) == message
    assert check_seconds(0.05, "x", 0.05, inclusive=True) == 0.05


def test_record_refuses_an_endless_duration_like_bench() -> None:
    result = subprocess.run(
        [*GPUSCOPE, "record", "-d", "inf", "-o", "-"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "gpuscope record: --duration must be a finite number of seconds, got inf"
    )
