"""Plugins that try to break gpuscope's output (issue 22): a fact too long to write, a flood of
output, errors and notes megabytes long, escape sequences in every text a plugin declares or
says, names that only look like ASCII, a closed stdout and numbers too big for the device."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import pytest

from gpuscope.cli import main
from gpuscope.commands.bench_output import describe_catalog, print_results
from gpuscope.measurement.run_errors import describe_error, line_end
from gpuscope.measurement.run_result import RunResult
from gpuscope.safe_text import ONE_LINE_MAX
from gpuscope.sinks.results import results_json, write_results_csv
from gpuscope.workloads.api import ContractError, Param, WorkloadError, as_work, contract_problems
from gpuscope.workloads.child import RunSpec
from gpuscope.workloads.events import ErrorKind, Failed, Result, Started
from gpuscope.workloads.facts import MAX_NOTES, clean_facts
from gpuscope.workloads.registry import find_workloads
from gpuscope.workloads.runner import WorkloadRun
from tests.fakes.fake_pynvml import FakeGpu
from tests.plugin_files import workload_with_step, write_plugin

GPUSCOPE = [sys.executable, "-m", "gpuscope"]
WIDE_GEMM = "\uff47\uff45\uff4d\uff4d"  # fullwidth letters that look like gemm
WIDE_SIZE = "\uff53\uff49\uff5a\uff45"
ESCAPES = "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGVsbG8=\x07\x9b31m"


def report(**fields: object) -> RunResult:
    values: dict[str, object] = dict(
        workload="w", device="cpu", telemetry_device=None, device_name=None, params={},
        unit="things", units=10.0, seconds=1.0, steps=1, throughput=10.0, tflops=None,
        energy_j=None, avg_power_w=None, work_per_joule=None, energy_source=None,
        pct_of_peak=None,
    )  # fmt: skip
    values.update(fields)
    return RunResult(**values)  # type: ignore[arg-type]


def assert_clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)


# -- facts ----------------------------------------------------------------------------------------


def test_an_integer_fact_too_long_to_write_is_dropped_with_a_note() -> None:
    kept, notes = clean_facts({"huge": 10**5000, "ok": 3, "big_but_fine": 2**63})
    assert kept == {"ok": 3, "big_but_fine": 2**63}
    (note,) = notes
    assert "'huge'" in note and "dropped" in note and len(note) <= ONE_LINE_MAX


def test_saving_results_survives_an_integer_too_long_to_write() -> None:
    """The UI's ``s`` and ``bench --json/--csv`` write through these: whatever a report holds
    (a file read back, a fact that got past the child), writing it never raises."""
    huge = report(facts={"huge": 10**5000, "ok": 3}, params={"n": -(10**5000)})
    payload = json.loads(results_json([huge]))
    assert payload["reports"][0]["facts"]["ok"] == 3
    assert payload["reports"][0]["facts"]["huge"] is None  # cannot be written: not known
    stream = io.StringIO()
    write_results_csv([huge], stream)
    assert "ok=3" in stream.getvalue() and len(stream.getvalue()) < 2000


def test_facts_and_their_notes_are_bounded() -> None:
    kept, notes = clean_facts({f"k{i}": object() for i in range(200_000)})
    assert kept == {} and len(notes) <= MAX_NOTES + 1
    assert notes[-1].startswith("and ") and "more" in notes[-1]
    assert sum(map(len, notes)) <= (MAX_NOTES + 1) * ONE_LINE_MAX
    many, notes = clean_facts({f"k{i}": i for i in range(200_000)})
    assert len(many) <= 100 and len(notes) == 1 and "more" in notes[0]
    long_key, notes = clean_facts({"x" * 10**6: object(), 7: 1})
    assert long_key == {} and all(len(n) <= ONE_LINE_MAX for n in notes)


def test_fact_texts_are_stripped_of_escapes_and_cut() -> None:
    kept, _ = clean_facts({f"key{ESCAPES}": f"value{ESCAPES}", "long": "y" * 10**6})
    assert list(kept) == ["key", "long"] and kept["key"] == "value"
    assert len(str(kept["long"])) <= ONE_LINE_MAX


# -- errors, one short line -----------------------------------------------------------------------


def test_a_step_returning_a_huge_list_is_a_short_contract_error() -> None:
    with pytest.raises(ContractError) as caught:
        as_work([0] * 5_000_000)
    assert len(str(caught.value)) <= ONE_LINE_MAX


def test_an_error_line_is_one_short_line_whatever_the_child_said() -> None:
    said = Failed(ErrorKind.CRASHED, f"boom{ESCAPES}\n" * 100_000, f"bye{ESCAPES}\n" + "z" * 10**6)
    line = describe_error(said)
    assert "\n" not in line and len(line) <= 2 * ONE_LINE_MAX
    assert_clean(line)


def test_a_last_line_megabytes_long_is_quoted_by_its_end() -> None:
    """2 GB without a newline, then the words that matter: the quote keeps where it stopped."""
    quoted = line_end("y" * 10**6 + f"the end{ESCAPES}", 200)
    assert quoted.startswith("…") and quoted.endswith("the end") and len(quoted) <= 200
    assert line_end("short", 200) == "short"


# -- terminal safety ------------------------------------------------------------------------------


def hostile_declarations(folder: Path) -> Path:
    return write_plugin(
        folder,
        "esc",
        f"""
