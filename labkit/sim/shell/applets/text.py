"""BusyBox applets that print or filter text: ``echo``, ``printf``, ``seq``, ``wc``,
``head``, ``tail``, ``grep``/``egrep``/``fgrep``, ``sort``, ``uniq``, ``tr``, ``cut``,
``tee`` and the checksums ``md5sum``/``sha1sum``/``sha256sum``/``sha512sum``.
"""
from __future__ import annotations

import errno as _errno
import hashlib
import re

from ..base import _CmdError, _Exit, _oserr, _unsupported
from ..interp import _Shell
from ..regex import _CLASSES, _BadRegex, _compile_re
from ..streams import _IO, _bytes, _input_data, _read_special, _split_lines, _text_lines
from ..usage import _getopt, _opts, _Usage
from .files import _enoent, _walk_files


def _cmd_echo(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    newline, escapes = True, False
    while args and re.fullmatch(r"-[neE]+", args[0]):
        for ch in args[0][1:]:
            if ch == "n":
                newline = False
            elif ch == "e":
                escapes = True
            else:
                escapes = False
        args = args[1:]
    text = " ".join(args)
    if escapes:
        text, stop = _backslash(text, echo=True)
        if stop:
            newline = False
    io.stdout(text + ("\n" if newline else ""))
    return 0


_ESC = {"n": "\n", "t": "\t", "\\": "\\", "a": "\a", "b": "\b", "f": "\f", "r": "\r",
        "v": "\v", "e": "\x1b"}


def _backslash(text: str, *, echo: bool = False) -> tuple[str, bool]:
    """Interpret backslash escapes (printf/echo -e); returns (text, saw ``\\c``)."""
    out: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n in _ESC:
                out.append(_ESC[n])
                i += 2
                continue
            if n == "c":
                return "".join(out), True
            if n in "01234567":
                j = i + 1 + (1 if echo and n == "0" else 0)
                m = re.match(r"[0-7]{1,3}", text[j:])
                if m:
                    out.append(chr(int(m.group(0), 8)))
                    i = j + m.end()
                    continue
            out.append(c)
            i += 1
            continue
        out.append(c)
        i += 1
    return "".join(out), False


def _cmd_printf(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) < 2:
        raise _CmdError("printf: usage: printf FORMAT [ARGUMENT...]", 1)
    fmt, args = argv[1], argv[2:]
    status = 0
    spec = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d+))?([sdibcxXou%])")
    while True:
        used = 0
        out: list[str] = []
        pos = 0
        for m in spec.finditer(fmt):
            lit, stop = _backslash(fmt[pos:m.start()])
            out.append(lit)
            if stop:
                io.stdout("".join(out))
                return status
            pos = m.end()
            flags, width, prec, conv = m.groups()
            if conv == "%":
                out.append("%")
                continue
            arg = args[used] if used < len(args) else None
            used += 1
            if conv in "sb":
                text = arg or ""
                if conv == "b":
                    text, _ = _backslash(text, echo=True)
                if prec:
                    text = text[:int(prec)]
            elif conv == "c":
                text = (arg or "")[:1]
            else:
                try:
                    num = int(arg, 0) if arg not in (None, "") else 0
                    if arg == "":
                        raise ValueError
                except ValueError:
                    io.stderr(f"printf: invalid number '{arg}'\n")
                    num, status = 0, 1
                text = {"d": str(num), "i": str(num), "x": format(num, "x"),
                        "X": format(num, "X"), "o": format(num, "o"), "u": str(num)}[conv]
            w = int(width) if width else 0
            text = text.ljust(w) if "-" in flags else (
                text.rjust(w, "0") if "0" in flags and conv not in "sbc" else text.rjust(w))
            out.append(text)
        lit, stop = _backslash(fmt[pos:])
        out.append(lit)
        io.stdout("".join(out))
        if stop or used == 0 or used >= len(args):
            return status
        args = args[used:]


