"""BusyBox ``sed``: the script parser (commands, addresses, ranges), ``s///`` with its
flags, and the editing loop (``-n``, ``-e``, ``-E``/``-r``, ``-i[SUFFIX]``).
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field

from ..base import _CmdError, _oserr, _unsupported
from ..interp import _Shell
from ..regex import _BadRegex, _compile_re
from ..streams import _IO, _input_data, _text_lines
from ..usage import _getopt, _Usage


@dataclass
class _SedAddr:
    line: int | None = None         # a line number
    last: bool = False              # $
    rx: object = None               # a compiled regex (or None for the previous one: //)
    empty_rx: bool = False


@dataclass
class _SedCmd:
    a1: _SedAddr | None
    a2: _SedAddr | None
    negate: bool
    op: str                         # s p d q
    rx: object = None
    empty_rx: bool = False
    repl: list = field(default_factory=list)   # bytes pieces, ints (groups), -1 (&)
    count: int = 1                  # the N-th match
    glob: bool = False
    print_: bool = False
    exit_code: int = 0
    in_range: bool = False


_SED_KNOWN = set("aicyl=nNDPhHgGxbtT:{}rRwWezFQ#")


def _sed_parse(script: str, ere: bool) -> list[_SedCmd]:
    s = script
    i = 0
    cmds: list[_SedCmd] = []

    def regex(delim: str) -> tuple[object, bool]:
        nonlocal i
        buf = []
        while True:
            if i >= len(s) or s[i] == "\n":
                raise _CmdError(f"sed: unmatched '{delim}'")
            c = s[i]
            if c == "\\" and i + 1 < len(s):
                if s[i + 1] == delim:
                    buf.append(delim if delim not in ".*[]^$\\+?(){}|" or delim == "/" else "\\" + delim)
                    i += 2
                    continue
                buf.append(s[i:i + 2])
                i += 2
                continue
            if c == "[":                               # a delimiter inside [...] is literal
                j = i + 1
                if j < len(s) and s[j] == "^":
                    j += 1
                if j < len(s) and s[j] == "]":
                    j += 1
                end = s.find("]", j)
                if end < 0 or "\n" in s[i:end]:      # BusyBox looks for ']' first
                    raise _CmdError(f"sed: unmatched '{delim}'")
                buf.append(s[i:end + 1])
                i = end + 1
                continue
            if c == delim:
                i += 1
                break
            buf.append(c)
            i += 1
        text = "".join(buf)
        if not text:
            return None, True
        try:
            _, alt = _compile_re(text.encode(errors="surrogateescape"), ere, False, sed=True)
        except _BadRegex as e:                      # glibc's regerror() text follows
            raise _CmdError(f"sed: bad regex '{text}': {e.args[0]}")
        return (text, ere, alt), False

    def address() -> _SedAddr | None:
        nonlocal i
        if i < len(s) and s[i].isdigit():
            m = re.match(r"\d+", s[i:])
            i += m.end()
            return _SedAddr(line=int(m.group(0)))
        if i < len(s) and s[i] == "$":
            i += 1
            return _SedAddr(last=True)
        if i < len(s) and (s[i] == "/" or s[i] == "\\"):
            if s[i] == "\\":
                i += 1
            delim = s[i]
            i += 1
            rx, empty = regex(delim)
            return _SedAddr(rx=rx, empty_rx=empty)
        return None

    while True:
        while i < len(s) and s[i] in " \t\n;":
            i += 1
        if i >= len(s):
            break
        if s[i] == "#":
            while i < len(s) and s[i] != "\n":
                i += 1
            continue
        a1 = address()
        a2 = None
        if a1 is not None and i < len(s) and s[i] == ",":
            i += 1
            a2 = address()
            if a2 is None:
                raise _CmdError("sed: unexpected ','")
        while i < len(s) and s[i] in " \t":
            i += 1
        negate = False
        if i < len(s) and s[i] == "!":
            negate = True
            i += 1
            while i < len(s) and s[i] in " \t":
                i += 1
        if i >= len(s):
            raise _CmdError("sed: missing command")
        op = s[i]
        i += 1
        cmd = _SedCmd(a1, a2, negate, op)
        if op == "s":
            if i >= len(s):
                raise _CmdError("sed: bad format in substitution expression")
            delim = s[i]
            i += 1
            rx, empty = regex(delim)
            cmd.rx, cmd.empty_rx = rx, empty
            repl: list = []
            buf = bytearray()
            while True:
                if i >= len(s):
                    raise _CmdError(f"sed: unmatched '{delim}'")
                c = s[i]
                if c == "\\" and i + 1 < len(s):
                    d = s[i + 1]
                    i += 2
                    if d.isdigit():
                        repl.append(bytes(buf))
                        buf = bytearray()
                        repl.append(int(d))
                    elif d in "ntr":
                        buf += {"n": b"\n", "t": b"\t", "r": b"\r"}[d]
                    elif d == "\n":
                        buf += b"\n"
                    elif d == "&" or d == "\\" or d == delim:
                        buf += d.encode(errors="surrogateescape")
                    elif d.isalnum():
                        raise _unsupported(f"the escape '\\{d}' in a sed replacement")
                    else:
                        buf += d.encode(errors="surrogateescape")
                    continue
                if c == delim:
                    i += 1
                    break
                if c == "&":
                    repl.append(bytes(buf))
                    buf = bytearray()
                    repl.append(-1)
                    i += 1
                    continue
                buf += c.encode(errors="surrogateescape")
                i += 1
            repl.append(bytes(buf))
            cmd.repl = repl
            while i < len(s) and s[i] not in ";\n}":
                f = s[i]
                if f == "g":
                    cmd.glob = True
                    i += 1
                elif f == "p":
                    cmd.print_ = True
                    i += 1
                elif f in "Ii":
                    i += 1
                    if cmd.rx is not None:
                        cmd.rx = (cmd.rx[0], cmd.rx[1], cmd.rx[2], True)
                    else:
                        raise _unsupported("sed s//.../I (the previous regex, case-insensitively)")
                elif f.isdigit():
                    m = re.match(r"\d+", s[i:])
                    cmd.count = int(m.group(0))
                    if cmd.count == 0:
                        raise _CmdError("sed: bad option in substitution expression")
                    i += m.end()
                elif f in " \t":
                    i += 1
                elif f in "wem":
                    raise _unsupported(f"the sed substitution flag {f!r}")
                else:
                    raise _CmdError("sed: bad option in substitution expression")
        elif op in "pdq":
            if op == "q":
                if a2 is not None:
                    raise _CmdError("sed: command only uses one address")
                m = re.match(r"[ \t]*(\d*)", s[i:])
                cmd.exit_code = int(m.group(1)) if m.group(1) else 0
                i += m.end()
        elif op in _SED_KNOWN:
            raise _unsupported(f"the sed command {op!r} (supported: s, p, d, q)")
        else:
            raise _CmdError(f"sed: unsupported command {op}")
        while i < len(s) and s[i] in " \t":
            i += 1
        if i < len(s) and s[i] not in ";\n}#":
            raise _CmdError(f"sed: unsupported command {s[i]}" if op in "pdq" else
                            "sed: bad option in substitution expression")
        cmds.append(cmd)
    return cmds


def _sed_regex(spec, last: list) -> "re.Pattern":
    """Compile a parsed regex (text, ere, alt[, icase]); ``None`` is the last one used."""
    if spec is None:
        if not last:
            raise _CmdError("sed: no previous regexp")
        spec = last[0]
    last[:] = [spec]
    text, ere, alt = spec[0], spec[1], spec[2]
    icase = len(spec) > 3
    rx, _ = _compile_re(text.encode(errors="surrogateescape"), ere, icase, sed=True)
    return rx, alt


def _not_bol(rx: "re.Pattern") -> "re.Pattern":
    """The same regex with its ``^`` anchors never matching (regexec's REG_NOTBOL)."""
    text = re.sub(rb"(?<![\\\[])\^", b"(?!)", rx.pattern)
    return re.compile(text, rx.flags)


def _sed_sub(cmd: _SedCmd, rx, alt: bool, line: bytes) -> tuple[bytes, bool]:
    """BusyBox's substitution loop: after the first match each search runs on the rest of
    the line as a new string with REG_NOTBOL (so ``\\<`` and ``\\b`` see no character
    before it); an empty match right after a non-empty one is not replaced; ``N`` picks the
    N-th match unless ``g`` is given."""
    if alt:
        raise _unsupported("sed s with alternation ('|'): POSIX takes the longest "
                           "alternative, Python's re the first")
    which = 0 if cmd.glob else cmd.count
    if rx.pattern.startswith(b"^"):         # BusyBox: an anchored s/^x/y/N replaces the first
        which = 1
    m = rx.search(line)
    if m is None:
        return line, False
    later = None
    out = bytearray()
    rest = line
    count = 0
    changed = False
    prev_empty = True
    tried_eol = False
    while True:
        s, e = m.span()
        count += 1
        if which and which != count:
            out += rest[:e]
            if s == e and e < len(rest):
                out += rest[e:e + 1]
                e += 1
            rest = rest[e:]
        else:
            out += rest[:s]
            if prev_empty or s != 0 or s != e:
                for piece in cmd.repl:
                    if isinstance(piece, bytes):
                        out += piece
                    elif piece == -1:
                        out += m.group(0)
                    elif piece <= (rx.groups or 0):
                        out += m.group(piece) or b""
                changed = True
            prev_empty = s == e
            if prev_empty:
                if e >= len(rest):
                    tried_eol = True
                else:
                    out += rest[e:e + 1]
                    e += 1
            rest = rest[e:]
            if which:
                break
        if not rest:
            if tried_eol:
                break
            tried_eol = True
        if later is None:
            later = _not_bol(rx)
        m = later.search(rest)
        if m is None:
            break
    out += rest
    return bytes(out), changed


def _cmd_sed(sh: "_Shell", argv: list[str], io: _IO) -> int:
    args = list(argv)
    suffix = None
    for k in range(1, len(args)):                  # -i[SUFFIX]: the suffix only when attached
        a = args[k]
        if a == "--":
            break
        if a.startswith("-i") and len(a) > 2 and not a.startswith("--"):
            suffix = a[2:]
            args[k] = "-i"
    opts, rest = _getopt("sed", args, "nrEis", "ef", "z")
    o = {k for k, _ in opts}
    ere = bool(o & {"r", "E"})
    scripts = []
    for k, v in opts:
        if k == "e":
            scripts.append(v)
        elif k == "f":
            raise _unsupported("sed -f (a script file)")
    if not scripts:
        if not rest:
            raise _Usage()
        scripts.append(rest.pop(0))
    cmds = _sed_parse("\n".join(scripts), ere)
    for c in cmds:                                  # the script compiles before any input
        for spec in (c.rx, c.a1 and c.a1.rx, c.a2 and c.a2.rx):
            if spec is not None:
                _sed_regex(spec, [])
    in_place = "i" in o
    if in_place and not rest:
        raise _CmdError("sed: -i requires an argument")
    last_rx: list = []
    status = 0

    def run_stream(inputs: list[tuple[str, bytes]], emit) -> int | None:
        """Run the script over the lines of these inputs; returns the q exit code or None."""
        allines: list[tuple[bytes, bool]] = []
        for _, data in inputs:
            lines = _text_lines("sed", data)
            for k, ln in enumerate(lines):
                allines.append((ln, not (k == len(lines) - 1 and not data.endswith(b"\n"))))
        for c in cmds:
            c.in_range = False
        for num, (line, nl) in enumerate(allines, 1):
            is_last = num == len(allines)

            def hit(a: _SedAddr) -> bool:
                if a.line is not None:
                    return num == a.line
                if a.last:
                    return is_last
                rx, _ = _sed_regex(None if a.empty_rx else a.rx, last_rx)
                return rx.search(line) is not None

            deleted = False
            quit_code = None
            for c in cmds:
                if c.a1 is None:
                    sel = True
                elif c.a2 is None:
                    sel = hit(c.a1)
                elif c.in_range:
                    sel = True
                    a2 = c.a2
                    if a2.line is not None:
                        if num >= a2.line:
                            c.in_range = False
                        if num > a2.line:
                            sel = True
                    elif hit(a2):
                        c.in_range = False
                else:
                    sel = hit(c.a1)
                    if sel:
                        c.in_range = True
                        if c.a2.line is not None and c.a2.line <= num:
                            c.in_range = False
                        elif c.a2.last and is_last:
                            c.in_range = False
                if sel == c.negate:
                    continue
                if c.op == "d":
                    deleted = True
                    break
                if c.op == "p":
                    emit(line, nl)
                elif c.op == "q":
                    quit_code = c.exit_code
                    break
                elif c.op == "s":
                    rx, alt = _sed_regex(None if c.empty_rx else c.rx, last_rx)
                    line, changed = _sed_sub(c, rx, alt, line)
                    if changed and c.print_:
                        emit(line, nl)
            if not deleted and "n" not in o:
                emit(line, nl)
            if quit_code is not None:
                return quit_code
        return None

    if not in_place:
        inputs = []
        for f in rest or ["-"]:
            data = _input_data(sh, "sed", f, io)
            if data is None:
                status = 1
                continue
            inputs.append((f, data))
        out = bytearray()
        pending = [False]

        def emit(line: bytes, nl: bool) -> None:
            if pending[0]:
                out.extend(b"\n")
            out.extend(line)
            if nl:
                out.extend(b"\n")
            pending[0] = not nl
        code = run_stream(inputs, emit)
        io.stdout(bytes(out))
        return code if code is not None else status
    for f in rest:
        data = _input_data(sh, "sed", f, io)
        if data is None:
            status = 1
            continue
        out = bytearray()
        pending = [False]

        def emit(line: bytes, nl: bool) -> None:
            if pending[0]:
                out.extend(b"\n")
            out.extend(line)
            if nl:
                out.extend(b"\n")
            pending[0] = not nl
        code = run_stream([(f, data)], emit)
        path = sh.abs(f)
        node = sh.fstat(f)
        d = posixpath.dirname(path)
        tmp = posixpath.join(d, ".labkit-sed-tmp")
        try:
            sh.mount.write(tmp, bytes(out))
            sh.mount.chown(tmp, node.uid, node.gid)
            sh.mount.chmod(tmp, node.mode & 0o7777)
            if suffix:
                sh.mount.rename(path, path + suffix)
            sh.mount.rename(tmp, path)
        except OSError as e:
            raise _CmdError(f"sed: {f}: {_oserr(e)}")
        if code is not None:
            return code
    return status
