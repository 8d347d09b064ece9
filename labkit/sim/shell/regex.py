"""POSIX regular expressions (glibc's BRE and ERE, C locale, GNU escapes) translated to
Python's ``re`` for ``grep`` and ``sed``; a pattern glibc refuses is ``_BadRegex``, and one
whose POSIX reading ``re`` cannot reproduce faithfully raises ``UnsupportedOperation``.
"""
from __future__ import annotations

import re

from .base import _unsupported

_CLASSES = {
    "alpha": "A-Za-z", "digit": "0-9", "alnum": "0-9A-Za-z", "upper": "A-Z", "lower": "a-z",
    "space": " \t\n\r\f\v", "blank": " \t", "punct": "!-/:-@\\[-`{-~", "print": " -~",
    "graph": "!-~", "cntrl": "\x00-\x1f\x7f", "xdigit": "0-9A-Fa-f",
}


class _BadRegex(Exception):
    """glibc's regcomp refuses the pattern (BusyBox: ``bad regex 'PATTERN'``)."""


def _class_body(items: list, negate: bool) -> str:
    out = []
    for it in items:
        if isinstance(it, tuple):
            out.append("\\x%02x-\\x%02x" % (ord(it[0]), ord(it[1])))
        else:
            out.append("\\x%02x" % ord(it))
    return "[" + ("^" if negate else "") + "".join(out) + "]"


def _bracket(p: str, i: int) -> tuple[str, int]:
    """A POSIX bracket expression starting after ``[`` at ``i``: (Python class, next index)."""
    negate = False
    if i < len(p) and p[i] == "^":
        negate, i = True, i + 1
    items: list = []
    first = True
    while True:
        if i >= len(p):
            raise _BadRegex("Unmatched [, [^, [:, [., or [=")
        c = p[i]
        if c == "]" and not first:
            return _class_body(items, negate), i + 1
        first = False
        if c == "[" and i + 1 < len(p) and p[i + 1] in ":=.":
            kind = p[i + 1]
            end = p.find(kind + "]", i + 2)
            if end < 0:
                raise _BadRegex("Unmatched [, [^, [:, [., or [=")
            word = p[i + 2:end]
            if kind != ":":
                raise _unsupported(f"the bracket item '[{kind}{word}{kind}]' in a regular expression")
            if word not in _CLASSES:
                raise _BadRegex("Invalid character class name")
            body = _CLASSES[word]
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    items.append((body[k], body[k + 2]))
                    k += 3
                else:
                    items.append(body[k])
                    k += 1
            i = end + 2
            continue
        if i + 2 < len(p) and p[i + 1] == "-" and p[i + 2] != "]":
            lo, hi = c, p[i + 2]
            if hi == "[":
                raise _unsupported("a range ending in a bracket item in a regular expression")
            if ord(hi) < ord(lo):
                raise _BadRegex("Invalid range end")
            items.append((lo, hi))
            i += 3
            continue
        items.append(c)
        i += 1


_GNU_ESCAPES = {"w": r"\w", "W": r"\W", "s": r"[ \t\n\r\f\v]", "S": r"[^ \t\n\r\f\v]",
                "b": r"\b", "B": r"\B", "<": r"\b(?=\w)", ">": r"\b(?<=\w)", "`": r"\A",
                "'": r"\Z"}


