"""What ``gpuscope report`` does with inputs an attacker or a careless user hands it (issue 22):
hostile result files, impossible figures, devices and pipes instead of files, markup in names,
and an output whose suffix names no format. Each is one line and exit 2, or a report that shows
n/a with a note; never "internal error", never a hang."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from gpuscope.cli import main
from gpuscope.errors import UsageError

pytest.importorskip("matplotlib")

REPORT = {"workload": "gemm", "device": "cuda:0", "unit": "FLOP", "throughput": 1.0e14,
          "work_per_joule": 2.0e11, "params": {"dtype": "bf16", "size": 4096}}  # fmt: skip
CPU = {**REPORT, "device": "cpu", "throughput": 1.0e12, "work_per_joule": 5.0e9}
RECORDING = (
    "timestamp,device,power_w,util_gpu_pct\n"
    "2026-12-07T10:00:00+00:00,nvidia:0,100,50\n"
    "2026-12-07T10:00:01+00:00,nvidia:0,110,60\n"
)


def gpuscope(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gpuscope", *args], capture_output=True, text=True, timeout=60,
        **kwargs,
    )  # fmt: skip


def refused_in_one_line(result: subprocess.CompletedProcess[str], said: str) -> None:
    assert result.returncode == 2, result.stderr
    assert said in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "internal error" not in result.stderr


def deep(levels: int) -> str:
    return '{"reports": ' + "[" * levels + "]" * levels + "}"


HOSTILE = {  # name: (file bytes, None if accepted else what the one line says)
    "nested 100k deep": (deep(100_000).encode(), "nested deeper than"),
    "nested 40 deep": (deep(40).encode(), "nested deeper than 32 levels"),
    "an integer of 5,000 digits": (
        ('{"reports": [{"workload": "g", "device": "cpu", "unit": "F", "throughput": 1'
         + "0" * 5000 + "}]}").encode(), "a number too long to be a figure"),
    "an integer of 400 digits": (
        ('{"reports": [{"workload": "g", "device": "cpu", "unit": "F", "steps": 1'
         + "0" * 400 + "}]}").encode(), "a number too large to be a figure"),
    "1e999": (json.dumps({"reports": [{**REPORT, "throughput": 1}]}).replace(
        '"throughput": 1', '"throughput": 1e999').encode(), None),
    "a string where a number goes": (
        json.dumps({"reports": [{**REPORT, "avg_power_w": "300 W"}]}).encode(),
        "avg_power_w is not a number"),
    "a list where the results go": (b'{"reports": [[1, 2]]}', "report 1 is not an object"),
    "a list where params go": (
        json.dumps({"reports": [{**REPORT, "params": [4096]}]}).encode(),
        "params is not an object"),
    "a list where the sweep goes": (
        b'{"workload": "gemm", "sweep": [], "points": []}', "a sweep without its parameter"),
    "a list as a swept value": (
        json.dumps({"workload": "gemm", "sweep": {"param": "size", "values": [[1]]},
                    "points": []}).encode(), "a swept value is not a number or a word"),
    "a swept value of 1e308": (
        json.dumps({"workload": "gemm", "sweep": {"param": "size", "values": [1e308]},
                    "points": []}).encode(), "a swept value is not a number or a word"),
    "an object as a point's value": (
        json.dumps({"workload": "gemm", "sweep": {"param": "size", "values": [1]},
                    "points": [{"device": "cpu", "status": "oom", "size": {"a": 1}}]}).encode(),
        "size is not a number or a word"),
    "a list as a suite's item": (b'{"reports": [], "items": [1]}', "items is not a list"),
    "null results": (b'{"reports": null}', "neither bench --json"),
    "a null result": (b'{"reports": [null]}', "report 1 is not an object"),
    "null everywhere in a result": (
        json.dumps({"reports": [{k: None for k in (*REPORT, "facts", "chosen")}]}).encode(),
        "report 1: has no workload"),
    "null everywhere in a point": (
        json.dumps({"workload": None, "sweep": {"param": "size", "values": [None]},
                    "points": [{"device": None, "status": None, "size": None,
                                "report": None}]}).encode(), "device is not text"),
    "a missing device": (json.dumps({"reports": [{"workload": "g", "unit": "F"}]}).encode(),
                         "report 1: has no device"),
    "a missing status": (
        json.dumps({"workload": "g", "sweep": {"param": "size", "values": [1]},
                    "points": [{"device": "cpu", "size": 1}]}).encode(), "has no status"),
    "another schema version": (b'{"schema": 99, "reports": {"gemm": {"cpu": 1}}}',
                               "neither bench --json nor bench --sweep --json"),
    "a JSON line nested deep": (
        b'{"timestamp": "2026-12-07T10:00:00+00:00", "device": "cpu"}\n'
        + b'{"timestamp": ' + b"[" * 5_000 + b"]" * 5_000 + b"}\n", "2: not a JSON line"),
    "a timestamp of another type": (
        b'{"timestamp": "2026-12-07T10:00:00+00:00", "device": "cpu"}\n'
        b'{"timestamp": [2026], "device": "cpu"}\n', "row 2: bad timestamp"),
    "a UTF-8 BOM on results": (
        b"\xef\xbb\xbf" + json.dumps({"reports": [CPU, REPORT]}).encode(), None),
    "a UTF-8 BOM on a recording": (b"\xef\xbb\xbf" + RECORDING.encode(), None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
def test_a_hostile_file_is_one_line_and_exit_2_or_a_sane_report(case: str, tmp_path: Path) -> None:
    content, said = HOSTILE[case]
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    out = tmp_path / "r.html"
    result = gpuscope("report", str(path), "-o", str(out))
    if said is None:
        assert result.returncode == 0, result.stderr
        page = out.read_text()
        assert "<table>" in page and "not a gpuscope file" not in result.stderr
    else:
        refused_in_one_line(result, said)
        assert not out.exists()


IMPOSSIBLE = ("NaN", "Infinity", "-Infinity", "-5", "1e308", "1e999")


def test_impossible_figures_are_shown_as_n_a_with_a_note(tmp_path: Path) -> None:
    """Issue 22: "nan FLOP/s", "-5 FLOP/s" and a 309-digit cell were drawn as figures."""
    reports = [
        {**REPORT, "device": f"cuda:{n}", "throughput": f"@{bad}", "avg_power_w": f"@{bad}",
         "peak_mem_mib": f"@{bad}", "tflops": f"@{bad}", "work_per_joule": f"@{bad}"}
        for n, bad in enumerate(IMPOSSIBLE)
    ]  # fmt: skip
    text = json.dumps({"reports": [CPU, *reports]})
    for bad in IMPOSSIBLE:
        text = text.replace(f'"@{bad}"', bad)
    bench = tmp_path / "bench.json"
    bench.write_text(text)
    recording = tmp_path / "rec.csv"
    recording.write_text(
        RECORDING
        + "".join(
            f"2026-12-07T10:00:0{n + 2}+00:00,nvidia:0,{bad.lower()},{bad}\n"
            for n, bad in enumerate(IMPOSSIBLE)
        )
    )
    for suffix in ("html", "md"):
        out = tmp_path / f"r.{suffix}"
        assert main(["report", str(bench), str(recording), "-o", str(out)]) == 0
        page = out.read_text().lower()
        cells = re.findall(r"<td[^>]*>([^<]*)</td>", page) or [
            cell for line in page.splitlines() if line.startswith("|")
            for cell in line.split("|")
        ]  # fmt: skip
        for bad in ("nan", "inf", "-5", "e+", "0" * 30):
            assert not [c for c in cells if bad in c.replace(",", "")], bad
        assert "throughput nan cannot be real" in page and "cannot be real: n/a" in page
        assert "averaged 105 w, peak 110 w" in page  # the impossible readings left out


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_an_endless_device_is_refused_at_once(device: str, tmp_path: Path) -> None:
    """Issue 22: read until memory ran out."""
    refused_in_one_line(gpuscope("report", device, "-o", str(tmp_path / "r.html")), device)


def test_files_past_the_caps_are_refused_before_a_byte_is_read(tmp_path: Path) -> None:
    from gpuscope.report.inputs import INPUT_MAX_BYTES, JSON_MAX_BYTES

    huge = tmp_path / "huge.csv"
    with huge.open("wb") as handle:  # sparse: no disk used
        handle.write(b"timestamp,device\n")
        handle.truncate(INPUT_MAX_BYTES + 1)
    refused_in_one_line(gpuscope("report", str(huge), "-o", str(tmp_path / "r.html")),
                        "larger than 2 GiB")  # fmt: skip
    results = tmp_path / "results.json"
    with results.open("wb") as handle:
        handle.write(b'{"reports": []')
        handle.truncate(JSON_MAX_BYTES + 1)
    refused_in_one_line(gpuscope("report", str(results), "-o", str(tmp_path / "r.html")),
                        "a results file larger than 24 MiB")  # fmt: skip


def test_stdin_dev_stdin_and_process_substitution_are_read_once(tmp_path: Path) -> None:
    """Issue 22: ``report /dev/stdin`` and ``<(cat x.json)`` failed."""
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": [CPU, REPORT]}))
    said = "100x the throughput of cpu"
    for n, name in enumerate(("-", "/dev/stdin")):
        out = tmp_path / f"stdin{n}.html"
        result = gpuscope("report", name, "-o", str(out), input=bench.read_text())
        assert result.returncode == 0, result.stderr
        assert said in out.read_text()
    out = tmp_path / "substituted.html"
    command = f"{sys.executable} -m gpuscope report <(cat {bench}) <(cat -) -o {out}"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True,
                            timeout=60, input=RECORDING)  # fmt: skip
    assert result.returncode == 0, result.stderr
    page = out.read_text()
    assert said in page and "averaged 105 W" in page


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_read_as_it_comes_and_one_nobody_writes_to_is_given_up_on(
    tmp_path: Path,
) -> None:
    """Issue 22: a FIFO as input hung."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with fifo.open("w") as handle:
            handle.write(RECORDING)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    result = gpuscope("report", str(fifo), "-o", str(tmp_path / "r.html"))
    writer.join(timeout=10)
    assert result.returncode == 0, result.stderr
    assert "averaged 105 W" in (tmp_path / "r.html").read_text()
    code = (
        "import sys\nimport gpuscope.bounded_read as reading\nreading.IDLE_S = 0.5\n"
        "from gpuscope.cli import main\n"
        f"sys.exit(main(['report', {str(fifo)!r}, '-o', {str(tmp_path / 'q.html')!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=30)  # fmt: skip
    refused_in_one_line(result, "nothing arrived for 0.5 s")


MARKUP = {
    "device": "<script>alert('device')</script>",
    "device_name": "<img src=x onerror=alert(1)>",
    "workload": "[click](javascript:alert(1))*x*",
}


def test_markup_in_names_is_text_in_the_markdown_and_the_html(tmp_path: Path) -> None:
    """Issue 22: ``<script>`` in a device name ran when the Markdown was rendered to HTML."""
    markdown_it = pytest.importorskip("markdown_it")
    bench = tmp_path / "bench.json"
    hostile = {**REPORT, **MARKUP, "shared": "shared: \x1b]52;c;cm0gLXJmIH4=\x07 pid 1"}
    bench.write_text(json.dumps({"reports": [{**CPU, "workload": MARKUP["workload"]}, hostile]}))
    md = tmp_path / "r.md"
    assert main(["report", str(bench), "-o", str(md)]) == 0
    text = md.read_text()
    rendered = markdown_it.MarkdownIt("commonmark").render(text)  # raw HTML allowed, as GitHub
    for tag in ("<script", "<img src=x", 'href="javascript'):
        assert tag not in rendered
    assert "&lt;script&gt;alert('device')&lt;/script&gt;" in rendered  # shown, not run
    assert "\x1b" not in text and "\x07" not in text
    page = tmp_path / "r.html"
    assert main(["report", str(bench), "-o", str(page)]) == 0
    html = page.read_text()
    assert "<script" not in html and "<img" not in html and "\x1b" not in html


def test_the_output_format_follows_the_suffix_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    """Issue 22: ``report -o r.pdf`` silently wrote HTML into r.pdf."""
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": [CPU]}))
    refused_in_one_line(gpuscope("report", str(bench), "-o", str(tmp_path / "r.pdf")),
                        "a report is .html or .md")  # fmt: skip
    assert not (tmp_path / "r.pdf").exists()
    assert main(["report", str(bench), "-o", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.md").read_text().startswith("# gpuscope report")
    assert main(["report", str(bench), "-o", str(tmp_path / "R.HTML")]) == 0
    assert (tmp_path / "R.HTML").read_text().startswith("<!DOCTYPE html>")
    assert main(["report", str(bench), "-o", str(tmp_path / "x.pdf"), "--format", "md"]) == 0
    assert (tmp_path / "x.pdf").read_text().startswith("# gpuscope report")


def test_a_directory_and_a_missing_file_are_one_line(tmp_path: Path) -> None:
    refused_in_one_line(gpuscope("report", str(tmp_path), "-o", str(tmp_path / "r.html")),
                        "Is a directory")  # fmt: skip
    refused_in_one_line(gpuscope("report", str(tmp_path / "nope.json"), "-o",
                                 str(tmp_path / "r.html")), "No such file")  # fmt: skip


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
def test_a_file_named_twice_is_read_once_and_a_link_to_an_input_is_not_the_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": [CPU, REPORT]}))
    link = tmp_path / "link.json"
    link.symlink_to(bench)
    out = tmp_path / "r.html"
    assert main(["report", str(bench), str(link), "-o", str(out)]) == 0
    assert out.read_text().count("<h2>Results:") == 1
    assert main(["report", str(bench), "-o", str(link), "--force"]) == 2
    assert "is one of the inputs" in capsys.readouterr().err


def test_a_recording_with_quoted_cells_crlf_and_short_and_long_rows_reads_whole(
    tmp_path: Path,
) -> None:
    """Rows are split at commas for speed; a quoted cell (a comma or a newline in a name) and
    Windows line ends must still read as the csv module reads them."""
    import csv

    from gpuscope.report.inputs import load_input

    path = tmp_path / "rec.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["timestamp", "device", "power_w", "device_name", "mem_total_mib"])
        writer.writerow(["2026-12-07T10:00:00+00:00", "nvidia:0", "100", 'GPU, "big"\nA', ""])
        writer.writerow(["2026-12-07T10:00:01+00:00", "nvidia:0", "120"])
        writer.writerow(["2026-12-07T10:00:01.5+00:00", "nvidia:0", "90", "", "", *"xyz"])
        writer.writerow(["2026-12-07T10:00:02+00:00", "nvidia:0", "110", "", "81559"])
    (track,) = load_input(path).tracks  # type: ignore[union-attr]
    assert track.samples == 4 and track.columns["power_w"].peak == 120.0
    assert track.card == {"device_name": 'GPU, "big" A', "mem_total_mib": 81559.0}


def test_the_report_and_the_config_share_one_bounded_reader(tmp_path: Path) -> None:
    """Review #10: ``report``'s inputs and ``config.toml`` each had their own non-blocking
    open, regular-file check and size cap."""
    from gpuscope.bounded_read import NotRegularFile, TooLarge, open_input, read_regular
    from gpuscope.config import load_config

    small = tmp_path / "small.toml"
    small.write_text("cpu_tdp_w = 125\n")
    assert read_regular(small, 100) == b"cpu_tdp_w = 125\n"
    with pytest.raises(TooLarge, match="larger than 10 bytes"):
        read_regular(small, 10)
    with pytest.raises(NotRegularFile):
        read_regular(tmp_path, 100)  # a folder at the config path: one line, as a FIFO
    with pytest.raises(UsageError, match="is not a regular file"):
        load_config(tmp_path)
    stream, size = open_input(Path("/dev/zero"), 1000)  # a device: read as it comes, capped
    with stream, pytest.raises(TooLarge, match="larger than 1000 bytes"):
        assert size is None
        stream.read(5000)


def test_names_from_a_recording_and_a_results_file_are_cut_alike(tmp_path: Path) -> None:
    """Review #10/#11: a name was cut at 200 characters in a recording, at 1,000 in a results
    file (and the user guide said 1,000 for both)."""
    from gpuscope.report.inputs import load_input
    from gpuscope.safe_text import ONE_LINE_MAX

    name = "gpu" + "x" * 2000
    recording = tmp_path / "rec.csv"
    recording.write_text(RECORDING.replace("nvidia:0", name))
    bench = tmp_path / "bench.json"
    bench.write_text(json.dumps({"reports": [{**REPORT, "device": name}]}))
    from_recording = load_input(recording).tracks[0].device  # type: ignore[union-attr]
    from_results = load_input(bench).results[0].device  # type: ignore[union-attr]
    assert from_recording == from_results
    assert len(from_recording) == ONE_LINE_MAX and from_recording.endswith("…")


@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_every_line_of_a_recording_is_held_to_the_line_limit(where: str, tmp_path: Path) -> None:
    """Review #8: ``LINE_MAX`` was checked only on the part of a line left at the end of each
    1 MiB block: a 300 KB line in the middle of a block was read."""
    from gpuscope.report.recording import LINE_MAX

    long = "2026-12-07T10:00:02+00:00,nvidia:0,100,50," + "x" * (LINE_MAX + 10)
    lines = RECORDING.splitlines()
    at = {"first": 0, "middle": 1, "last": len(lines)}[where]
    lines.insert(at, long if at else "timestamp," + "y" * (LINE_MAX + 10))
    recording = tmp_path / "rec.csv"
    recording.write_text("\n".join(lines) + "\n")
    refused_in_one_line(gpuscope("report", str(recording), "-o", str(tmp_path / "r.html")),
                        "a line longer than 64 KiB")  # fmt: skip
    jsonl = tmp_path / "rec.jsonl"
    sample = json.dumps({"timestamp": "2026-12-07T10:00:00+00:00", "device": "nvidia:0"})
    jsonl.write_text(sample + "\n" + json.dumps({"device": "z" * LINE_MAX}) + "\n" + sample)
    refused_in_one_line(gpuscope("report", str(jsonl), "-o", str(tmp_path / "j.html")),
                        "a line longer than 64 KiB")  # fmt: skip


def test_a_results_file_of_too_many_values_is_refused_before_it_is_parsed(tmp_path: Path) -> None:
    """Review #2: a results file is read whole and ``json.loads`` makes an object of every
    value (64 bytes for ``{}``, 3 in the file): 256 MiB of them came to gigabytes."""
    from gpuscope.report.inputs import JSON_MAX_BYTES, JSON_VALUES_MAX

    assert JSON_MAX_BYTES <= 32 * 1024**2  # bench --json of 20,000 runs is 18 MB
    results = tmp_path / "results.json"
    results.write_text('{"reports": [], "x": [' + ",".join(["{}"] * JSON_VALUES_MAX) + "]}")
    refused_in_one_line(gpuscope("report", str(results), "-o", str(tmp_path / "r.html")),
                        f"a results file of more than {JSON_VALUES_MAX:,} values")  # fmt: skip
