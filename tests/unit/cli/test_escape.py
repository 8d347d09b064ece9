"""``formatting.escape_controls``: what the CLI prints to a terminal never acts on it, and the
file names that hold control characters are printed escaped (JSON output keeps JSON's own)."""
from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tarkit import SYM, E, layer_tar

from labkit.cli import main
from labkit.formatting import escape_controls
from labkit.oci.write import write_image_tar


@pytest.mark.parametrize("raw, shown", [
    ("plain name.txt", "plain name.txt"),
    ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
    ("new\nline", "new\\nline"),
    ("cr\rtab\tbs\x08", "cr\\rtab\\tbs\\x08"),
    ("nul\x00del\x7f", "nul\\x00del\\x7f"),
    ("c1\x85\x9b", "c1\\x85\\x9b"),
    ("bidi\u202etxt.exe", "bidi\\u202etxt.exe"),
    ("ls\u2028ps\u2029", "ls\\u2028ps\\u2029"),
    ("bad\udcffutf8", "bad\\xffutf8"),             # surrogateescape: the byte itself
    ("lone\ud800", "lone\\ud800"),
    ("h\u00e9llo w\u00f6rld \u65e5\u672c \u00a0nbsp", "h\u00e9llo w\u00f6rld \u65e5\u672c \u00a0nbsp"),
    ("back\\slash \\x1b", "back\\slash \\x1b"),     # printable text is left as it is
])
def test_escapes(raw: str, shown: str) -> None:
    assert escape_controls(raw) == shown


def test_keep_leaves_line_breaks_of_a_report() -> None:
    assert escape_controls("a\x1b[0m\nb\tc\n", keep="\n") == "a\\x1b[0m\nb\\tc\n"
    assert escape_controls("a\nb\tc", keep="\n\t") == "a\nb\tc"


@settings(max_examples=200, derandomize=True, deadline=None)
@given(st.text())
def test_escaped_text_is_printable_and_encodable(text: str) -> None:
    out = escape_controls(text)
    assert not any(_control(c) for c in out)
    out.encode("utf-8")                       # no lone surrogate is left to break print()
    assert escape_controls(out) == out        # nothing left to escape


def _control(c: str) -> bool:
    n = ord(c)
    return (n < 0x20 or 0x7F <= n <= 0x9F or 0xD800 <= n <= 0xDFFF
            or c in "\u061c\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


NAMES = ["\x1b[2J\x1b[31mred", "new\nline", "bidi\u202etxt"]


@pytest.fixture
def esc_image(tmp_path: Path) -> Path:
    layer = layer_tar([E(NAMES[0], data=b"1"), E(NAMES[1], data=b"2"), E(NAMES[2], data=b"3"),
                       E("link", SYM, link="\x1b]0;title\x07")], fmt=tarfile.PAX_FORMAT)
    write_image_tar([layer], {"history": [{"created_by": "RUN printf '\x1b[31m'"}]},
                    tmp_path / "esc.tar", repo_tags=["esc:1"])
    return tmp_path / "esc.tar"


@pytest.mark.parametrize("command", ["flatten", "inspect"])
def test_terminal_output_escapes_names(esc_image: Path, capsys, command: str) -> None:
    assert main([command, str(esc_image)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out and "\x07" not in out
    if command == "flatten":                  # the listing shows every name
        assert "\\x1b[2J\\x1b[31mred" in out and "new\\nline" in out and "bidi\\u202etxt" in out
        assert "-> \\x1b]0;title\\x07" in out


def test_json_output_keeps_the_names(esc_image: Path, capsys) -> None:
    assert main(["flatten", str(esc_image), "--json"]) == 0
    tree = json.loads(capsys.readouterr().out)
    assert set(NAMES) <= set(tree) and tree["link"]["linkname"] == "\x1b]0;title\x07"
    assert main(["inspect", str(esc_image), "--json"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out                  # JSON escapes it as \u001b
    json.loads(out)


def test_error_lines_escape_what_they_quote(tmp_path: Path, capsys) -> None:
    name = str(tmp_path / "no\x1b[31msuch\nfile.tar")
    assert main(["flatten", name]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "\x1b" not in err and "no\\x1b[31msuch\\nfile.tar" in err
