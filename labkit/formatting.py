"""Plain-text views of engine values for notebooks and the CLI (deterministic, nbval-friendly)."""
from __future__ import annotations

import re
from typing import Sequence

from .values import HistoryEntry, instruction_of

_UNITS = ("B", "kB", "MB", "GB", "TB", "PB")

# What a terminal may act on instead of showing: C0 and C1 controls and DEL (ESC starts colour,
# cursor and title sequences; CR and BS overwrite what was printed), the Unicode line and
# paragraph separators, the bidirectional overrides that reorder what is shown ("Trojan
# Source"), and lone surrogates (the bytes of a name that is not UTF-8, which print() refuses).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029"
                      "\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(c: str) -> str:
    if c in _SHORT:
        return _SHORT[c]
    n = ord(c)
    if n <= 0xFF:
        return f"\\x{n:02x}"
    if 0xDC80 <= n <= 0xDCFF:              # surrogateescape: the undecodable byte itself
        return f"\\x{n - 0xDC00:02x}"
    return f"\\u{n:04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` safe to print on a terminal: each control character written as a Python-style
    escape (ESC -> ``\\x1b``, newline -> ``\\n``, tab -> ``\\t``, U+202E -> ``\\u202e``, the
    undecodable byte 0xff of a name -> ``\\xff``); everything printable, backslashes included,
    is unchanged. ``keep`` lists control characters to leave alone, e.g. ``"\\n"`` for a
    multi-line report (the names in it should be escaped on their own first). For terminal
    text only: JSON output has its own escaping."""
    plain = text
    for c in keep:
        plain = plain.replace(c, "")
    if plain.isprintable():                # the common case, and fast: nothing to escape
        return text
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep else _escape_one(m.group()), text)


def human_size(n: int) -> str:
    """Bytes the way ``docker history`` and ``docker images`` print them: decimal units, three
    significant digits, no space (``0B``, ``220B``, ``1.23kB``, ``4.19MB``); ``?`` for a
    negative size (an unknown one). One deliberate difference: from 999,500 to 999,999 bytes
    Docker prints ``1e+03kB`` (Go's ``%.3g``); labkit prints the same number as ``1MB``."""
    if n < 0:
        return "?"
    value, i = float(n), 0
    while value >= 1000 and i < len(_UNITS) - 1:
        value /= 1000.0
        i += 1
    if float(f"{value:.3g}") >= 1000 and i < len(_UNITS) - 1:   # 999999 -> "1MB", not "1e+03kB"
        value /= 1000.0
        i += 1
    return f"{value:.3g}{_UNITS[i]}"


def shorten(text: str, width: int = 60) -> str:
    """``text`` on one line (runs of whitespace made one space), cut to ``width`` characters
    with an ellipsis when longer."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def short_instruction(created_by: str, width: int = 60) -> str:
    """A history entry's ``created_by`` as its Dockerfile line (``values.instruction_of``), on
    one line, cut to ``width``: ``/bin/sh -c #(nop)  ENV A=1`` -> ``ENV A=1``."""
    return shorten(instruction_of(created_by), width) if created_by else created_by


def format_history(entries: Sequence[HistoryEntry]) -> str:
    """``docker history``-like text, oldest first: layer number (or -), size, instruction."""
    rows = []
    for h in reversed(list(entries)):
        layer = "-" if h.layer_index is None else str(h.layer_index)
        rows.append(f"{layer:>5}  {h.size:>10,} B  {instruction_of(h.created_by)}")
    return "\n".join(["layer        size  instruction", *rows])


def format_build(record) -> str:
    """One line per step of a ``BuildRecord``: number, cache hit or miss, instruction, layer size."""
    total = len(record.steps)
    rows = []
    for s in record.steps:
        size = "" if s.layer_size is None else f"  ({s.layer_size:,} B)"
        rows.append(f"step {s.n}/{total}  {'cache hit ' if s.cached else 'built     '} {s.instruction}{size}")
    if record.failure is not None:
        rows.append(f"FAILED: {record.failure}")
    else:
        rows.append("built " + (", ".join(record.image.tags) if record.image and record.image.tags
                                else (record.image.short_id if record.image else "nothing")))
    return "\n".join(rows)
