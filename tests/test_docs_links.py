"""Every link, path and command in the docs still works: a relative link reaches a file (and its
heading, where it names one), a script a page names exists and takes the options the page gives
it, and every ``gpuscope`` command line shown uses options that command has."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from gpuscope.cli import build_parser
from gpuscope.workloads.registry import bundled_workloads

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", ROOT / "plugins" / "README.md", *(ROOT / "docs").glob("*.md")])
COMMANDS = ("list", "record", "serve", "bench", "suite", "report", "jobs")


def _page_id(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _prose(text: str) -> str:
    """The page without its fenced code blocks (a link or heading there is not one)."""
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.S | re.M)


def _anchors(page: Path) -> set[str]:
    """The anchors GitHub gives a page's headings: lower case, punctuation dropped, spaces to
    hyphens, ``-1``, ``-2`` after a repeated one."""
    seen: dict[str, int] = {}
    anchors = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", _prose(page.read_text()), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _links(page: Path) -> list[str]:
    return [
        target
        for target in re.findall(r"\]\(([^)\s]+)\)", _prose(page.read_text()))
        if not re.match(r"[a-z]+:", target)  # http:, https:, mailto:
    ]


def test_slugs_follow_github() -> None:
    page = ROOT / "docs" / "benchmarks.md"
    assert "gpuscope-list-within-100-ms" in _anchors(page)  # "### `gpuscope list` within 100 ms"


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_relative_link_reaches_its_file_and_heading(page: Path) -> None:
    broken = []
    for target in _links(page):
        path, _, anchor = target.partition("#")
        destination = (page.parent / path).resolve() if path else page
        if not destination.exists():
            broken.append(f"{target}: no such file")
        elif anchor and destination.suffix == ".md" and anchor not in _anchors(destination):
            broken.append(f"{target}: no heading with that anchor")
    assert broken == []


def _code(text: str) -> list[str]:
    """Inline code spans and the lines of fenced blocks, each a place a command may be shown."""
    blocks = re.findall(r"^ *```[^\n]*\n(.*?)^ *```", text, re.S | re.M)
    lines = [line for block in blocks for line in block.splitlines()]
    return lines + re.findall(r"`([^`\n]+)`", _prose(text))


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_script_a_page_names_exists_with_the_options_it_gives(page: Path) -> None:
    wrong = []
    for code in _code(page.read_text()):
        for script, args in re.findall(
            r"(?<![\w/.~])((?:benchmarks|scripts|tests|plugins)/[\w/]+\.py)(.*)", code
        ):
            if not (ROOT / script).exists():
                wrong.append(f"{script}: no such file")
                continue
            source = (ROOT / script).read_text()
            if script == "scripts/gpu_check.py":  # its options live in its package
                source += "".join(p.read_text() for p in (ROOT / "scripts/gpucheck").glob("*.py"))
            words = shlex.split(re.split(r" (?:\||&&|;|>|<|#|2>)", args)[0], posix=True)
            for option in (w.split("=")[0] for w in words if w.startswith("--")):
                if f'"{option}"' not in source:
                    wrong.append(f"{script} {option}: the script has no such option")
    assert wrong == []


def _options(command: str | None) -> set[str]:
    """The options ``gpuscope [command] --help`` lists."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args([*([command] if command else []), "--help"])
    return set(re.findall(r"(?<![\w-])(--?[\w-]+)", out.getvalue()))


def _workload_options() -> dict[str, set[str]]:
    return {
        name: {f"--{p.name}" for p in info.params}
        for name, info in bundled_workloads().workloads.items()
    }


def _gpuscope_commands(text: str) -> list[list[str]]:
    """Each ``gpuscope ...`` command line shown, as words, up to a pipe, redirect or comment."""
    found = []
    for code in _code(text):
        for match in re.finditer(r"(?:^|(?<=[\s/]))gpuscope(?= |$)(.*)", code):
            line = re.split(r" (?:\||&&|;|>|<|#|2>)", match[1])[0]
            with contextlib.suppress(ValueError):
                found.append(shlex.split(line.replace("...", "")))
    return found


def test_the_command_reader_sees_options_and_stops_at_a_pipe() -> None:
    shown = "`gpuscope bench gemm --size 64 | head` and `.venv/bin/gpuscope --demo`"
    assert _gpuscope_commands(shown) == [["bench", "gemm", "--size", "64"], ["--demo"]]


@pytest.mark.parametrize("page", PAGES, ids=_page_id)
def test_every_gpuscope_command_a_page_shows_has_its_options(page: Path) -> None:
    workloads = _workload_options()
    known = {command: _options(command) for command in (None, *COMMANDS)}
    wrong = []
    for words in _gpuscope_commands(page.read_text()):
        command = words[0] if words and words[0] in COMMANDS else None
        allowed = set(known[command])
        if command == "bench" and len(words) > 1:  # a workload's own parameters follow it
            allowed |= workloads.get(words[1], {w for w in words if w.startswith("--")})
        for word in words:
            option = word.split("=")[0]
            is_option = option.startswith("-") and not re.fullmatch(r"-[\d.]*", option)
            if is_option and option not in allowed:
                wrong.append(f"gpuscope {' '.join(words)}: {option}")
    assert wrong == []