class Esc(Workload):
    name = "esc"
    unit = "things{ESCAPES}"
    description = "clears the screen{ESCAPES}\\nand more"
    devices = ("cpu",)
    params = (Param("n", 1, help="help{ESCAPES}", choices=(1, 2)),)

    def setup(self, device, params):
        pass

    def step(self):
        return 1
""",
    )


def test_declared_texts_are_clean_in_the_catalog_and_the_list(tmp_path: Path) -> None:
    catalog = find_workloads(
        plugin_files=[hostile_declarations(tmp_path)], plugin_dirs=[], use_entry_points=False
    )
    esc = catalog.workloads["esc"]
    assert esc.unit == "things" and esc.description == "clears the screen and more"
    assert esc.params[0].help == "help"
    assert_clean(describe_catalog(catalog))


def test_a_plugin_raising_escapes_at_import_is_listed_clean(tmp_path: Path) -> None:
    write_plugin(tmp_path, "raiser", f"raise RuntimeError('nasty{ESCAPES}')\n")
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
    (broken,) = catalog.broken
    assert "nasty" in broken.reason
    assert_clean(broken.reason + describe_catalog(catalog))


def test_the_results_table_facts_and_notes_are_printed_clean(capsys) -> None:
    shown = report(
        workload=f"w{ESCAPES}", unit=f"u{ESCAPES}", facts={f"f{ESCAPES}": f"v{ESCAPES}"},
        notes=[f"note{ESCAPES}"], params={"p": f"x{ESCAPES}"},
    )  # fmt: skip
    print_results([shown], "table")
    captured = capsys.readouterr()
    assert "fv" in captured.out.replace("=", "") and "note" in captured.err
    assert_clean(captured.out + captured.err)


def test_gpuscope_list_prints_device_texts_clean(install_nvml, capsys) -> None:
    install_nvml([FakeGpu(name=f"Evil GPU{ESCAPES}", uuid=f"GPU-x{ESCAPES}")])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "Evil GPU" in out
    assert_clean(out)


def test_gpuscope_list_prints_each_device_text_as_one_short_line(install_nvml, capsys) -> None:
    """A driver's name can be any length and hold newlines: each field is one short line, so
    the columns stay columns."""
    install_nvml([FakeGpu(name="Evil\n\tGPU " + "x" * 10_000, uuid="GPU-x\n\n    y")])
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    first = next(line for line in out.splitlines() if line.startswith("nvidia:0"))
    assert first.startswith("nvidia:0  Evil GPU xxx") and "GPU-x y" in first
    assert max(map(len, out.splitlines())) <= 1000


# -- names --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [WIDE_GEMM, "g\u00e9mm", "-gemm", "g" * 65, "a b"])
def test_a_workload_name_must_be_an_ascii_identifier(name: str) -> None:
    class Odd:
        unit = "x"
        devices = ("cpu",)

    Odd.name = name  # type: ignore[attr-defined]
    assert any("name" in problem for problem in contract_problems(Odd))


def test_a_parameter_name_must_be_ascii() -> None:
    class Odd:
        name = "odd"
        unit = "x"
        devices = ("cpu",)
        params = (Param(WIDE_SIZE, 1),)

    assert any(WIDE_SIZE in problem for problem in contract_problems(Odd))


def test_a_fullwidth_plugin_name_is_listed_broken(tmp_path: Path) -> None:
    workload_with_step(tmp_path, "wide", "return 1").write_text(
        "from gpuscope.workloads.api import Workload\n"
        f"class Wide(Workload):\n    name = {WIDE_GEMM!r}\n    unit = 'x'\n"
        "    def setup(self, device, params): pass\n    def step(self): return 1\n"
    )
    catalog = find_workloads(plugin_dirs=[tmp_path], use_entry_points=False)
    assert WIDE_GEMM not in catalog.workloads
    assert any("ASCII" in b.reason for b in catalog.broken)


def test_a_requested_name_that_is_not_ascii_is_one_line_exit_2(capsys) -> None:
    assert main(["bench", WIDE_GEMM]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ASCII" in err and "gemm" in err  # the names there are


# -- parameter values ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["99999999999999999999999", "-99999999999999999999999", "9" * 5000],
    ids=["23 digits", "negative", "5000 digits"],
)
def test_an_integer_too_big_for_the_device_is_refused_in_one_short_line(text: str) -> None:
    size = Param("size", 8, minimum=1)
    with pytest.raises(WorkloadError) as caught:
        size.parse(text)
    assert len(str(caught.value)) <= 200


def test_bench_refuses_a_huge_size_in_one_line(capsys) -> None:
    assert main(["bench", "gemm", "--size", "99999999999999999999999"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "size" in err and len(err) <= 200
    assert "size must be from 1 to 9,223,372,036,854,775,807 (a 64-bit integer)" in err


# -- the child's output -----------------------------------------------------------------------


def run_plugin(path: Path, name: str) -> list[object]:
    catalog = find_workloads(plugin_files=[path], plugin_dirs=[], use_entry_points=False)
    assert not catalog.broken, catalog.broken
    spec = RunSpec(catalog.workloads[name].ref, "cpu", {}, duration_s=0.3, warmup_s=0.0)
    return list(WorkloadRun(spec, hang_timeout_s=30.0).events())


def test_a_flood_of_output_is_bounded_in_memory_and_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40 MB printed (a stand-in for 2 GB): the run's failure still comes, with the last lines
    it printed, and nothing in the temporary folder holds the flood."""
    logs = tmp_path / "tmp"
    logs.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(logs))
    setup = """
    import os, pathlib
    for _ in range(40):
        os.write(1, b"x" * 2**20)
    print("the very end", flush=True)
    held = sum(p.stat().st_size for p in pathlib.Path(os.environ["LOGS"]).iterdir())
    raise RuntimeError(f"held {held}")
    """
    monkeypatch.setenv("LOGS", str(logs))
    plugin = workload_with_step(tmp_path, "flood", "return 1", setup_body=setup)
    events = run_plugin(plugin, "flood")
    failed = events[-1]
    assert isinstance(failed, Failed), failed
    held = int(failed.message.rsplit(" ", 1)[-1])
    assert held <= 8 * 2**20  # bytes on disk while it printed
    assert failed.last_words.rstrip().endswith("the very end")
    assert len(failed.last_words) <= 4000