def _cmd_seq(sh: _Shell, argv: list[str], io: _IO) -> int:
    nums = argv[1:]
    if not 1 <= len(nums) <= 3 or not all(re.fullmatch(r"-?\d+", n) for n in nums):
        raise _unsupported(f"'seq {' '.join(nums)}' (integers only: seq [FIRST [INC]] LAST)")
    vals = [int(n) for n in nums]
    first, inc, last = (1, 1, vals[0]) if len(vals) == 1 else (vals[0], 1, vals[1]) \
        if len(vals) == 2 else tuple(vals)
    if inc == 0:
        raise _CmdError("seq: invalid increment 0")
    out = range(first, last + (1 if inc > 0 else -1), inc)
    if len(out) > 1_000_000:
        raise _unsupported("seq with more than a million numbers")
    io.stdout("".join(f"{n}\n" for n in out))
    return 0


def _read_inputs(sh: _Shell, name: str, files: list[str], io: _IO):
    """(shown name, data or None) for each file operand; ``-``/none is stdin."""
    for f in files or ["-"]:
        if f == "-":
            yield f, io.stdin.take()
            continue
        try:
            yield f, _read_special(sh, f, None)
        except OSError as e:
            io.stderr(f"{name}: {f}: {_oserr(e)}\n")
            yield f, None


