"""Text from outside reaches no terminal with its control sequences, and no line is unbounded."""

from __future__ import annotations

import pytest

from gpuscope.safe_text import ONE_LINE_MAX, field_text, one_line, printable

HOSTILE = [
    ("\x1b[2J\x1b[Hgemm", "gemm"),  # clear screen, cursor home
    ("\x1b]0;pwned\x07title", "title"),  # set the window title
    ("\x1b]52;c;ZWNobyBoaQ==\x1b\\clip", "clip"),  # OSC 52 clipboard write, ST-terminated
    ("\x9b2Jc1", "c1"),  # 8-bit CSI
    ("\x9d0;t\x9cx", "x"),  # 8-bit OSC
    ("bell\x07 back\x08 del\x7f nul\x00", "bell back del nul"),
    ("\u202eevil\u202c", "evil"),  # right-to-left override
    ("\x1bcreset", "reset"),  # RIS: full terminal reset
    ("unterminated \x1b]0;title", "unterminated "),
]


@pytest.mark.parametrize(("raw", "shown"), HOSTILE)
def test_printable_strips_every_control_sequence(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_printable_keeps_ordinary_text_and_newlines() -> None:
    kind = "ResNet-50 · 3.1 images/s µs 日本\nnext"
    assert printable(kind) == kind
    assert printable("a\tb\r\nc") == "a b\nc"


def test_one_line_joins_lines_and_cuts_with_an_ellipsis() -> None:
    assert one_line("Traceback\n  File x\nValueError: bad") == "Traceback File x ValueError: bad"
    cut = one_line("word " * 1000, limit=40)
    assert len(cut) == 40 and cut.endswith("…")


def test_one_line_of_a_huge_text_is_bounded_and_cheap() -> None:
    huge = "[" + ", ".join(["1"] * 5_000_000) + "]"
    line = one_line(huge)
    assert len(line) <= 300 and line.endswith("…")


@pytest.mark.parametrize(
    ("error", "code"),
    [("UsageError", 2), ("CommandFailed", 1), ("RuntimeError", 1)],
)
def test_the_command_line_says_any_failure_in_one_printable_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: str, code: int
) -> None:
    """Whatever a command's failure carries (a plugin's 44 MB message, a file name with escape
    sequences), stderr gets one bounded line without them."""
    import gpuscope.commands.listing as listing
    from gpuscope import cli, errors

    kind = getattr(errors, error, None) or RuntimeError

    def fail(**_: object) -> int:
        raise kind("\x1b]52;c;ZXZpbA==\x07bad\nTraceback line\n" + "x" * 1_000_000)

    monkeypatch.setattr(listing, "run_list", fail)
    assert cli.main(["list"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "\x07" not in err
    assert "bad Traceback line" in err and len(err) < 500


def test_field_text_keeps_a_plain_name_and_bounds_the_rest_by_one_limit() -> None:
    """Review #10: names from a results file were cut at 1,000 characters, from a recording
    at 200, by two helpers."""
    name = "NVIDIA H100 80GB HBM3"
    assert field_text(name) is name
    assert field_text("\x1b]52;c;ZWNobw==\x07gpu\nname") == "gpu name"
    long = field_text("x" * 5000)
    assert len(long) == ONE_LINE_MAX and long.endswith("…")


@pytest.mark.parametrize(
    ("shell", "said"),
    [
        ("list | true", ""),  # a reader that left: one line (or none, if it left after)
        ("list > /dev/full", "gpuscope list: cannot print the results: No space left on device"),
        ("--demo >&-", "gpuscope: the UI needs a terminal on stdout and stderr"),
    ],
)
def test_a_command_whose_stdout_fails_says_so_in_one_line(shell: str, said: str) -> None:
    """Final review of issue 22: ``list`` with a full or closed-early stdout, and the UI with a
    closed stdout, ended in an internal error."""
    import shlex
    import subprocess
    import sys

    command = f"{shlex.quote(sys.executable)} -m gpuscope {shell}"
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60
    )
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    assert said in result.stderr and result.stderr.count("\n") <= 1, result.stderr
    assert result.returncode in ((0, 1, 141) if "|" in shell else (1, 2))
