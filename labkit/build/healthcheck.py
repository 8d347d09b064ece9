"""HEALTHCHECK the way Docker 20.10's classic builder reads it.

``parse_healthcheck(args)`` turns the text after the flags into a ``Healthcheck``;
``.config()`` is the image config's ``Healthcheck`` object (zero durations and retries
left out, as Go's ``omitempty`` does) and ``.history_text()`` is what ``docker history``
shows for the step: Go's ``fmt.Sprintf("HEALTHCHECK %q", health)`` of the struct, e.g.
``HEALTHCHECK &{["CMD-SHELL" "curl -f localhost"] "5s" "3s" "0s" '\\x00'}``.
Durations use Go's ``time.ParseDuration`` syntax (``90s``, ``1m30s``, ``1.5h``, ``500ms``).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Mapping

from ..errors import DockerfileError

__all__ = ["Healthcheck", "parse_healthcheck", "go_duration", "parse_go_duration"]

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]+)")
_MINIMUM_NS = 1_000_000          # container.MinimumDuration: 1ms


@dataclass(frozen=True)
class Healthcheck:
    """A HEALTHCHECK: ``test`` is ``("NONE",)``, ``("CMD-SHELL", text)`` or ``("CMD", *argv)``;
    durations in nanoseconds."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    retries: int = 0

    def config(self) -> dict:
        """The image config's ``Healthcheck`` object, as Docker writes it."""
        out: dict = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out

    def history_text(self) -> str:
        """What ``docker history`` shows after ``#(nop)``."""
        test = "[" + " ".join(_go_quote(t) for t in self.test) + "]"
        return (f"HEALTHCHECK &{{{test} {_go_quote(go_duration(self.interval))} "
                f"{_go_quote(go_duration(self.timeout))} {_go_quote(go_duration(self.start_period))} "
                f"{_go_quote_rune(self.retries)}}}")


def parse_healthcheck(args: str, flags: Mapping[str, str] | None = None, *, line: int | None = None) -> Healthcheck:
    """``args`` is the text after ``HEALTHCHECK`` and its flags: ``NONE`` or ``CMD ...``."""
    flags = dict(flags or {})
    words = args.split(None, 1)
    if not words:
        raise DockerfileError("HEALTHCHECK requires at least one argument", line=line,
                              fix="write HEALTHCHECK CMD <command>, or HEALTHCHECK NONE")
    typ, rest = words[0].upper(), (words[1].strip() if len(words) > 1 else "")
    if typ == "NONE":
        if rest or flags:
            raise DockerfileError("HEALTHCHECK NONE takes no arguments", line=line,
                                  fix="write just HEALTHCHECK NONE")
        return Healthcheck(("NONE",))
    if typ != "CMD":
        raise DockerfileError(f"Unknown type \"{words[0]}\" in HEALTHCHECK (try CMD)", line=line,
                              fix="write HEALTHCHECK CMD <command>")
    argv = _json_list(rest)
    if argv is None:
        test: tuple[str, ...] = ("CMD-SHELL", rest) if rest else ()
    else:
        test = ("CMD", *argv) if argv else ()
    if not test:
        raise DockerfileError("Missing command after HEALTHCHECK CMD", line=line,
                              fix="write the command to run after CMD")
    durations = {}
    for name in ("interval", "timeout", "start-period"):
        text = flags.get(name, "")
        ns = parse_go_duration(text, line=line) if text else 0
        if text and ns < _MINIMUM_NS:
            raise DockerfileError(f"Interval \"{name}\" cannot be less than 1ms", line=line,
                                  fix=f"give --{name} a duration of at least 1ms, e.g. 30s")
        durations[name] = ns
    retries = 0
    if flags.get("retries"):
        try:
            retries = int(flags["retries"], 10)
        except ValueError:
            raise DockerfileError(f"--retries={flags['retries']}: not a number", line=line,
                                  fix="give --retries a whole number, e.g. 3") from None
        if retries < 1:
            raise DockerfileError(f"--retries must be at least 1 (not {retries})", line=line,
                                  fix="give --retries a whole number of at least 1")
    return Healthcheck(test, durations["interval"], durations["timeout"], durations["start-period"], retries)


def _json_list(text: str) -> list[str] | None:
    """Docker's parseMaybeJSON: a JSON array of strings, else None (the shell form)."""
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse_go_duration(text: str, *, line: int | None = None) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds (``1m30s``, ``1.5h``, ``300ms``)."""
    s = text.strip()
    sign = 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if s == "0":
        return 0
    total, pos = 0, 0
    fix = "write a duration like 30s, 1m30s, 500ms or 2h"
    while pos < len(s):
        m = _PART.match(s, pos)
        if m is None and re.fullmatch(r"\d*(\.\d*)?", s[pos:]) and s[pos:] not in ("", "."):
            raise DockerfileError(f"time: missing unit in duration \"{text}\"", line=line, fix=fix)
        if m is None or (not m.group(1) and not m.group(2)):
            raise DockerfileError(f"time: invalid duration \"{text}\"", line=line, fix=fix)
        if m.group(3) not in _UNITS:
            raise DockerfileError(f"time: unknown unit \"{m.group(3)}\" in duration \"{text}\"",
                                  line=line, fix=fix)
        unit = _UNITS[m.group(3)]
        whole, frac = int(m.group(1) or 0), m.group(2) or ""
        total += whole * unit + (int(frac) * unit // 10 ** len(frac) if frac else 0)
        pos = m.end()
    if not s:
        raise DockerfileError(f"time: invalid duration \"{text}\"", line=line,
                              fix="write a duration like 30s, 1m30s, 500ms or 2h")
    return sign * total


def go_duration(ns: int) -> str:
    """Go's ``time.Duration.String``: ``0s``, ``1.5s``, ``1m30s``, ``1h0m0s``, ``500ms``."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)
    if u < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if u >= size:
                return sign + _fraction(u, size) + unit
    h, rest = divmod(u, 3_600_000_000_000)
    m, rest = divmod(rest, 60_000_000_000)
    secs = _fraction(rest, 1_000_000_000) + "s"
    if h:
        return f"{sign}{h}h{m}m{secs}"
    if m:
        return f"{sign}{m}m{secs}"
    return sign + secs


def _fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    digits = str(frac).rjust(len(str(size)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def _go_quote(s: str) -> str:
    """Go's ``%q`` of a string (``strconv.Quote``) for the printable text Dockerfiles hold."""
    out = []
    for ch in s:
        if ch in "\"\\":
            out.append("\\" + ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v"}


def _go_quote_rune(n: int) -> str:
    """Go's ``%q`` of an int (``strconv.QuoteRune``): ``'\\x00'``, ``'\\x03'``, ``'\\n'``, ``'A'``."""
    ch = chr(n) if 0 <= n <= 0x10FFFF else "\ufffd"
    if ch == "'":
        return "'\\''"
    if ch == "\\":
        return "'\\\\'"
    if ch in _ESCAPES:
        return f"'{_ESCAPES[ch]}'"
    if n < 0x20 or n == 0x7F:
        return f"'\\x{n:02x}'"
    if ch.isprintable():
        return f"'{ch}'"
    return f"'\\u{n:04x}'" if n <= 0xFFFF else f"'\\U{n:08x}'"