def _cmd_wc(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, files = _opts(argv, "clwm")
    which = [c for c in "lwc" if c in flags or (c == "c" and "m" in flags)] or ["l", "w", "c"]
    rows: list[tuple[list[int], str | None]] = []
    status = 0
    totals = [0, 0, 0]
    for f, data in _read_inputs(sh, "wc", files, io):
        if data is None:
            status = 1
            continue
        counts = {"l": data.count(b"\n"), "w": len(data.split()), "c": len(data)}
        row = [counts[c] for c in which]
        totals = [a + b for a, b in zip(totals, row + [0] * (3 - len(row)))]
        rows.append((row, None if f == "-" and not files else f))
    if len(files) > 1:
        rows.append((totals[:len(which)], "total"))
    single = len(which) == 1 and len(rows) == 1
    for row, name in rows:
        nums = [str(n) if single else f"{n:>9}" for n in row]
        io.stdout(" ".join(nums) + (f" {name}" if name is not None else "") + "\n")
    return status


def _head_tail(sh: _Shell, argv: list[str], io: _IO, tail: bool) -> int:
    name = argv[0]
    args = list(argv[1:])
    if args and re.fullmatch(r"-\d+", args[0]):       # the old form: head -5
        args = ["-n", args[0][1:]] + args[1:]
    _, values, files = _opts([name] + args, "qv", with_value="nc")
    spec = values.get("c") or values.get("n") or "10"
    from_start = tail and spec.startswith("+")
    try:
        count = int(spec.lstrip("+-"))
    except ValueError:
        raise _CmdError(f"{name}: invalid number '{spec}'")
    status = 0
    first = True
    for f, data in _read_inputs(sh, name, files, io):
        if data is None:
            status = 1
            continue
        if len(files) > 1:
            io.stdout(("" if first else "\n") + f"==> {f} <==\n")
        first = False
        if "c" in values:
            out = (data[count - 1:] if from_start else data[-count:] if count else b"") if tail \
                else data[:count]
        else:
            lines = data.splitlines(keepends=True)
            if tail:
                out = b"".join(lines[count - 1:] if from_start else lines[-count:] if count else [])
            else:
                out = b"".join(lines[:count])
        io.stdout(out)
    return status


def _cmd_head(sh: _Shell, argv: list[str], io: _IO) -> int:
    return _head_tail(sh, argv, io, tail=False)


def _cmd_tail(sh: _Shell, argv: list[str], io: _IO) -> int:
    return _head_tail(sh, argv, io, tail=True)


# --------------------------------------------------------------------------- grep

def _cmd_grep(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, rest = _getopt(argv[0], argv, "HhnlLoqvsrRiwxFEc", "emf", "zABC", code=2)
    o = {k for k, _ in opts} | ({"E"} if argv[0] == "egrep" else {"F"} if argv[0] == "fgrep" else set())
    patterns: list[bytes] = []
    for k, v in opts:
        if k == "e":
            patterns.append(v.encode(errors="surrogateescape"))
        elif k == "f":
            data = _input_data(sh, "grep", v, io)
            if data is None:
                raise _Exit(2)
            patterns.extend(_split_lines(data))
    max_count = None
    for k, v in opts:
        if k == "m":
            if not re.fullmatch(r"\d+", v):
                raise _CmdError(f"grep: invalid number '{v}'", 2)
            max_count = int(v)
    if not patterns and not ("e" in o or "f" in o):
        if not rest:
            raise _Usage("", 2)
        patterns.append(rest.pop(0).encode(errors="surrogateescape"))
    for pat in list(patterns):                      # a newline separates patterns
        if b"\n" in pat:
            patterns.remove(pat)
            patterns.extend(pat.split(b"\n"))
    patterns.reverse()                               # BusyBox keeps them last-first
    if "H" in o and "h" in o:
        o.discard("h" if [k for k, _ in opts if k in "Hh"][-1] == "H" else "H")
    if o & {"c", "q", "l", "L"}:
        o.discard("n")
    fixed, icase, invert = "F" in o, "i" in o, "v" in o
    compiled = []
    if not fixed:
        for pat in patterns:
            try:
                rx, alt = _compile_re(pat, "E" in o, icase)
            except _BadRegex:
                raise _CmdError(f"grep: bad regex '{pat.decode(errors='replace')}'", 2)
            if alt and o & {"o"}:
                raise _unsupported("grep -o with alternation ('|'): POSIX takes the longest "
                                   "alternative, Python's re the first")
            if "w" in o and rx.fullmatch(b"") is not None:
                raise _unsupported("grep -w with a pattern that matches the empty string")
            compiled.append((pat, rx))
    else:
        compiled = [(pat, None) for pat in patterns]
    show_name = len(rest) > 1
    if "H" in o:
        show_name = True
    if "h" in o:
        show_name = False
    out: list[bytes] = []

    def word_ok(line: bytes, s: int, e: int) -> bool:
        before = line[s - 1:s] if s else b" "
        after = line[e:e + 1]
        return not re.match(rb"\w", before) and (not after or not re.match(rb"\w", after))

    def find(line: bytes, rx, pat: bytes, start: int = 0):
        """(start, end) of the first acceptable match at or after ``start``, or None."""
        pos = start
        while pos <= len(line):
            if rx is None:
                hay = line.lower() if icase else line
                s = hay.find(pat.lower() if icase else pat, pos)
                if s < 0:
                    return None
                e = s + len(pat)
            else:
                m = rx.search(line, pos)
                if m is None:
                    return None
                s, e = m.span()
            if "x" in o:
                whole = rx.fullmatch(line) is not None if rx is not None else (
                    line.lower() == pat.lower() if icase else line == pat)
                return (0, len(line)) if whole else None
            if "w" not in o or word_ok(line, s, e):
                return s, e
            pos = e if e > s else s + 1         # BusyBox goes on after the failed match
        return None

    def grep_data(data: bytes, cur: str) -> int:
        count = 0
        for num, line in enumerate(_split_lines(data), 1):
            hit = None
            for pat, rx in compiled:
                span = find(line, rx, pat)
                if span is not None:
                    hit = (pat, rx, span)
                    break
            if (hit is not None) == invert:
                continue
            count += 1
            if "q" in o:
                out.clear()
                raise _Matched()
            if "l" in o:
                out.append(cur.encode(errors="surrogateescape") + b"\n")
                return count
            if "L" in o:
                return count
            if "c" not in o:
                prefix = (cur.encode(errors="surrogateescape") + b":" if show_name else b"") + \
                    (str(num).encode(errors="surrogateescape") + b":" if "n" in o else b"")
                if "o" in o:
                    if invert:
                        pass
                    elif fixed:
                        out.append(prefix + hit[0] + b"\n")
                    else:
                        pat, rx, (s, e) = hit
                        while True:
                            if e > s:
                                out.append(prefix + line[s:e] + b"\n")
                            if e >= len(line):
                                break
                            nxt = find(line, rx, pat, e if e > s else e + 1)
                            if nxt is None:
                                break
                            s, e = nxt
                else:
                    out.append(prefix + line + b"\n")
            if max_count is not None and count >= max_count:
                break
        if "c" in o:
            out.append((_bytes(cur) + b":" if show_name else b"") + b"%d\n" % count)
        if "L" in o and count == 0:
            out.append(cur.encode(errors="surrogateescape") + b"\n")
        return count

    matched = 0
    errors = False
    try:
        for f in rest or ["-"]:
            if f == "-":
                matched += grep_data(io.stdin.take(), "(standard input)")
                continue
            node = sh.fstat(f)
            if node is not None and node.kind == "dir" and o & {"r", "R"}:
                if "h" not in o:
                    show_name = True
                for path in _walk_files(sh, f, follow="R" in o):
                    try:
                        data = _read_special(sh, path, None)
                    except OSError as e:
                        data = b""
                        if e.errno != _errno.EISDIR:
                            if "s" not in o:
                                io.stdout(b"".join(out))     # BusyBox flushes stdout first
                                out.clear()
                                io.stderr(f"grep: {path}: {_oserr(e)}\n")
                            errors = True
                            continue
                    matched += grep_data(data, path)
                continue
            if node is None:
                if "s" not in o:
                    io.stdout(b"".join(out))
                    out.clear()
                    io.stderr(f"grep: {f}: {_oserr(_enoent(sh, f))}\n")
                errors = True
                continue
            matched += grep_data(b"" if node.kind == "dir" else _read_special(sh, f, None), f)
    except _Matched:
        return 0
    io.stdout(b"".join(out))
    return 2 if errors else (0 if matched else 1)


class _Matched(Exception):
    """grep -q saw a match: it exits at once with status 0."""


# --------------------------------------------------------------------------- sort, uniq

_NUM_RE = re.compile(rb"[ \t\n\v\f\r]*([-+]?)(?:(0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)"
                     rb"(?:[pP][-+]?\d+)?)|((?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)|"
                     rb"(inf(?:inity)?|nan))", re.IGNORECASE)


def _sort_number(key: bytes) -> float:
    """strtod() of the key's start: decimal, hexadecimal (``0x1b``), inf and nan; 0 when
    it has no number."""
    m = _NUM_RE.match(key)
    if not m:
        return 0.0
    sign = -1.0 if m.group(1) == b"-" else 1.0
    if m.group(2):
        return sign * float.fromhex(m.group(2).decode())
    return sign * float(m.group(3) or m.group(4))


def _sort_key(line: bytes, start: int, end: int | None, sep: bytes | None) -> bytes:
    """Fields ``start``..``end`` (1-based) of a line: with ``-t`` split on the separator,
    otherwise each field begins with the blanks before it (POSIX)."""
    if sep is not None:
        parts = line.split(sep)
        if start > len(parts):
            return b""
        stop = len(parts) if end is None else min(end, len(parts))
        return sep.join(parts[start - 1:stop])
    def field_end(pos: int) -> int:             # skip the blanks, then the non-blanks
        while pos < len(line) and line[pos] in b" \t":
            pos += 1
        while pos < len(line) and line[pos] not in b" \t":
            pos += 1
        return pos
    s = 0
    for _ in range(start - 1):
        s = field_end(s)
    if end is None:
        return line[s:]
    e = 0
    for _ in range(end):
        e = field_end(e)
    return line[s:max(s, e)]


def _cmd_sort(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, files = _getopt("sort", argv, "nruf", "kto", "bscdghiMVzmST", code=2)
    o = {k for k, _ in opts}
    keys = []
    sep = None
    out_file = None
    for k, v in opts:
        if k == "k":
            m = re.fullmatch(r"(\d+)(?:,(\d+))?([nfr]*)", v)
            if not m or m.group(1) == "0":
                raise _unsupported(f"the sort key -k {v!r} (supported: -k N[,M] with n, f, r)")
            keys.append((int(m.group(1)), int(m.group(2)) if m.group(2) else None, m.group(3)))
        elif k == "t":
            if len(v) != 1:
                raise _CmdError("sort: bad -t parameter")
            sep = v.encode(errors="surrogateescape")
        elif k == "o":
            out_file = v
    lines: list[bytes] = []
    for f in files or ["-"]:
        data = _input_data(sh, "sort", f, io)
        if data is None:
            return 2
        lines.extend(_text_lines("sort", data))
    import functools  # noqa: PLC0415

    def cmp(a, b):
        return (a > b) - (a < b)

    def compare_keys(x: bytes, y: bytes) -> int:
        for start, end, kflags in keys or [(1, None, "")]:
            kx = _sort_key(x, start, end, sep) if keys else x
            ky = _sort_key(y, start, end, sep) if keys else y
            flags = set(kflags) if kflags else o     # a key's own flags replace the global ones
            if "n" in flags:
                r = cmp(_sort_number(kx), _sort_number(ky))
            elif "f" in flags:
                r = cmp(kx.upper(), ky.upper())
            else:
                r = cmp(kx, ky)
            if "r" in flags:
                r = -r
            if r:
                return r
        return 0

    def compare(x: bytes, y: bytes) -> int:
        r = compare_keys(x, y)
        if not r:                                  # the last resort: whole lines, global -r
            r = cmp(x, y)
            r = -r if "r" in o else r
        return r

    lines.sort(key=functools.cmp_to_key(compare))
    if "u" in o:
        kept: list[bytes] = []
        for line in lines:
            if not kept or compare_keys(kept[-1], line) != 0:
                kept.append(line)
        lines = kept
    data = b"".join(line + b"\n" for line in lines)
    if out_file is not None:
        try:
            sh.mount.write(sh.abs(out_file), data)
        except OSError as e:
            raise _CmdError(f"sort: can't open '{out_file}': {_oserr(e)}", 2)
        return 0
    io.stdout(data)
    return 0


def _cmd_uniq(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, files = _getopt("uniq", argv, "cdui", "", "fswz")
    o = {k for k, _ in opts}
    if len(files) > 2:
        raise _Usage()
    src = files[0] if files else "-"
    data = _input_data(sh, "uniq", src, io, xfopen=True)
    if data is None:
        return 1
    out = []
    lines = _text_lines("uniq", data)
    k = 0
    while k < len(lines):
        j = k + 1
        key = lines[k].lower() if "i" in o else lines[k]
        while j < len(lines) and (lines[j].lower() if "i" in o else lines[j]) == key:
            j += 1
        n = j - k
        if not (("d" in o and n == 1) or ("u" in o and n > 1)):
            out.append((b"%7d " % n if "c" in o else b"") + lines[k] + b"\n")
        k = j
    text = b"".join(out)
    if len(files) == 2 and files[1] != "-":
        try:
            sh.mount.write(sh.abs(files[1]), text)
        except OSError as e:
            raise _CmdError(f"uniq: can't open '{files[1]}': {_oserr(e)}")
        return 0
    io.stdout(text)
    return 0


# --------------------------------------------------------------------------- tr, cut, tee

def _tr_set(spec: str) -> list[int]:
    """A tr SET as byte values: escapes, ranges ``a-z`` and classes ``[:upper:]``."""
    raw: list[int] = []
    s = spec.encode(errors="surrogateescape")
    i = 0
    chars: list = []                               # ints, or ("class", name)
    while i < len(s):
        c = s[i]
        if c == 0x5C and i + 1 < len(s):          # backslash
            m = re.match(rb"[0-7]{1,3}", s[i + 1:])
            if m:
                chars.append(int(m.group(0), 8) & 0xFF)
                i += 1 + m.end()
                continue
            d = chr(s[i + 1])
            chars.append(ord(_ESC.get(d, d)) if d in _ESC or not d.isalnum() else
                         {"a": 7, "b": 8, "f": 12, "v": 11}.get(d, ord(d)))
            i += 2
            continue
        if c == 0x5B and i + 1 < len(s) and s[i + 1] in b":=":   # [:class:] / [=c=]
            kind = chr(s[i + 1])
            end = s.find((kind + "]").encode(errors="surrogateescape"), i + 2)
            if end > 0:
                word = s[i + 2:end].decode()
                if kind == "=" or word not in _CLASSES:
                    raise _unsupported(f"the tr set item '[{kind}{word}{kind}]'")
                chars.append(("class", word))
                i = end + 2
                continue
        if c == 0x5B and re.match(rb"\[.\*\d*\]", s[i:]):
            raise _unsupported("the tr repeat '[c*n]'")
        chars.append(c)
        i += 1
    k = 0
    while k < len(chars):
        c = chars[k]
        if isinstance(c, tuple):
            body = _CLASSES[c[1]]
            if c[1] in ("upper", "lower"):
                raw.extend(range(ord("A"), ord("Z") + 1) if c[1] == "upper" else range(ord("a"), ord("z") + 1))
            else:
                raw.extend(b for b in range(256) if re.fullmatch(
                    ("[" + body.replace("\\", "\\\\").replace("]", "\\]") + "]").encode("latin-1"),
                    bytes([b])))
            k += 1
            continue
        if k + 2 < len(chars) and chars[k + 1] == ord("-") and not isinstance(chars[k + 2], tuple):
            hi = chars[k + 2]
            if hi < c:
                raise _CmdError("tr: bad range")
            raw.extend(range(c, hi + 1))
            k += 3
            continue
        raw.append(c)
        k += 1
    return raw


def _cmd_tr(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, sets = _getopt("tr", argv, "cdsC", "", "")
    o = {k for k, _ in opts}
    if not sets or len(sets) > 2:
        raise _Usage()
    set1 = _tr_set(sets[0])
    if o & {"c", "C"}:
        inside = set(set1)
        set1 = [b for b in range(256) if b not in inside]
    data = io.stdin.take()
    if "d" in o:
        gone = set(set1)
        data = bytes(b for b in data if b not in gone)
        squeeze = set(_tr_set(sets[1])) if len(sets) > 1 and "s" in o else set()
    elif len(sets) == 2:
        set2 = _tr_set(sets[1])
        if not set2:
            raise _unsupported("tr with an empty SET2")
        table = list(range(256))
        for k, b in enumerate(set1):
            table[b] = set2[k] if k < len(set2) else set2[-1]
        data = data.translate(bytes(table))
        squeeze = set(set2) if "s" in o else set()
    else:
        if "s" not in o:
            raise _Usage()
        squeeze = set(set1)
    if squeeze:
        out = bytearray()
        for b in data:
            if out and out[-1] == b and b in squeeze:
                continue
            out.append(b)
        data = bytes(out)
    io.stdout(data)
    return 0


def _cut_list(spec: str) -> list[tuple[int, int]]:
    ranges = []
    for part in spec.split(","):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", part)
        if not m or not (m.group(1) or m.group(3)):
            raise _unsupported(f"the cut list {spec!r}")
        lo = int(m.group(1)) if m.group(1) else 1
        hi = (int(m.group(3)) if m.group(3) else 1 << 30) if m.group(2) else lo
        if lo == 0:
            raise _unsupported(f"the cut list {spec!r} (position 0)")
        ranges.append((lo, hi))
    return ranges


def _cut_fields(parts: list[bytes], ranges: list[tuple[int, int]], delim: bytes) -> bytes:
    """BusyBox cut -f: each range in order prints its fields that exist; once something was
    printed, every later range adds a delimiter, even when its fields do not exist."""
    out: list[bytes] = []
    printed = False
    done = 0
    for lo, hi in sorted(ranges):
        lo = max(lo, done + 1)
        if lo > hi:
            continue
        done = hi
        if lo > len(parts):
            if printed:
                out.append(delim)
            continue
        for k in range(lo, min(hi, len(parts)) + 1):
            if printed:
                out.append(delim)
            out.append(parts[k - 1])
            printed = True
    return b"".join(out)


def _cmd_cut(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, files = _getopt("cut", argv, "sn", "bcfd", "FO")
    o = dict(opts)
    kinds = [k for k in "bcf" if k in o]
    if not kinds:
        raise _CmdError("cut: expected a list of bytes, characters, or fields")
    if len(kinds) > 1:
        raise _CmdError("cut: only one type of list may be specified")
    kind = kinds[0]
    ranges = _cut_list(o[kind])
    delim = o.get("d", "\t").encode(errors="surrogateescape")
    if "d" in o and kind != "f":
        raise _CmdError("cut: -d DELIM makes sense only with -f")
    if len(delim) != 1:
        raise _CmdError("cut: the delimiter must be a single character")

    def wanted(k: int) -> bool:
        return any(lo <= k <= hi for lo, hi in ranges)

    status = 0
    for f in files or ["-"]:
        data = _input_data(sh, "cut", f, io)
        if data is None:
            status = 1
            continue
        out = []
        for line in _text_lines("cut", data):
            if kind == "f":
                if delim not in line:
                    if "s" not in o or not line:     # -s still prints an empty line
                        out.append(line + b"\n")
                    continue
                out.append(_cut_fields(line.split(delim), ranges, delim) + b"\n")
            else:
                out.append(bytes(b for k, b in enumerate(line, 1) if wanted(k)) + b"\n")
        io.stdout(b"".join(out))
    return status


def _cmd_tee(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, files = _getopt("tee", argv, "ai", "", "")
    append = any(k == "a" for k, _ in opts)
    status = 0
    ok: list[str] = []
    for f in files:
        if f == "-":
            continue
        try:
            sh.mount.write(sh.abs(f), b"", append=append)
            ok.append(f)
        except OSError as e:
            io.stderr(f"tee: {f}: {_oserr(e)}\n")
            status = 1
    data = io.stdin.take()
    for f in ok:
        try:
            sh.mount.write(sh.abs(f), data, append=True)
        except OSError:
            status = 1
    io.stdout(data)
    return status


# --------------------------------------------------------------------------- checksums

def _cmd_sum(sh: "_Shell", argv: list[str], io: _IO) -> int:
    name = argv[0]
    algo = {"md5sum": hashlib.md5, "sha1sum": hashlib.sha1, "sha256sum": hashlib.sha256,
            "sha512sum": hashlib.sha512}[name]
    opts, files = _getopt(name, argv, "csw", "", "b")
    o = {k for k, _ in opts}
    status = 0
    if "c" not in o:
        if o & {"s", "w"}:
            raise _Usage()
        for f in files or ["-"]:
            data = _input_data(sh, name, f, io, xfopen=True)
            if data is None:
                status = 1
                continue
            io.stdout(f"{algo(data).hexdigest()}  {f}\n")
        return status
    if len(files) > 1:
        raise _Usage()
    listing = _input_data(sh, name, files[0] if files else "-", io)
    if listing is None:
        return 1
    total = failed = 0
    for line in _split_lines(listing):
        total += 1
        text = line.decode(errors="surrogateescape")
        cut = text.find("  ")
        if cut < 0:
            cut = text.find(" *")
        if cut < 0:
            if "w" in o:
                io.stderr(f"{name}: invalid format\n")
            failed += 1
            continue
        want, path = text[:cut], text[cut + 2:]
        try:
            good = algo(_read_special(sh, path, None)).hexdigest() == want
        except OSError as e:
            io.stderr(f"{name}: can't open '{path}': {_oserr(e)}\n")
            good = False
        failed += not good
        if "s" not in o:
            io.stdout(f"{path}: {'OK' if good else 'FAILED'}\n")
    if failed and "s" not in o:
        io.stderr(f"{name}: WARNING: {failed} of {total} computed checksums did NOT match\n")
    return 1 if failed else status