def test_a_child_error_megabytes_long_arrives_as_one_short_line(tmp_path: Path) -> None:
    plugin = workload_with_step(tmp_path, "lister", "return list(range(5_000_000))")
    failed = run_plugin(plugin, "lister")[-1]
    assert isinstance(failed, Failed) and failed.kind is ErrorKind.CONTRACT
    assert len(failed.message) <= ONE_LINE_MAX and len(failed.traceback) <= 4000


def test_the_child_does_not_need_the_parents_stdout(tmp_path: Path) -> None:
    """gpuscope started with its stdout closed (``>&-``): the run still gives its result."""
    plugin = workload_with_step(tmp_path, "chatty", "print('hello'); return 1")
    code = textwrap.dedent(f"""
        import os, sys
        from gpuscope.workloads.child import RunSpec
        from gpuscope.workloads.registry import find_workloads
        from gpuscope.workloads.runner import WorkloadRun
        from pathlib import Path
        catalog = find_workloads(plugin_files=[Path({str(plugin)!r})], plugin_dirs=[],
                                 use_entry_points=False)
        spec = RunSpec(catalog.workloads["chatty"].ref, "cpu", {{}}, duration_s=0.2, warmup_s=0)
        print(type(list(WorkloadRun(spec).events())[-1]).__name__, file=sys.stderr)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code], stdout=None, stderr=subprocess.PIPE, text=True,
        timeout=60, pass_fds=(), close_fds=True, preexec_fn=lambda: __import__("os").close(1),
    )  # fmt: skip
    assert done.stderr.strip().splitlines()[-1] == Result.__name__, done.stderr


def test_bench_with_stdout_closed_says_so_in_one_line() -> None:
    done = subprocess.run(
        [*GPUSCOPE, "bench", "gemm", "--size", "16", "--duration", "0.2", "--warmup", "0"],
        stdout=None, stderr=subprocess.PIPE, text=True, timeout=60,
        preexec_fn=lambda: __import__("os").close(1),
    )  # fmt: skip
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "stdout" in line and "internal error" not in line


def test_a_stdout_whose_reader_left_is_one_line_exit_1() -> None:
    """``gpuscope bench --list | true``: the pipe's reader is gone before the list is written."""
    proc = subprocess.Popen(
        [*GPUSCOPE, "bench", "--list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 1
    (line,) = err.strip().splitlines()
    assert "cannot print the results" in line


def test_started_notes_from_the_child_are_bounded_by_the_runner(tmp_path: Path) -> None:
    """The runner bounds what crosses from the child even where the child's own checks were
    bypassed (a plugin can patch anything in its process)."""
    plugin = workload_with_step(
        tmp_path,
        "patcher",
        "return 1",
        setup_body="""
        import gpuscope.workloads.child as child
        child.clean_facts = lambda facts: (facts, ["n" * 1000] * 500)  # 0.5 MB: under the cap
        """,
        facts_body=f"return {{'huge': 10**5000, 'esc': 'a{ESCAPES}'}}",
    )
    events = run_plugin(plugin, "patcher")
    started = next(e for e in events if isinstance(e, Started))
    assert "huge" not in started.facts and started.facts["esc"] == "a"
    assert len(started.notes) <= MAX_NOTES + 1
    assert sum(map(len, started.notes)) <= (MAX_NOTES + 1) * ONE_LINE_MAX


def test_a_child_message_over_the_cap_ends_the_run_before_it_is_read(tmp_path: Path) -> None:
    """A child whose checks were patched away sends a Started of 8 MB (one fact): the runner
    refuses it by its length, before unpickling it, in one line; the child is reaped."""
    plugin = workload_with_step(
        tmp_path,
        "bloater",
        "return 1",
        setup_body="""
        import gpuscope.workloads.child as child
        child.clean_facts = lambda facts: (facts, [])
        """,
        facts_body="return {'big': 'x' * (8 << 20)}",
    )
    catalog = find_workloads(plugin_files=[plugin], plugin_dirs=[], use_entry_points=False)
    spec = RunSpec(catalog.workloads["bloater"].ref, "cpu", {}, duration_s=0.3, warmup_s=0.0)
    run = WorkloadRun(spec, hang_timeout_s=30.0)
    events = list(run.events())
    assert not any(isinstance(e, Started) for e in events)
    failed = events[-1]
    assert isinstance(failed, Failed) and failed.kind is ErrorKind.EXCEPTION, failed
    assert "more than 1 MiB" in failed.message and len(failed.message) <= ONE_LINE_MAX
    assert run.pid is not None and not psutil.pid_exists(run.pid)  # reaped, not left blocked


def test_a_child_message_of_another_class_is_refused_not_built(tmp_path: Path) -> None:
    """Unpickling builds what the message names: a patched child sending ``os.mkdir`` through
    ``__reduce__`` would run it in gpuscope's process. Only the event classes are built."""
    marker = tmp_path / "ran-in-gpuscope"
    plugin = workload_with_step(
        tmp_path,
        "reducer",
        "return 1",
        setup_body=f"""
        import os
        import gpuscope.workloads.child as child

        class Reducer:
            def __reduce__(self):
                return (os.mkdir, ({str(marker)!r},))

        child.Started = lambda *args: Reducer()
        """,
    )
    failed = run_plugin(plugin, "reducer")[-1]
    assert isinstance(failed, Failed) and "cannot read" in failed.message, failed
    assert "mkdir" in failed.message and not marker.exists()


def test_a_child_message_that_cannot_be_read_is_said_in_one_bounded_line(tmp_path: Path) -> None:
    """Final review of issue 22: a patched child sending an event class built from a huge
    argument (``ErrorKind("A" * 5000)``) got its ValueError, argument and all, as the error."""
    plugin = workload_with_step(
        tmp_path,
        "longreason",
        "return 1",
        setup_body="""
        import gpuscope.workloads.child as child
        from gpuscope.workloads.events import ErrorKind

        class Long:
            def __reduce__(self):
                return (ErrorKind, ("A" * 5000,))

        child.Started = lambda *args: Long()
        """,
    )
    failed = run_plugin(plugin, "longreason")[-1]
    assert isinstance(failed, Failed) and "cannot read" in failed.message, failed
    assert len(failed.message) <= 300 and failed.message.endswith("…")