def _translate_re(p: str, ere: bool, *, sed: bool = False) -> tuple[str, bool]:
    """A POSIX (glibc, C locale) BRE or ERE as a Python pattern; returns (pattern, whether it
    has alternation: Python then picks the first alternative, POSIX the longest match).
    Raises _BadRegex where glibc would refuse it and UnsupportedOperation where a faithful
    translation is not known."""
    out: list[str] = []
    i = 0
    n = len(p)
    depth = 0
    groups = 0
    alt = False
    can_repeat = False          # is there an atom a quantifier can apply to?
    at_start = True             # start of the RE, of a group or of an alternative

    def quant(q: str) -> None:
        nonlocal at_start
        if out and out[-1] in ("*", "+", "?") or (out and out[-1].endswith("}") and out[-1].startswith("{")):
            raise _unsupported("a repeated quantifier (like 'a**') in a regular expression")
        out.append(q)
        at_start = False

    while i < n:
        c = p[i]
        if c == "\\":
            if i + 1 >= n:
                raise _BadRegex("Trailing backslash")
            d = p[i + 1]
            i += 2
            if not ere and d == "(":
                out.append("(")
                depth += 1
                groups += 1
                can_repeat, at_start = False, True
                if i < n and p[i] == "*":           # '\(*' : the star is literal
                    out.append(r"\*")
                    i += 1
                    can_repeat, at_start = True, False
                if i < n and p[i] == "^":
                    out.append("^")
                    i += 1
                continue
            if not ere and d == ")":
                if depth == 0:
                    raise _BadRegex("Unmatched ( or \\(")
                depth -= 1
                out.append(")")
                can_repeat, at_start = True, False
                continue
            if not ere and d == "|":
                if at_start or i >= n or p[i:i + 2] in ("\\)", "\\|"):
                    raise _unsupported("an empty alternative in a regular expression")
                out.append("|")
                alt = True
                can_repeat, at_start = False, True
                if i < n and p[i] == "^":
                    out.append("^")
                    i += 1
                continue
            if not ere and d == "{":
                end = p.find("\\}", i)
                m = re.fullmatch(r"(\d+)(,(\d*))?", p[i:end]) if end >= 0 else None
                if not m or not can_repeat:
                    if not can_repeat and m:
                        raise _unsupported("an interval at the start of a regular expression")
                    raise _BadRegex("Unmatched \\{" if end < 0 else "Invalid content of \\{\\}")
                if m.group(3) and int(m.group(3)) < int(m.group(1)):
                    raise _BadRegex("Invalid content of \\{\\}")
                quant("{" + p[i:end] + "}")
                i = end + 2
                continue
            if not ere and d in "+?":
                if not can_repeat:
                    raise _unsupported(f"a '\\{d}' with nothing to repeat in a regular expression")
                quant(d)
                continue
            if d.isdigit() and d != "0":
                if int(d) > groups:
                    raise _BadRegex("Invalid back reference")
                out.append(f"(?:\\{d})")
                can_repeat, at_start = True, False
                continue
            if d in _GNU_ESCAPES:
                out.append(_GNU_ESCAPES[d])
                can_repeat = d in "wWsS"
                at_start = False
                continue
            if sed and d in "ntr":
                out.append("\\" + d)
                can_repeat, at_start = True, False
                continue
            if d.isalnum():
                raise _unsupported(f"the escape '\\{d}' in a regular expression")
            out.append(re.escape(d))
            can_repeat, at_start = True, False
            continue
        if c == "[":
            cls, i = _bracket(p, i + 1)
            out.append(cls)
            can_repeat, at_start = True, False
            continue
        if c == ".":
            out.append(".")
            i += 1
            can_repeat, at_start = True, False
            continue
        if c == "*":
            i += 1
            if not can_repeat and (ere or not at_start):   # glibc's readings differ here
                raise _unsupported("a '*' with nothing to repeat in a regular expression")
            if at_start or not can_repeat:                  # BRE: a leading '*' is literal
                out.append(r"\*")
                can_repeat, at_start = True, False
            else:
                quant("*")
            continue
        if c == "^":
            i += 1
            if ere or at_start and not out or (at_start and out and out[-1] in ("(", "|")):
                out.append("^")
                if not ere:
                    at_start = True          # '^*' : the star is literal
                    can_repeat = False
                continue
            out.append(r"\^")
            can_repeat, at_start = True, False
            continue
        if c == "$":
            i += 1
            rest = p[i:]
            if ere or not rest or rest.startswith("\\)") or rest.startswith("\\|"):
                out.append(r"(?!(?s:.))")
                can_repeat, at_start = False, False
                continue
            out.append(r"\$")
            can_repeat, at_start = True, False
            continue
        if ere and c in "()|+?{":
            i += 1
            if c == "(":
                out.append("(")
                depth += 1
                groups += 1
                can_repeat, at_start = False, True
            elif c == ")":
                if depth == 0:                  # glibc's ERE reads it as a literal or fails
                    raise _unsupported("an unmatched ')' in an extended regular expression")
                depth -= 1
                out.append(")")
                can_repeat, at_start = True, False
            elif c == "|":
                if at_start or i >= n or p[i] in "|)":
                    raise _unsupported("an empty alternative in a regular expression")
                out.append("|")
                alt = True
                can_repeat, at_start = False, True
            elif c == "{":
                m = re.match(r"(\d+)(,(\d*))?\}", p[i:])
                if not m or not can_repeat:
                    if not can_repeat:
                        raise _unsupported("a '{' with nothing to repeat in a regular expression")
                    out.append(r"\{")
                    can_repeat, at_start = True, False
                    continue
                if m.group(3) and int(m.group(3)) < int(m.group(1)):
                    raise _BadRegex("Invalid content of \\{\\}")
                quant("{" + m.group(0))
                i += m.end()
            else:
                if not can_repeat:
                    raise _unsupported(f"a '{c}' with nothing to repeat in a regular expression")
                quant(c)
            continue
        out.append(re.escape(c))
        i += 1
        can_repeat, at_start = True, False
    if depth:
        raise _BadRegex("Unmatched ( or \\(")
    return "".join(out), alt


def _compile_re(pattern: bytes, ere: bool, icase: bool, *, sed: bool = False) -> tuple["re.Pattern", bool]:
    text, alt = _translate_re(pattern.decode("latin-1"), ere, sed=sed)
    flags = re.DOTALL | (re.IGNORECASE if icase else 0)
    try:
        return re.compile(text.encode("latin-1"), flags), alt
    except re.error as e:
        raise _unsupported(f"the regular expression {pattern.decode('latin-1')!r} ({e})")
