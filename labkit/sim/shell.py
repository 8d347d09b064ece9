"""The simulator's small shell: runs the commands the lessons use on an overlay ``Mount``.

Docker runs a shell-form ``RUN`` as ``/bin/sh -c "<script>"``; in labkit's base image that
shell is BusyBox ``ash``. This module interprets the part of that shell the lessons need,
against a ``labkit.fs.overlay.Mount``, so every file operation goes through the overlay model
(copy-up, whiteouts, opaque directories) exactly as the kernel would see it::

    result = run("mkdir -p /app && echo hi > /app/greeting", mount, env={"PATH": "/bin"})
    result.exit_code, result.output        # (0, "")

What is supported
-----------------
Syntax
    lists ``a && b``, ``a || b``, ``a ; b`` and newlines; comments ``# ...``; ``\\``-newline
    continuations; pipelines ``a | b | c`` and ``! a | b`` (each element runs in a subshell
    environment: assignments, ``cd``, ``exit`` and ``return`` do not leak; the status is the
    last element's, or with ``set -o pipefail`` the last failing one's; the elements run one
    after the other, each to its end, the whole stdout of one being the stdin of the next, so
    a writer is never stopped early by ``SIGPIPE`` and an element's stderr comes before what
    later elements print, where the kernel's concurrent processes may interleave them);
    ``{ list; }`` groups and ``( list )`` subshells; ``if/elif/else/fi``, ``for NAME [in
    WORDS]; do ...; done``, ``while``/``until`` loops (at most 100000 rounds), ``break [n]``
    and ``continue [n]`` (no-ops outside a loop, dynamic across function calls, ending only
    the subshell they run in); ``case WORD in [(]PAT|PAT) list ;; ... esac`` (glob patterns,
    quoted parts literal); functions ``name() COMMAND`` with ``$1``.., ``$#``, ``$@``,
    ``return [n]`` and ``local NAME[=VALUE]``, found after the special builtins and before
    the other commands; redirections on any command, compound ones included (``while read l;
    do ...; done < file``, ``{ ...; } > file``), applied in order: ``>``, ``>>``, ``<``,
    ``2>``, ``2>>``, ``2>&1``, ``>&2`` (``/dev/null``, ``/dev/stdout``, ``/dev/stderr``
    understood; a redirected file keeps an offset like an open descriptor, ``>>`` writes at
    its end); here-documents ``<<WORD``, ``<<-WORD`` (leading tabs stripped) and
    ``<<'WORD'``/``<<"WORD"`` (body literal; otherwise ``$``, ``$(...)``, backquotes and
    ``\\`` before ``$ ` \\`` or a newline work as in double quotes).
Expansion
    quoting ``'...'``, ``"..."`` and backslash; ``$(command)`` and backquotes (a subshell
    environment, trailing newlines dropped; a syntax error inside is found when its line is
    parsed); ``$((arithmetic))`` (ash's: 64-bit integers, C operators and precedence,
    ``**``, ``?:``, assignments ``= += ...``, ``++``/``--``, decimal, octal and hex numbers;
    a variable's value is evaluated in turn; errors end the shell); ``$VAR``, ``${VAR}``,
    ``${VAR:-word}``, ``${VAR:+word}``, ``${VAR:=word}``, ``${VAR:?message}`` (and the
    forms without ``:``), ``${#VAR}``, ``${VAR#pat}``, ``${VAR##pat}``, ``${VAR%pat}``,
    ``${VAR%%pat}`` (quoted parts of ``pat`` literal), ``$?``, ``$#``, ``$@``, ``$*``,
    ``$0``..``$9``, ``$$``, ``$-``; field splitting of unquoted expansions (not in
    assignments, redirection targets or the ``case`` word); globs ``*``, ``?``, ``[...]``
    matched against the mount (a pattern that matches nothing stays as written, like sh);
    assignments ``A=1`` and ``A=1 cmd``.
Shell options
    ``set`` with ``-e -u -x`` / ``+e +u +x``, ``-o errexit|nounset|xtrace|pipefail`` and
    ``--`` (new positional parameters); ``sh [-eux] [-o OPT] -c SCRIPT [ARG0 ARGS]`` (``-ec``
    too), ``sh FILE``, ``sh`` reading its script from stdin. ``-e`` is off in conditions, in
    the functions they call and under ``!``; ``-u`` ends the shell with ash's ``parameter not
    set``; ``-x`` traces like ash (``$PS4``, words single-quoted when needed, before the
    command's own redirections).
Commands (BusyBox behaviour and messages)
    ``mkdir [-p] [-m MODE]``, ``rmdir``, ``touch [-c]``, ``echo [-n] [-e]``, ``printf``
    (``%s %d %b %%`` with widths, ``\\n \\t \\\\``; the format is reused for extra arguments),
    ``cat``, ``rm [-r -f -R]``, ``cp [-r -R -a -p -d -f]``, ``mv [-f]``, ``ln [-s] [-f] [-n]``,
    ``chmod [-R]`` (octal or ``u+x,go-w`` style), ``chown [-R] USER[:GROUP]`` (numeric ids, or
    names looked up in the mount's ``/etc/passwd`` and ``/etc/group``),
    ``dd if= of= bs= count=``, ``ls [-1 -a -A -R -d -l -n]`` (``-l``: link counts and
    ``total`` are estimates), ``wc [-l -w -c]``, ``head``/``tail`` (``-n N``, ``-N``,
    ``-c N``, ``tail -n +N``), ``whoami``, ``id -u|-g [-n]``, ``basename``, ``dirname``,
    ``seq [FIRST [INC]] LAST``, ``true``, ``false``, ``:``, ``test`` / ``[`` (``-e -f -d -h -L
    -s -x -r -w -z -n``, ``= != -eq -ne -lt -le -gt -ge``, ``!``), ``cd``, ``pwd``, ``export``,
    ``unset``, ``exit``, ``sleep`` (returns at once), running a ``#!/bin/sh`` script by path,
    ``busybox APPLET ...``, ``busybox --install [-s] DIR`` (applet names read from the
    BusyBox binary in the mount), any applet by path (``/bin/mkdir``) when that path leads
    to BusyBox; the builtins ``read [-r] [NAME...]`` (IFS splitting, backslash
    continuation), ``command -v NAME`` and ``command CMD ...`` (skips functions);
    ``which [-a] NAME...``. The commands that read input (``cat``, ``wc``, ``head``,
    ``tail`` and the text applets) read stdin with no file or ``-``.
Text applets (files or stdin; BusyBox 1.35 behaviour and messages)
    ``grep``/``egrep``/``fgrep`` (``-v -i -c -q -n -l -L -h -H -s -m N -e -f -E -F -x -w
    -o``, ``-r``/``-R`` on directories), ``sort`` (``-r -n -u -f -o FILE -t C -k
    N[,M][nfr]``; a key's own flags replace the global ones; ``-n`` reads numbers as strtod
    does, hexadecimal included), ``uniq [-c -d -u -i] [IN [OUT]]``, ``tr [-c -d -s] SET1
    [SET2]`` (ranges, ``\\n``-style and octal escapes, ``[:upper:]``-style classes), ``cut
    -b|-c|-f LIST [-d C] [-s]``, ``tee [-a]``, ``sed`` (``-n -e -E/-r -i[SUFFIX]``;
    commands ``s/re/rep/`` with flags ``g p N I``, ``d``, ``p``, ``q [CODE]``; addresses
    ``N``, ``$``, ``/re/``, ``A,B`` ranges and ``!``; ``//`` reuses the last regex; ``-i``
    writes a new file and renames it over the old one, as BusyBox does),
    ``md5sum``/``sha1sum``/``sha256sum``/``sha512sum`` (and ``-c`` with ``-s -w``),
    ``xargs [-n N] [-I STR] [-r] [-t] [-0]``, ``find [PATH...]`` with ``!``, ``-name -iname
    -path -type f|d|l -maxdepth -mindepth -print -exec CMD {} ;`` and ``{} +`` (and
    ``-delete`` when the BusyBox binary in the image has it: it is a build option), ``env
    [-i] [-u NAME] [NAME=VALUE...] COMMAND``. Regular expressions are POSIX BRE/ERE
    (glibc's, C locale, GNU escapes ``\\w \\s \\b \\< \\>`` and BRE ``\\+ \\? \\|``) translated to
    Python's ``re``; a pattern glibc refuses is BusyBox's ``bad regex`` error. Usage errors
    print BusyBox's own usage text, read from the binary in the image (``busybox_usage``).

Faithful details
    ``mv`` of a directory that lives in a lower layer fails with ``EXDEV`` on overlayfs (Docker
    leaves ``redirect_dir`` off), so BusyBox falls back to copy + delete; this shell does the
    same, which leaves a whiteout plus a full copy in the upper, as Docker's layer shows.
    New files get mode ``0666 & ~022``, directories ``0777 & ~022`` (Docker's umask ``022``);
    ``cp`` without ``-p`` keeps the source mode minus the umask; ``touch`` of an existing
    lower file changes its mtime, which copies it up. Output is stdout and stderr
    interleaved, as ``docker build`` shows it (BusyBox flushes stdout before each message).

Determinism
    ``dd if=/dev/urandom`` cannot produce the kernel's random bytes. It writes a
    deterministic stream instead: SHA-256 in counter mode over ``"labkit-urandom:" + of=
    path``, block ``i`` = ``sha256(seed + i.to_bytes(8, "big"))``. Sizes match Docker; the
    content cannot. ``touch`` and writes use ``now`` (default: the current time).
    ``find`` and ``grep -r`` visit directory entries sorted by name; the kernel lists them in
    readdir order, which depends on the filesystem (pipe through ``sort`` for a stable order).

Not supported (raises ``labkit.errors.UnsupportedOperation`` naming it, never a silent
no-op): background ``&``, the ``function`` and ``select`` keywords, here-document
delimiters containing ``$`` or backquotes, here-documents on a descriptor other than 0,
``&>``, ``<&``, ``set`` without arguments and ash options other than the four above,
``sh -s/-i/-l``, and every program not listed above that exists in the image (``od``,
``apk``, ...). Within the listed commands, options and forms not listed raise too
(``grep -A``, ``sort -s``, ``sed y``/``a``/``i``/``N``..., ``find -o``/``-newer``...,
``env`` printing the environment: ash's export order is not modelled). Where glibc's regex
reading is not reproduced faithfully, the pattern raises rather than guess: alternation
(``|``) in ``sed s`` and ``grep -o`` (POSIX takes the longest alternative, Python's ``re``
the first), quantifiers with nothing to repeat, empty alternatives, an unmatched ``)`` in
an ERE, ``grep -w`` with a pattern that matches the empty string. Input holding NUL bytes
raises for ``sort``, ``uniq``, ``cut``, ``sed``, ``xargs`` (without ``-0``) and ``read``
(BusyBox reads their lines as C strings). A name found nowhere in the image prints
``/bin/sh: NAME: not found`` and exits 127, as BusyBox does.
"""
from __future__ import annotations

import dataclasses
import errno as _errno
import fnmatch
import functools
import hashlib
import os
import posixpath
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from ..errors import UnsupportedOperation
from ..fs.node import Node, resolve_in_scope
from ..fs.users import account_rows, name_of

if TYPE_CHECKING:  # pragma: no cover
    from ..fs.overlay import Mount

__all__ = ["ShellResult", "run", "run_argv", "SUPPORTED_COMMANDS", "UMASK", "busybox_applets",
           "busybox_usage"]

UMASK = 0o022
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_ASH_PATH = "/sbin:/usr/sbin:/bin:/usr/bin"
_FIX = ("build this Dockerfile with the Docker engine (LABKIT_ENGINE=docker), or rewrite the "
        "step with the commands listed in labkit.sim.shell's documentation")


@dataclass(frozen=True)
class ShellResult:
    """What a script did: its exit status and its output (stdout and stderr interleaved)."""

    exit_code: int
    output: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


def _unsupported(what: str) -> UnsupportedOperation:
    return UnsupportedOperation(f"the simulator's shell does not support {what}", fix=_FIX)


# --------------------------------------------------------------------------- parsing

class _HereDoc:
    """A here-document's body, filled in when the lexer reaches the line after ``<<``.
    A quoted delimiter (``<<'EOF'``) keeps the body literal; otherwise ``$``, backquotes and
    ``\\`` before ``$ ` \\`` work as inside double quotes (``"`` stays a plain character)."""

    def __init__(self, delim: str, quoted: bool, strip: bool) -> None:
        self.delim, self.quoted, self.strip = delim, quoted, strip
        self.parts: tuple = ()

    def fill(self, body: str) -> None:
        if self.quoted:
            self.parts = (_Lit(body, True),)
            return
        lx = _Lexer(body)
        parts: list = []
        buf: list[str] = []
        s = lx.s
        while lx.i < len(s):
            c = s[lx.i]
            if c == "\\" and lx.i + 1 < len(s) and s[lx.i + 1] in "$`\\\n":
                if s[lx.i + 1] != "\n":
                    buf.append(s[lx.i + 1])
                lx.i += 2
            elif c in "$`":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(lx._dollar(True) if c == "$" else lx._backquote(True))
            else:
                buf.append(c)
                lx.i += 1
        if buf:
            parts.append(_Lit("".join(buf), True))
        self.parts = tuple(parts)


@dataclass(frozen=True)
class _Lit:
    text: str
    quoted: bool


@dataclass(frozen=True)
class _Var:
    name: str
    quoted: bool
    op: str = ""                       # "", ":-", "-", ":+", "+"
    arg: tuple = ()                    # parts of the word after op


@dataclass(frozen=True)
class _Cmd:
    """``$(script)`` or a backquoted script: replaced by its output."""
    script: str
    quoted: bool


@dataclass(frozen=True)
class _Arith:
    """``$((expression))``: integer arithmetic."""
    expr: str
    quoted: bool


@dataclass(frozen=True)
class _Word:
    parts: tuple
    raw: str

    def is_quoted(self) -> bool:
        return any(p.quoted for p in self.parts)


@dataclass(frozen=True)
class _Redir:
    fd: int
    op: str                            # ">", ">>", "<", ">&"
    target: _Word


@dataclass(frozen=True)
class _Simple:
    assigns: tuple[tuple[str, _Word], ...]
    words: tuple[_Word, ...]
    redirs: tuple[_Redir, ...]
    negate: bool = False
    line: int = 0                      # 0-based line in the script (ash's "line N:")


@dataclass(frozen=True)
class _AndOr:
    first: object                            # _Simple, _If, _For or _While
    rest: tuple[tuple[str, object], ...]     # ("&&"|"||", command)


class _SyntaxError(Exception):
    pass


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class _Lexer:
    """Turns a script into words and operators, keeping which parts were quoted."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.pending: list[_HereDoc] = []

    def tokens(self) -> list:
        out: list = []
        self.lines: list[int] = []
        s = self.s
        begin = 0
        while self.i < len(s):
            while len(self.lines) < len(out):    # each token's line is where it began
                self.lines.append(s.count("\n", 0, begin))
            begin = self.i
            c = s[self.i]
            if c in " \t\r" or s.startswith("\\\n", self.i):     # blank, line continuation
                self.i += 2 if c == "\\" else 1
            elif c == "\n":
                out.append("\n")
                self.i += 1
                self._read_heredocs()
            elif c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            elif s.startswith("&&", self.i) or s.startswith("||", self.i):
                out.append(s[self.i:self.i + 2])
                self.i += 2
            elif c == ";":
                op = ";;" if s.startswith(";;", self.i) else ";"
                out.append(op)
                self.i += len(op)
            elif c == "|":
                out.append("|")
                self.i += 1
            elif c == "&":
                if s.startswith("&>", self.i):
                    raise _unsupported("the '&>' redirection (not POSIX sh)")
                raise _unsupported("background jobs ('&')")
            elif c in "()":
                out.append(c)
                self.i += 1
            elif c in "<>" or (c.isdigit() and self._redir_after_digit()):
                out.append(self._redir())
            else:
                out.append(self._word())
        while len(self.lines) < len(out):
            self.lines.append(s.count("\n", 0, begin))
        self._read_heredocs()              # a here-document may run to the end of the script
        return out

    def _read_heredocs(self) -> None:
        """Bodies of the here-documents whose ``<<`` was on the line just ended."""
        s = self.s
        for doc in self.pending:
            lines: list[str] = []
            while self.i < len(s):
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i:end]
                newline = "\n" if end < len(s) else ""
                self.i = end + 1
                if doc.strip:
                    line = line.lstrip("\t")
                if line == doc.delim:
                    break
                lines.append(line + newline)
            else:
                self.i = len(s)
            doc.fill("".join(lines))
        self.pending = []

    def _redir_after_digit(self) -> bool:
        j = self.i
        while j < len(self.s) and self.s[j].isdigit():
            j += 1
        return j < len(self.s) and self.s[j] in "<>"

    def _redir(self) -> tuple:
        s = self.s
        j = self.i
        while s[j].isdigit():
            j += 1
        fd_text = s[self.i:j]
        if s.startswith("<<", j):
            strip = s.startswith("<<-", j)
            self.i = j + (3 if strip else 2)
            while self.i < len(s) and s[self.i] in " \t":
                self.i += 1
            if self.i >= len(s) or s[self.i] in ";&|<>()\n":
                raise _SyntaxError("syntax error: unexpected redirection")
            word = self._word()
            if any(not isinstance(p, _Lit) for p in word.parts):
                raise _unsupported("a here-document delimiter with $ or ` in it")
            doc = _HereDoc("".join(p.text for p in word.parts), word.is_quoted(), strip)
            self.pending.append(doc)
            return ("redir", int(fd_text) if fd_text else 0, "<<", doc)
        for op in (">>", ">&", ">|", ">", "<&", "<"):
            if s.startswith(op, j):
                break
        if op == "<&":
            raise _unsupported("the '<&' redirection")
        self.i = j + len(op)
        while self.i < len(s) and s[self.i] in " \t":
            self.i += 1
        if self.i >= len(s) or s[self.i] in ";&|<>\n":
            raise _SyntaxError("syntax error: unexpected redirection")
        target = self._word()
        fd = int(fd_text) if fd_text else (0 if op == "<" else 1)
        return ("redir", fd, ">" if op == ">|" else op, target)

    def _word(self) -> _Word:
        s = self.s
        start = self.i
        parts: list = []
        buf: list[str] = []

        def flush(quoted: bool) -> None:
            if buf:
                parts.append(_Lit("".join(buf), quoted))
                buf.clear()

        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n;&|()<>":
                break
            if c == "\\":
                flush(False)
                if self.i + 1 < len(s) and s[self.i + 1] != "\n":     # \<newline> joins lines
                    parts.append(_Lit(s[self.i + 1], True))
                self.i += 2
            elif c == "'":
                flush(False)
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise _SyntaxError("syntax error: unterminated quoted string")
                parts.append(_Lit(s[self.i + 1:end], True))
                self.i = end + 1
            elif c == '"':
                flush(False)
                self.i += 1
                parts.extend(self._double())
            elif c == "$":
                flush(False)
                parts.append(self._dollar(False))
            elif c == "`":
                flush(False)
                parts.append(self._backquote(False))
            else:
                buf.append(c)
                self.i += 1
        flush(False)
        return _Word(tuple(parts), s[start:self.i])

    def _double(self) -> list:
        s = self.s
        parts: list = []
        buf: list[str] = []
        while True:
            if self.i >= len(s):
                raise _SyntaxError("syntax error: unterminated quoted string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c == "$":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(self._dollar(True))
            elif c == "`":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(self._backquote(True))
            else:
                buf.append(c)
                self.i += 1
        if buf or not parts:
            parts.append(_Lit("".join(buf), True))
        return parts

    def _dollar(self, quoted: bool):
        s = self.s
        j = self.i + 1
        if s.startswith("((", j):
            end = self._paren_end(j + 1)
            if end + 1 >= len(s) or s[end + 1] != ")":
                raise _unsupported("'$((' that is not an arithmetic expansion")
            self.i = end + 2
            return _Arith(s[j + 2:end], quoted)
        if j < len(s) and s[j] == "(":
            end = self._paren_end(j)
            self.i = end + 1
            return _Cmd(s[j + 1:end], quoted)
        if j < len(s) and s[j] == "{":
            end = self._brace_end(j)
            body = s[j + 1:end]
            self.i = end + 1
            if body.startswith("#") and len(body) > 1:          # ${#NAME}: its length
                if not (_NAME_RE.fullmatch(body[1:]) or re.fullmatch(r"[0-9?#@*$!-]", body[1:])):
                    raise _SyntaxError(f"syntax error: bad substitution '${{{body}}}'")
                return _Var(body[1:], quoted, "len")
            m = _NAME_RE.match(body) or re.match(r"[0-9?#@*$!-]", body)
            if not m:
                raise _SyntaxError(f"syntax error: bad substitution '${{{body}}}'")
            name, rest = m.group(0), body[m.end():]
            if not rest:
                return _Var(name, quoted)
            for op in (":-", ":+", ":=", ":?", "##", "%%", "-", "+", "=", "?", "#", "%"):
                if rest.startswith(op):
                    arg = _Lexer(rest[len(op):])
                    pattern = op[0] in "#%"        # a pattern: quoting inside it counts
                    return _Var(name, quoted, op, tuple(arg._inner_word(quoted and not pattern)))
            raise _unsupported(f"the parameter expansion '${{{body}}}'")
        m = _NAME_RE.match(s, j)
        if m:
            self.i = m.end()
            return _Var(m.group(0), quoted)
        if j < len(s) and s[j] in "0123456789?#@*$!-":
            self.i = j + 1
            return _Var(s[j], quoted)
        self.i = j
        return _Lit("$", quoted)

    def _paren_end(self, j: int) -> int:
        """Index of the ``)`` matching the ``(`` at ``j`` (quotes and escapes skipped; the
        ``)`` after a ``case`` pattern does not count)."""
        s, depth, k = self.s, 0, j
        cases: list[int] = []
        while k < len(s):
            c = s[k]
            if c in "ce" and _command_position(s[j + 1:k]):
                m = re.match(r"(case|esac)(?=[ \t\n;&|()]|$)", s[k:])
                if m and m.group(1) == "case":
                    cases.append(depth)
                elif m and cases:
                    cases.pop()
                if m:
                    k += 4
                    continue
            if c == ")" and cases and depth == cases[-1]:
                k += 1
                continue
            if c == "\\":
                k += 2
                continue
            if c == "'":
                end = s.find("'", k + 1)
                k = (len(s) if end < 0 else end) + 1
                continue
            if c == '"':
                k += 1
                while k < len(s) and s[k] != '"':
                    k += 2 if s[k] == "\\" else 1
                k += 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return k
            k += 1
        raise _SyntaxError("syntax error: unterminated $(...)")

    def _backquote(self, quoted: bool) -> _Cmd:
        s = self.s
        out: list[str] = []
        k = self.i + 1
        while k < len(s) and s[k] != "`":
            if s[k] == "\\" and k + 1 < len(s) and s[k + 1] in "`$\\":
                out.append(s[k + 1])
                k += 2
                continue
            out.append(s[k])
            k += 1
        if k >= len(s):
            raise _SyntaxError("syntax error: unterminated quoted string")
        self.i = k + 1
        return _Cmd("".join(out), quoted)

    def _brace_end(self, j: int) -> int:
        depth = 0
        for k in range(j, len(self.s)):
            if self.s[k] == "{":
                depth += 1
            elif self.s[k] == "}":
                depth -= 1
                if depth == 0:
                    return k
        raise _SyntaxError("syntax error: missing '}'")

    def _inner_word(self, quoted: bool) -> list:
        """The word inside ``${X:-word}``: expansions allowed, quoting as around it."""
        parts: list = []
        buf: list[str] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "$":
                if buf:
                    parts.append(_Lit("".join(buf), quoted))
                    buf = []
                parts.append(self._dollar(quoted))
            elif c == "'" and not quoted:
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                parts.append(_Lit(s[self.i + 1:end], True))
                self.i = end + 1
            elif c == '"':
                self.i += 1
                if not quoted:                 # "..." inside ${V%...}: literal, expansions work
                    if buf:
                        parts.append(_Lit("".join(buf), quoted))
                        buf = []
                    parts.extend(self._double())
            elif c == "\\" and not quoted and self.i + 1 < len(s):
                if buf:
                    parts.append(_Lit("".join(buf), quoted))
                    buf = []
                parts.append(_Lit(s[self.i + 1], True))
                self.i += 2
            else:
                buf.append(c)
                self.i += 1
        if buf:
            parts.append(_Lit("".join(buf), quoted))
        return parts


def _token_starts(lexer: _Lexer, toks: list) -> list[int]:
    """Line of each token (the lexer records the line where each token started)."""
    lines = list(lexer.lines)
    while len(lines) < len(toks):
        lines.append(lexer.s.count("\n"))
    return lines


@dataclass(frozen=True)
class _If:
    branches: tuple[tuple[tuple, tuple], ...]     # (condition list, body list), if + elifs
    orelse: tuple | None
    negate: bool = False


@dataclass(frozen=True)
class _For:
    name: str
    words: tuple[_Word, ...] | None               # None: "$@"
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _While:
    cond: tuple
    body: tuple
    until: bool = False
    negate: bool = False


@dataclass(frozen=True)
class _Pipeline:
    """``a | b | c``: each element in a subshell, stdout feeding the next one's stdin."""
    cmds: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Group:
    """``{ list; }``: runs in the current shell."""
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Subshell:
    """``( list )``: runs in a subshell environment."""
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Case:
    word: _Word
    items: tuple[tuple[tuple[_Word, ...], tuple], ...]    # (patterns, body)
    negate: bool = False


@dataclass(frozen=True)
class _FuncDef:
    name: str
    body: object
    negate: bool = False


@dataclass(frozen=True)
class _Redirected:
    """A compound command with redirections: ``while ...; done < file``, ``{ ...; } > f``."""
    cmd: object
    redirs: tuple
    negate: bool = False


# commands whose failure stops a 'set -e' shell (compound bodies apply it inside)
_ERREXIT_KINDS = (_Simple, _Pipeline, _Subshell)
_COMPOUND_END = {"then", "elif", "else", "fi", "do", "done", "}", "esac"}
_NOT_MODELLED = {"function", "select"}
_OPENERS = {"if", "for", "while", "until", "case", "{"}


def _is_word(t: object, text: str) -> bool:
    return isinstance(t, _Word) and t.raw == text and not t.is_quoted()


_ARITH_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_][A-Za-z0-9_]*)|"
                          r"(<<=|>>=|\*\*|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&^|]=|"
                          r"[-+*/%<>=!~&^|?:()]))")
_ARITH_BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7,
                 ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
                 "**": 11}


def _wrap64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


class _Arith_eval:
    """One ``$((...))`` evaluation, by precedence climbing over ash's operators."""

    def __init__(self, sh: "_Shell", depth: int = 0) -> None:
        self.sh, self.depth = sh, depth

    def fail(self, what: str = "arithmetic syntax error") -> "_Fatal":
        return _Fatal(f"{self.sh.argv0}: {what}", 2)

    def run(self, text: str) -> int:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _ARITH_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise self.fail()
            num, name, op = m.groups()
            self.toks.append(("n", num) if num else ("v", name) if name else ("o", op))
            pos = m.end()
        if not self.toks:
            return 0
        self.i = 0
        value = self.assign()
        if self.i != len(self.toks):
            raise self.fail()
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take_op(self, *ops: str) -> str | None:
        t = self.peek()
        if t and t[0] == "o" and t[1] in ops:
            self.i += 1
            return t[1]
        return None

    def var(self, name: str) -> int:
        value = self.sh.vars.get(name, "")
        if value.strip() == "":
            return 0
        if re.fullmatch(r"\s*-?\d+\s*", value):
            return _wrap64(int(value))
        if self.depth > 20:
            raise self.fail("expression recursion loop detected")
        return _Arith_eval(self.sh, self.depth + 1).run(value)

    def set(self, name: str, value: int) -> int:
        self.sh.vars[name] = str(value)
        return value

    def assign(self) -> int:
        t = self.peek()
        nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
        if t and t[0] == "v" and nxt and nxt[0] == "o" and nxt[1].endswith("=") and \
                nxt[1] not in ("==", "!=", "<=", ">="):
            self.i += 2
            rhs = self.assign()
            if nxt[1] == "=":
                return self.set(t[1], rhs)
            return self.set(t[1], self.binary(nxt[1][:-1], self.var(t[1]), rhs))
        return self.ternary()

    def ternary(self) -> int:
        cond = self.climb(1)
        if self.take_op("?"):
            yes = self.assign()
            if not self.take_op(":"):
                raise self.fail()
            no = self.assign()
            return yes if cond else no
        return cond

    def binary(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise self.fail("divide by zero")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return _wrap64(q if op == "/" else a - q * b)
        if op == "**":
            if b < 0:
                raise self.fail("exponent less than 0")
            return _wrap64(pow(a, b, 1 << 64))
        result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                  "<<": lambda: a << (b & 63), ">>": lambda: a >> (b & 63), "<": lambda: a < b,
                  "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
                  "==": lambda: a == b, "!=": lambda: a != b, "&": lambda: a & b,
                  "^": lambda: a ^ b, "|": lambda: a | b}[op]()
        return _wrap64(int(result))

    def climb(self, level: int) -> int:
        left = self.unary()
        while True:
            t = self.peek()
            if not t or t[0] != "o" or t[1] not in _ARITH_BINARY or _ARITH_BINARY[t[1]] < level:
                return left
            op = t[1]
            self.i += 1
            if op in ("&&", "||"):
                right = self.climb(_ARITH_BINARY[op] + 1)
                left = int(bool(left) and bool(right)) if op == "&&" else int(bool(left) or bool(right))
                continue
            right = self.climb(_ARITH_BINARY[op] + (0 if op == "**" else 1))
            left = self.binary(op, left, right)

    def unary(self) -> int:
        op = self.take_op("+", "-", "!", "~", "++", "--")
        if op in ("++", "--"):
            t = self.peek()
            if not t or t[0] != "v":
                raise self.fail()
            self.i += 1
            return self.set(t[1], _wrap64(self.var(t[1]) + (1 if op == "++" else -1)))
        if op:
            v = self.unary()
            return {"+": v, "-": _wrap64(-v), "!": int(not v), "~": _wrap64(~v)}[op]
        t = self.peek()
        if t is None:
            raise self.fail()
        self.i += 1
        if t == ("o", "("):
            v = self.assign()
            if not self.take_op(")"):
                raise self.fail()
            return v
        if t[0] == "n":
            text = t[1]
            if text.lower().startswith("0x"):
                return _wrap64(int(text, 16))
            if len(text) > 1 and text.startswith("0"):
                if not re.fullmatch(r"[0-7]+", text):
                    raise self.fail()
                return _wrap64(int(text, 8))
            return _wrap64(int(text))
        if t[0] == "v":
            post = self.take_op("++", "--")
            value = self.var(t[1])
            if post:
                self.set(t[1], _wrap64(value + (1 if post == "++" else -1)))
            return value
        raise self.fail()


def _command_position(before: str) -> bool:
    """Does a word after ``before`` start a command (so ``case``/``esac`` are keywords)?"""
    rest = before.rstrip(" \t")
    if rest[-1:] in ("", ";", "\n", "&", "|", "(", ")"):
        return True
    m = re.search(r"(?:^|[\s;&|()])(then|do|else|elif|if|while|until|\{|!)$", rest)
    return m is not None


def _check_substitutions(word) -> None:
    """ash parses ``$(...)`` and backquotes with the command around them: a syntax error
    inside one is found before anything on that line runs."""
    for p in getattr(word, "parts", ()):
        if isinstance(p, _Cmd):
            _parse_cached(p.script)
        elif isinstance(p, _Var):
            for q in p.arg:
                _check_substitutions(_Word((q,), ""))


@functools.lru_cache(maxsize=256)
def _parse_cached(script: str) -> tuple:
    return tuple(_parse(script))


def _parse(script: str) -> list:
    """Tokens -> lists of and-or items; a command is a _Simple or a compound (_If/_For/_While)."""
    lexer = _Lexer(script)
    toks = lexer.tokens()
    starts = _token_starts(lexer, toks)
    i = 0

    def peek():
        return toks[i] if i < len(toks) else None

    def unexpected(t) -> _SyntaxError:
        shown = "end of file" if t is None else (t.raw if isinstance(t, _Word) else
                                                 t if isinstance(t, str) else "redirection")
        return _SyntaxError(f'syntax error: unexpected "{shown}"' if t is not None
                            else "syntax error: unexpected end of file")

    def eof(expecting: str) -> _SyntaxError:
        return _SyntaxError(f'syntax error: unexpected end of file (expecting "{expecting}")')

    def expect(word: str) -> None:
        nonlocal i
        t = peek()
        if t is None:
            raise eof(word)
        if not _is_word(t, word):
            raise unexpected(t)
        i += 1

    def skip_newlines() -> None:
        nonlocal i
        while peek() == "\n":
            i += 1

    def skip_separators() -> None:
        """One optional ';', then newlines (a ';' must end a command: '\n;' is an error)."""
        nonlocal i
        if peek() == ";":
            i += 1
        skip_newlines()

    def compound_list(stop: set[str], expecting: str, *, empty_ok: bool = False) -> tuple:
        nonlocal i
        items = []
        while True:
            skip_newlines()
            t = peek()
            if t is None:
                raise eof(expecting)
            if isinstance(t, _Word) and not t.is_quoted() and t.raw in stop or t in stop:
                break
            items.append(and_or())
            if peek() == ";":
                i += 1
        if not items and not empty_ok:
            raise unexpected(peek())
        return tuple(items)

    def simple() -> _Simple:
        nonlocal i
        line = starts[i] if i < len(starts) else 0
        assigns: list = []
        words: list = []
        redirs: list = []
        while i < len(toks) and toks[i] not in (";", "\n", "&&", "||", "|", ";;", ")", "("):
            t = toks[i]
            _check_substitutions(t[3] if isinstance(t, tuple) else t)
            if isinstance(t, tuple):
                i += 1
                redirs.append(_Redir(t[1], t[2], t[3]))
                continue
            if not words and not t.is_quoted() and t.raw in _COMPOUND_END | _OPENERS:
                if assigns or redirs:
                    raise unexpected(t)
                break
            i += 1
            if not words and _ASSIGN_RE.match(t.raw) and t.parts and not t.parts[0].quoted \
                    and isinstance(t.parts[0], _Lit):
                name, _, first = t.parts[0].text.partition("=")
                rest = ((_Lit(first, False),) if first else ()) + t.parts[1:]
                assigns.append((name, _Word(rest, t.raw[len(name) + 1:])))
                continue
            words.append(t)
        if not (words or assigns or redirs):
            raise unexpected(peek())
        if peek() == "(" and not (len(words) == 1 and not assigns and not redirs):
            raise unexpected("(")
        return _Simple(tuple(assigns), tuple(words), tuple(redirs), False, line)

    def pipeline():
        nonlocal i
        negate = False
        if _is_word(peek(), "!"):
            negate = True
            i += 1
            if _is_word(peek(), "!"):              # ash takes one '!' only
                raise unexpected(peek())
        cmds = [command(negate)]
        while peek() == "|":
            i += 1
            while peek() == "\n":
                i += 1
            if _is_word(peek(), "!"):
                raise unexpected(peek())
            cmds.append(command(False))
        if len(cmds) == 1:
            return cmds[0]
        return _Pipeline((dataclasses.replace(cmds[0], negate=False),) + tuple(cmds[1:]), negate)

    def case() -> _Case:
        nonlocal i
        word = peek()
        if not isinstance(word, _Word):
            raise _SyntaxError("syntax error: unexpected end of file (expecting word)") \
                if word is None else unexpected(word)
        i += 1
        while peek() == "\n":
            i += 1
        expect("in")
        items = []
        while True:
            skip_newlines()
            t = peek()
            if t is None:
                raise eof(")")
            if _is_word(t, "esac"):
                i += 1
                break
            if t == "(":
                i += 1
            pats = []
            while True:
                p = peek()
                if p is None:
                    raise eof(")")
                if not isinstance(p, _Word):
                    raise unexpected(p)
                pats.append(p)
                i += 1
                if peek() == "|":
                    i += 1
                    continue
                if peek() is None:
                    raise eof(")")
                if peek() != ")":
                    raise unexpected(peek())
                i += 1
                break
            body = compound_list({";;", "esac"}, "esac", empty_ok=True)
            items.append((tuple(pats), body))
            if peek() == ";;":
                i += 1
            elif not _is_word(peek(), "esac"):
                raise unexpected(peek())
        return _Case(word, tuple(items))

    def command(negate: bool):
        nonlocal i
        t = peek()
        if (isinstance(t, _Word) and not t.is_quoted() and _NAME_RE.fullmatch(t.raw)
                and t.raw not in _COMPOUND_END | _KEYWORDS and i + 1 < len(toks)
                and toks[i + 1] == "("):
            if i + 2 >= len(toks) or toks[i + 2] != ")":
                raise unexpected(toks[i + 2] if i + 2 < len(toks) else None)
            i += 3
            while peek() == "\n":
                i += 1
            if peek() is None:
                raise unexpected(None)
            return _FuncDef(t.raw, command(False), negate)
        if t == "(":
            i += 1
            body = compound_list({")"}, ")")
            if peek() != ")":
                raise unexpected(peek())
            i += 1
            return redirected(_Subshell(body), negate)
        if _is_word(t, "{"):
            i += 1
            body = compound_list({"}"}, "}")
            expect("}")
            return redirected(_Group(body), negate)
        if _is_word(t, "case"):
            i += 1
            return redirected(case(), negate)
        if isinstance(t, _Word) and not t.is_quoted() and t.raw in _NOT_MODELLED:
            raise _unsupported(f"the shell keyword {t.raw!r}")
        if _is_word(t, "if"):
            i += 1
            branches = []
            cond = compound_list({"then"}, "then")
            expect("then")
            body = compound_list({"elif", "else", "fi"}, "fi")
            branches.append((cond, body))
            orelse = None
            while True:
                t = peek()
                if _is_word(t, "elif"):
                    i += 1
                    cond = compound_list({"then"}, "then")
                    expect("then")
                    branches.append((cond, compound_list({"elif", "else", "fi"}, "fi")))
                elif _is_word(t, "else"):
                    i += 1
                    orelse = compound_list({"fi"}, "fi")
                else:
                    break
            expect("fi")
            node = _If(tuple(branches), orelse, negate)
        elif _is_word(t, "for"):
            i += 1
            name = peek()
            if not isinstance(name, _Word) or not _NAME_RE.fullmatch(name.raw):
                raise _SyntaxError("syntax error: bad for loop variable")
            i += 1
            words = None
            skip_newlines()
            if _is_word(peek(), "in"):
                i += 1
                words = []
                while isinstance(peek(), _Word):
                    words.append(peek())
                    i += 1
                words = tuple(words)
            skip_separators()
            expect("do")
            body = compound_list({"done"}, "done")
            expect("done")
            node = _For(name.raw, words, body, negate)
        elif _is_word(t, "while") or _is_word(t, "until"):
            i += 1
            cond = compound_list({"do"}, "do")
            expect("do")
            body = compound_list({"done"}, "done")
            expect("done")
            node = _While(cond, body, t.raw == "until", negate)
        else:
            s = simple()
            return _Simple(s.assigns, s.words, s.redirs, negate, s.line)
        return redirected(node, negate)

    def redirected(node, negate: bool):
        """Redirections after a compound command; then it must end."""
        nonlocal i
        redirs = []
        while isinstance(peek(), tuple):
            t = peek()
            redirs.append(_Redir(t[1], t[2], t[3]))
            i += 1
        nxt = peek()
        if nxt is not None and nxt not in (";", "\n", "&&", "||", "|", ";;", ")") and not (
                isinstance(nxt, _Word) and not nxt.is_quoted() and nxt.raw in _COMPOUND_END):
            raise unexpected(nxt)
        if redirs:
            return _Redirected(dataclasses.replace(node, negate=False), tuple(redirs), negate)
        return dataclasses.replace(node, negate=negate) if negate else node

    def and_or() -> _AndOr:
        nonlocal i
        first = pipeline()
        rest = []
        while peek() in ("&&", "||"):
            op = peek()
            i += 1
            while peek() == "\n":            # a newline after && is allowed
                i += 1
            rest.append((op, pipeline()))
        return _AndOr(first, tuple(rest))

    items: list = []
    committed = 0                 # ash parses and runs one line (a complete list) at a time
    try:
        while True:
            if peek() == "\n":
                committed = len(items)
            skip_newlines()
            if peek() is None:
                break
            t = peek()
            if isinstance(t, _Word) and not t.is_quoted() and t.raw in _COMPOUND_END:
                raise unexpected(t)
            items.append(and_or())
            if peek() == ";":
                i += 1
    except _SyntaxError as e:
        e.ready = items[:committed]   # type: ignore[attr-defined]
        raise
    return items


# --------------------------------------------------------------------------- I/O

class _Sink:
    """Where one file descriptor writes: the build output (``term``), nowhere (``null``), a
    pipe or ``$(...)`` capture (``pipe``: kept in ``buf``), or a file in the mount (``file``:
    written through at once, as the kernel would, so later commands read what is there; like
    an open file it has an offset, and ``>>`` writes at the end every time)."""

    def __init__(self, kind: str, path: str = "", mount: "Mount | None" = None,
                 append: bool = False) -> None:
        self.kind, self.path, self.buf, self.mount = kind, path, bytearray(), mount
        self.append, self.pos = append, 0

    def write(self, data: bytes, out: list) -> None:
        if not data:
            return
        if self.kind == "term":
            out.append(data)
        elif self.kind == "pipe":
            self.buf += data
        elif self.kind == "file":
            try:
                if self.append:
                    self.mount.write(self.path, data, append=True)
                    return
                old = self.mount.read(self.path)
                if len(old) == self.pos:
                    self.mount.write(self.path, data, append=True)
                else:                  # someone else wrote or truncated: write at our offset
                    head = old[:self.pos].ljust(self.pos, b"\0")
                    self.mount.write(self.path, head + data + old[self.pos + len(data):])
                self.pos += len(data)
            except OSError:            # the file was removed meanwhile: the data goes nowhere
                pass


class _Input:
    """A file descriptor 0 being read: what is left of a file, a pipe or ``/dev/null``.
    Commands of one redirection share it, so ``read`` consumes line by line."""

    def __init__(self, data: bytes = b"") -> None:
        self.data, self.pos = data, 0

    def take(self) -> bytes:
        """Everything left (a command that reads to the end)."""
        rest = self.data[self.pos:]
        self.pos = len(self.data)
        return rest

    def readline(self) -> bytes:
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end + 1
        line = self.data[self.pos:end]
        self.pos = end
        return line


def _bytes(data: str | bytes) -> bytes:
    """Text as the bytes it came from (``surrogateescape`` keeps non-UTF-8 bytes intact)."""
    return data.encode(errors="surrogateescape") if isinstance(data, str) else data


@dataclass
class _IO:
    stdin: _Input
    fds: dict[int, _Sink]
    out: list

    def stdout(self, data: str | bytes) -> None:
        self.fds[1].write(_bytes(data), self.out)

    def stderr(self, data: str | bytes) -> None:
        self.fds[2].write(_bytes(data), self.out)


class _Exit(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Return(Exception):
    def __init__(self, code: int) -> None:
        self.code = code


class _Break(Exception):
    def __init__(self, levels: int = 1) -> None:
        self.levels = levels


class _Continue(Exception):
    def __init__(self, levels: int = 1) -> None:
        self.levels = levels


_MAX_LOOP = 100_000


class _CmdError(Exception):
    """A command failed with a message (already formatted, BusyBox-like)."""

    def __init__(self, message: str, code: int = 1) -> None:
        self.message, self.code = message, code


class _Fatal(_CmdError):
    """An error that ends the (non-interactive) shell, like ``set -u``'s."""


_KEYWORDS = {"!", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
             "until", "while", "{", "}"}


def _xtrace_quote(word: str) -> str:
    """How ash's ``set -x`` shows a word: single-quoted when it holds a character outside
    ``+ , - . / 0-9 : @ A-Z ] ^ _ a-z`` or is a reserved word."""
    if word not in _KEYWORDS and all(
            "+" <= c <= "z" and not (";" <= c <= "?") and c not in "`[\\" for c in word):
        return word
    out = []
    for run in re.findall(r"'+|[^']+", word):
        out.append(f'"{run}"' if run.startswith("'") else f"'{run}'")
    return "".join(out)


def _ash_err(e: OSError, missing: str) -> str:
    """ash's wording for a failed redirection: its own text for ENOENT/ENOTDIR."""
    return missing if e.errno in (_errno.ENOENT, _errno.ENOTDIR) else _oserr(e)


def _oserr(e: OSError) -> str:
    return os.strerror(e.errno) if e.errno else (e.strerror or str(e))


# --------------------------------------------------------------------------- the shell

class _Shell:
    def __init__(self, mount: "Mount", env: Mapping[str, str], cwd: str, now: int,
                 argv0: str = "/bin/sh", args: Sequence[str] = ()) -> None:
        self.mount = mount
        self.vars: dict[str, str] = dict(env)
        self.vars.setdefault("PATH", _ASH_PATH)     # ash's own default, as under 'env -i sh' 
        self.cwd = "/" + posixpath.normpath("/" + cwd).lstrip("/")
        self.vars["PWD"] = self.cwd          # ash sets PWD to where it starts
        self.now = now
        self.argv0 = argv0
        self.args = list(args)
        self.status = 0
        self.line = 0
        self.errexit = False
        self.mode_flag = "c"               # $-: 'c' for sh -c, 's' for a script on stdin
        self.xtrace = False
        self.nounset = False
        self.pipefail = False
        self.depth = 0
        self.busybox_exe: str | None = None
        self.io: _IO | None = None
        self.subst_status: int | None = None
        self._applet_names: list[str] | None = None
        self._usage: dict[str, str] | None = None
        self._banner = ""
        self.functions: dict[str, object] = {}
        self.cond_depth = 0
        self.loop_depth = 0                 # loops running now (break outside one: no-op)
        self.line_base = 0
        self.nosplit = False
        self.locals: list[dict[str, str | None]] = []

    # ---- paths
    def abs(self, p: str) -> str:
        full = p if p.startswith("/") else posixpath.join(self.cwd, p)
        n = posixpath.normpath(full)
        return "/" + n.lstrip("/") if n not in ("/", "//") else "/"

    def lstat(self, p: str) -> Node | None:
        try:
            return self.mount.stat(self.abs(p), follow=False)
        except OSError:
            return None

    def fstat(self, p: str) -> Node | None:
        try:
            return self.mount.stat(self.abs(p), follow=True)
        except OSError:
            return None

    def realpath(self, p: str) -> str:
        """Resolve every symlink of an absolute path in the mount (like realpath(3))."""
        def link_of(q: str) -> str | None:
            node = self.lstat("/" + q)
            return node.linkname if node is not None and node.kind == "symlink" else None
        return "/" + resolve_in_scope(self.abs(p), link_of, max_hops=40, on_loop=lambda cur: OSError(
            _errno.ELOOP, os.strerror(_errno.ELOOP), cur))

    # ---- expansion
    def _var(self, name: str) -> str | None:
        if name == "?":
            return str(self.status)
        if name == "#":
            return str(len(self.args))
        if name in ("@", "*"):
            return " ".join(self.args)
        if name == "$":
            return "1"
        if name == "!":
            return ""
        if name == "-":                  # ash's order of these letters
            return ("u" if self.nounset else "") + ("x" if self.xtrace else "") + \
                self.mode_flag + ("e" if self.errexit else "")
        if name.isdigit():
            k = int(name)
            if k == 0:
                return self.argv0
            return self.args[k - 1] if k <= len(self.args) else None
        return self.vars.get(name)

    def _expand_parts(self, parts) -> list[list[tuple[str, bool]]]:
        """Expand parts into fields; each field is a list of (text, quoted) segments."""
        fields: list[list[tuple[str, bool]]] = [[]]
        started = [False]
        for p in parts:
            if isinstance(p, _Lit):
                fields[-1].append((p.text, p.quoted))
                if p.quoted:
                    started[-1] = True
                continue
            if isinstance(p, _Cmd):
                value = self.substitute(p.script)
                if p.quoted:
                    fields[-1].append((value, True))
                    started[-1] = True
                    continue
                for k, piece in enumerate([value] if self.nosplit else re.split(r"[ \t\n]+", value)):
                    if k:
                        fields.append([])
                        started.append(False)
                    if piece:
                        fields[-1].append((piece, False))
                continue
            if isinstance(p, _Arith):
                fields[-1].append((str(self.arith(p.expr)), True))
                started[-1] = True
                continue
            value = self._var(p.name)
            if value is None and self.nounset and p.op in ("", ":+", "+") and p.name not in "@*":
                if not p.op:
                    raise _Fatal(f"{self.argv0}: {p.name}: parameter not set", 2)
            if p.op == "len":
                value = str(len(value or ""))
            elif p.op and p.op[0] in "#%":
                value = _trim(value or "", p.op, "".join(
                    _glob_escape(x) if q else x for f in self._expand_parts(p.arg) for x, q in f))
            elif p.op:
                unset_or_empty = value is None or (p.op.startswith(":") and value == "")
                if p.op in (":=", "=") and unset_or_empty:
                    if not _NAME_RE.fullmatch(p.name):
                        raise _Fatal(f"{self.argv0}: {p.name}: bad variable name", 2)
                    value = "".join(t for f in self._expand_parts(p.arg) for t, _ in f)
                    self.vars[p.name] = value
                elif p.op in (":?", "?") and unset_or_empty:
                    msg = "".join(t for f in self._expand_parts(p.arg) for t, _ in f)
                    raise _Fatal(f"{self.argv0}: {p.name}: " + (msg or (
                        "parameter not set or null" if p.op == ":?" else "parameter not set")), 2)
                elif p.op in (":=", "=", ":?", "?"):
                    pass
                elif p.op in (":-", "-"):
                    if unset_or_empty:
                        sub = self._expand_parts(p.arg)
                        for k, f in enumerate(sub):
                            if k:
                                fields.append([])
                                started.append(False)
                            fields[-1].extend(f)
                        if p.quoted:
                            started[-1] = True
                        continue
                else:  # :+ / +
                    if unset_or_empty:
                        value = ""
                    else:
                        sub = self._expand_parts(p.arg)
                        value = " ".join("".join(t for t, _ in f) for f in sub)
            value = value or ""
            if p.name == "@" and p.quoted:           # "$@": one field per argument, none if none
                for k, a in enumerate(self.args):
                    if k:
                        fields.append([])
                        started.append(False)
                    fields[-1].append((a, True))
                    started[-1] = True
                continue
            if p.quoted:
                fields[-1].append((value, True))
                started[-1] = True
                continue
            pieces = [value] if self.nosplit else re.split(r"[ \t\n]+", value)
            for k, piece in enumerate(pieces):
                if k:
                    fields.append([])
                    started.append(False)
                if piece:
                    fields[-1].append((piece, False))
        return [f for f, st in zip(fields, started) if st or any(t for t, _ in f)]

    def substitute(self, script: str) -> str:
        """``$(script)``: run it in a subshell, its output without trailing newlines."""
        io = self.io
        capture = _Sink("pipe")
        sub = _IO(io.stdin, {**io.fds, 1: capture}, io.out)
        child = self.fork()                 # a subshell environment: options, functions too
        child.line_base = self.line         # its "line N" counts from the command's line
        try:
            self.subst_status = child.run_script(script, sub)
        except (_Exit, _Return) as e:
            self.subst_status = e.code
        return bytes(capture.buf).decode(errors="surrogateescape").rstrip("\n")

    def arith(self, expr: str) -> int:
        """``$((expr))``: ash's integer arithmetic (64-bit, C operators and precedence, ``**``,
        ``?:``, assignments, ``++``/``--``; a variable's value is itself evaluated)."""
        parts = _Lexer(expr)._inner_word(True)
        text = "".join("".join(t for t, _ in f) for f in self._expand_parts(parts))
        return _Arith_eval(self).run(text)

    def expand(self, word: _Word, *, glob: bool = True) -> list[str]:
        out: list[str] = []
        for f in self._expand_parts(word.parts):
            text = "".join(t for t, _ in f)
            if glob and any(not q and any(ch in t for ch in "*?[") for t, q in f):
                pattern = "".join(t if not q else _glob_escape(t) for t, q in f)
                matches = self.glob(pattern)
                if matches:
                    out.extend(matches)
                    continue
            out.append(text)
        return out

    def expand_one(self, word: _Word) -> str:
        """A word expanded without field splitting or globbing (assignments, redirection
        targets, the word of ``case``)."""
        saved, self.nosplit = self.nosplit, True
        try:
            return "".join(t for f in self._expand_parts(word.parts) for t, _ in f)
        finally:
            self.nosplit = saved

    def glob(self, pattern: str) -> list[str]:
        absolute = pattern.startswith("/")
        comps = [c for c in pattern.split("/") if c]
        results = [""]
        for k, comp in enumerate(comps):
            last = k == len(comps) - 1
            nxt: list[str] = []
            for base in results:
                base_abs = self.abs(base or ("/" if absolute else "."))
                if base == "" and absolute:
                    base_abs = "/"
                if any(ch in comp for ch in "*?["):
                    try:
                        names = self.mount.listdir(base_abs)
                    except OSError:
                        continue
                    for n in names:
                        if n.startswith(".") and not comp.startswith("."):
                            continue
                        if fnmatch.fnmatchcase(n, comp):
                            cand = _joinrel(base, n, absolute)
                            if last or (self.fstat(cand) or Node("file")).kind == "dir":
                                nxt.append(cand)
                else:
                    lit = _glob_unescape(comp)
                    cand = _joinrel(base, lit, absolute)
                    if last and self.lstat(cand) is None:
                        continue
                    nxt.append(cand)
            results = nxt
        return sorted(results)

    # ---- running
    def run_script(self, script: str, io: _IO) -> int:
        error = None
        self.io = io
        try:
            lists = _parse(script)
        except _SyntaxError as e:
            lists, error = getattr(e, "ready", []), e
        try:
            self.run_list(lists, io)
        except (_Break, _Continue):
            pass
        except _Return as r:              # 'return' outside a function ends the script
            self.status = r.code
            return self.status            # before ash would have read the bad line
        if error is not None:
            io.stderr(f"{self.argv0}: {error}\n")
            self.status = 2
        return self.status

    def run_list(self, items, io: _IO, *, condition: bool = False) -> int:
        status = 0
        for ao in items:
            status, last_ran = self.run_andor(ao, io, condition)
            self.status = status
            if self.errexit and not condition and not self.cond_depth and status != 0 and last_ran:
                raise _Exit(status)
        return status

    def run_andor(self, ao: _AndOr, io: _IO, condition: bool = False) -> tuple[int, bool]:
        """(status, whether ``set -e`` applies: the last command ran, is simple, not negated)."""
        status = self.run_command(ao.first, io, condition or bool(ao.rest))
        last_ran = not ao.rest and not ao.first.negate and isinstance(ao.first, _ERREXIT_KINDS)
        for k, (op, cmd) in enumerate(ao.rest):
            self.status = status
            if (op == "&&" and status == 0) or (op == "||" and status != 0):
                last = k == len(ao.rest) - 1
                status = self.run_command(cmd, io, condition or not last)
                last_ran = last and not cmd.negate and isinstance(cmd, _ERREXIT_KINDS)
            else:
                last_ran = False
        return status, last_ran

    def run_command(self, cmd, io: _IO, condition: bool = False) -> int:
        if getattr(cmd, "negate", False):        # set -e is off inside a '!' pipeline
            try:
                return self._run_negatable(cmd, io, True)
            except _Return as r:            # '! { return 3; }': ash negates it on the way out
                raise _Return(0 if r.code else 1)
        return self._run_negatable(cmd, io, condition)

    def _run_negatable(self, cmd, io: _IO, condition: bool) -> int:
        if not condition:
            return self._run_command(cmd, io, False)
        self.cond_depth += 1             # set -e is off inside, even in functions it calls
        try:
            return self._run_command(cmd, io, True)
        finally:
            self.cond_depth -= 1

    def _run_command(self, cmd, io: _IO, condition: bool) -> int:
        self.io = io
        if isinstance(cmd, _Simple):
            return self.run_simple(cmd, io)
        if isinstance(cmd, (_Pipeline, _Group, _Subshell, _Case, _FuncDef, _Redirected)):
            if isinstance(cmd, _Pipeline):
                status = self.run_pipeline(cmd, io)
            elif isinstance(cmd, _Group):
                status = self.run_list(cmd.body, io, condition=condition)
            elif isinstance(cmd, _Subshell):
                status = self.forked_list(cmd.body, io, condition)
            elif isinstance(cmd, _Case):
                status = self.run_case(cmd, io, condition)
            elif isinstance(cmd, _FuncDef):
                self.functions[cmd.name] = cmd.body
                status = 0
            else:
                status = self.run_redirected(cmd, io, condition)
            if cmd.negate:
                status = 0 if status else 1
            self.status = status
            return status
        if isinstance(cmd, _If):
            status = 0
            for cond, body in cmd.branches:
                if self.run_list(cond, io, condition=True) == 0:
                    status = self.run_list(body, io, condition=condition)
                    break
            else:
                status = self.run_list(cmd.orelse, io, condition=condition) if cmd.orelse else 0
        elif isinstance(cmd, _For):
            items = list(self.args) if cmd.words is None else \
                [w for word in cmd.words for w in self.expand(word)]
            status = 0
            for value in items:
                self.vars[cmd.name] = value
                try:
                    self.loop_depth += 1
                    status = self.run_list(cmd.body, io, condition=condition)
                except _Break as b:
                    if b.levels > 1:
                        raise _Break(b.levels - 1)
                    break
                except _Continue as c:
                    if c.levels > 1:
                        raise _Continue(c.levels - 1)
                finally:
                    self.loop_depth -= 1
        else:
            status = 0
            rounds = 0
            while (self.run_list(cmd.cond, io, condition=True) == 0) != cmd.until:
                rounds += 1
                if rounds > _MAX_LOOP:
                    raise _unsupported(f"a loop that runs more than {_MAX_LOOP} times")
                try:
                    self.loop_depth += 1
                    status = self.run_list(cmd.body, io, condition=condition)
                except _Break as b:
                    if b.levels > 1:
                        raise _Break(b.levels - 1)
                    break
                except _Continue as c:
                    if c.levels > 1:
                        raise _Continue(c.levels - 1)
                finally:
                    self.loop_depth -= 1
        if cmd.negate:
            status = 0 if status else 1
        self.status = status
        return status

    def run_redirected(self, cmd: _Redirected, io: _IO, condition: bool) -> int:
        sub = _IO(io.stdin, dict(io.fds), io.out)
        try:
            for r in cmd.redirs:
                self._redirect(r, sub)
        except _CmdError as e:
            sub.stderr(e.message + "\n")         # where fd 2 points after the earlier ones
            return 1
        return self.run_command(cmd.cmd, sub, condition)

    def run_case(self, cmd: _Case, io: _IO, condition: bool) -> int:
        self.subst_status = None
        word = self.expand_one(cmd.word)
        for pats, body in cmd.items:
            for p in pats:
                pattern = "".join(t if q else t for f in self._expand_parts(p.parts)
                                  for t, q in [(_glob_escape(x) if qq else x, qq) for x, qq in f])
                if fnmatch.fnmatchcase(word, pattern):
                    return self.run_list(body, io, condition=condition) if body else 0
        return 0

    def forked_list(self, body: tuple, io: _IO, condition: bool = False) -> int:
        """``( list )``: the list in a subshell environment."""
        child = self.fork()
        try:
            return child.run_list(body, io, condition=condition)
        except (_Exit, _Return) as e:        # 'return' outside a function ends the subshell
            return e.code
        except (_Break, _Continue):
            return child.status

    def call_function(self, name: str, argv: list[str], io: _IO) -> int:
        """A shell function: positional parameters are its arguments; ``return`` ends it;
        ``local`` names get their old values back when it ends."""
        saved_args = self.args
        self.args = list(argv[1:])
        self.locals.append({})
        self.depth += 1
        if self.depth > 200:
            raise _unsupported("functions nested more than 200 calls deep")
        try:
            status = self.run_command(self.functions[name], io)
        except _Return as r:
            status = r.code
        finally:
            self.depth -= 1
            self.args = saved_args
            for k, v in self.locals.pop().items():
                if v is None:
                    self.vars.pop(k, None)
                else:
                    self.vars[k] = v
        self.status = status
        return status

    def run_pipeline(self, cmd: _Pipeline, io: _IO) -> int:
        """Each element runs to its end in turn (the simulator has no concurrency): its stdout
        becomes the next one's stdin; stderr goes where the pipeline's stderr goes."""
        stdin = io.stdin
        status = failed = 0
        for k, element in enumerate(cmd.cmds):
            last = k == len(cmd.cmds) - 1
            sink = io.fds[1] if last else _Sink("pipe")
            status = self.forked(element, _IO(stdin, {**io.fds, 1: sink}, io.out))
            failed = status or failed
            if not last:
                stdin = _Input(bytes(sink.buf))
        return failed if self.pipefail else status

    def fork(self) -> "_Shell":
        """A subshell environment: a copy whose variables, cwd and options do not leak back."""
        if self.depth > 40:
            raise _unsupported("subshells nested more than 40 levels deep")
        child = _Shell.__new__(_Shell)
        child.__dict__.update(self.__dict__)
        child.vars = dict(self.vars)
        child.args = list(self.args)
        child.functions = dict(self.functions)
        child.locals = [dict(f) for f in self.locals]
        child.depth = self.depth + 1
        return child

    def forked(self, cmd, io: _IO) -> int:
        """Run one command in a subshell environment; its exit status."""
        child = self.fork()
        try:
            return child.run_command(cmd, io)
        except (_Exit, _Return) as e:
            return e.code
        except (_Break, _Continue):
            return 0

    def run_simple(self, cmd: _Simple, io: _IO) -> int:
        self.line = self.line_base + cmd.line
        self.io = io
        self.subst_status = None
        argv: list[str] = []
        try:
            for w in cmd.words:
                argv.extend(self.expand(w))
            values = {name: self.expand_one(w) for name, w in cmd.assigns}
        except _CmdError as e:
            io.stderr(e.message + "\n")
            self.status = e.code
            if isinstance(e, _Fatal):          # an expansion error ends a non-interactive shell
                raise _Exit(e.code)
            return e.code
        if self.xtrace and (argv or values):   # set -x: before the command's own redirections
            shown = [f"{n}={_xtrace_quote(v)}" for n, v in values.items()]
            io.stderr(self.vars.get("PS4", "+ ") + " ".join(shown + [_xtrace_quote(a) for a in argv])
                      + "\n")
        sub = _IO(io.stdin, dict(io.fds), io.out)
        try:
            for r in cmd.redirs:
                self._redirect(r, sub)
        except _CmdError as e:
            sub.stderr(e.message + "\n")
            return 1
        if not argv:
            self.vars.update(values)
            status = self.subst_status if self.subst_status is not None else 0
        else:
            saved = {k: self.vars.get(k) for k in values}
            self.vars.update(values)
            try:
                status = self.execute(argv, sub)
            finally:
                for k, v in saved.items():
                    if v is None:
                        self.vars.pop(k, None)
                    else:
                        self.vars[k] = v
        if cmd.negate:
            status = 0 if status else 1
        self.status = status
        return status

    def _redirect(self, r: _Redir, io: _IO) -> None:
        if r.op == "<<":
            text = "".join(t for f in self._expand_parts(r.target.parts) for t, _ in f)
            if r.fd != 0:
                raise _unsupported(f"a here-document on file descriptor {r.fd}")
            io.stdin = _Input(text.encode(errors="surrogateescape"))
            return
        target = self.expand_one(r.target)
        if r.op == ">&":
            if target == "-":
                io.fds[r.fd] = _Sink("null")
                return
            if not target.isdigit() or int(target) not in io.fds:
                raise _CmdError(f"{self.argv0}: {target}: bad file descriptor", 2)
            io.fds[r.fd] = io.fds[int(target)]
            return
        if target in ("/dev/null",):
            if r.op == "<":
                io.stdin = _Input()
            else:
                io.fds[r.fd] = _Sink("null")
            return
        if target in ("/dev/stdout", "/dev/stderr") and r.op != "<":
            io.fds[r.fd] = io.fds[1 if target == "/dev/stdout" else 2]
            return
        path = self.abs(target)
        if r.op == "<":
            try:
                io.stdin = _Input(_read_special(self, path, None))
            except OSError as e:
                raise _CmdError(f"{self.argv0}: can't open {target}: {_ash_err(e, 'no such file')}")
            return
        try:  # opening for write creates/truncates now (and copies a lower file up)
            self.mount.write(path, b"", append=(r.op == ">>"))
        except OSError as e:
            raise _CmdError(f"{self.argv0}: can't create {target}: "
                            f"{_ash_err(e, 'nonexistent directory')}")
        io.fds[r.fd] = _Sink("file", path, self.mount, append=r.op == ">>")

    def execute(self, argv: list[str], io: _IO) -> int:
        name = argv[0]
        if name in self.functions and name not in _SPECIAL_BUILTINS:
            return self.call_function(name, argv, io)
        if name in _BUILTINS:
            return self._call(_BUILTINS[name], name, argv, io)
        if "/" in name:
            node = self.fstat(name)
            if node is None:
                io.stderr(f"{self.argv0}: {name}: not found\n")
                return 127
            if node.kind == "dir":
                io.stderr(f"{self.argv0}: {name}: Permission denied\n")
                return 126
            real = self.realpath(name)
            if posixpath.basename(real) == "busybox":
                self.busybox_exe = real
                return self.applet(posixpath.basename(name), argv, io)
            return self._script(name, argv, io)
        if name in _APPLETS:
            # BusyBox ash prefers its own applets (FEATURE_SH_STANDALONE), found or not.
            return self.applet(name, argv, io)
        for d in self.vars.get("PATH", "").split(":"):
            cand = posixpath.join(d or ".", name)
            node = self.fstat(cand)
            if node is not None and node.kind == "file":
                real = self.realpath(cand)
                if posixpath.basename(real) == "busybox":
                    self.busybox_exe = real
                    return self.applet(name, argv, io)
                return self._script(cand, argv, io)
        if name in self.applet_names():
            raise _unsupported(f"the command {name!r}")
        io.stderr(f"{self.argv0}: {name}: not found\n")
        return 127

    def exe(self) -> str | None:
        """Where BusyBox lives in the mount (as /proc/self/exe would name it)."""
        if self.busybox_exe is None and self.fstat("/bin/busybox") is not None:
            self.busybox_exe = self.realpath("/bin/busybox")
        return self.busybox_exe

    def applet_names(self) -> list[str]:
        if self._applet_names is None:
            exe = self.exe()
            try:
                self._applet_names = busybox_applets(self.mount.read(exe)) if exe else []
            except OSError:
                self._applet_names = []
        return self._applet_names

    def _script(self, path: str, argv: list[str], io: _IO) -> int:
        try:
            data = self.mount.read(self.abs(path))
        except OSError as e:
            io.stderr(f"{self.argv0}: {path}: {_oserr(e)}\n")
            return 126
        first = data.split(b"\n", 1)[0]
        if first.startswith(b"#!") and first[2:].strip().split(b" ")[0].endswith(b"sh"):
            node = self.fstat(path)
            if node is not None and not node.mode & 0o111:
                io.stderr(f"{self.argv0}: {path}: Permission denied\n")
                return 126
            return self.subshell(data.decode(errors="surrogateescape"), io, path, argv[1:])
        raise _unsupported(f"running the program {argv[0]!r} (only BusyBox applets and "
                           "#!/bin/sh scripts run on the simulator)")

    def applet(self, name: str, argv: list[str], io: _IO) -> int:
        if name == "busybox":
            return self._call(_cmd_busybox, name, argv, io)
        if name in ("sh", "ash"):                  # a shell keeps $0 as it was invoked
            try:
                return _cmd_sh(self, list(argv), io)
            except _CmdError as e:
                io.stderr(e.message + "\n")
                return e.code
        fn = _APPLETS.get(name) or _BUILTINS.get(name)
        if fn is None:
            raise _unsupported(f"the command {name!r}")
        return self._call(fn, name, argv, io)

    def _call(self, fn: Callable, name: str, argv: list[str], io: _IO) -> int:
        try:
            return fn(self, [name] + argv[1:], io)
        except _CmdError as e:
            io.stderr(e.message + "\n")
            return e.code
        except _Usage as e:
            io.stderr((e.first + "\n" if e.first else "") + _usage_text(self, name))
            return e.code

    def run_program(self, argv: list[str], io: _IO, *, who: str, missing: str = "") -> int:
        """Run a program as ``xargs``/``find -exec``/``env`` do (exec, so no shell builtins);
        a missing one is ``WHO: NAME: No such file or directory`` and status 127."""
        name = argv[0]
        if "/" in name:
            found = self.fstat(name) is not None
        else:
            found = name in _APPLETS or any(
                (self.fstat(posixpath.join(d or ".", name)) or Node("dir")).kind == "file"
                for d in self.vars.get("PATH", "").split(":"))
        if not found:
            why = os.strerror(_errno.ENOENT)
            io.stderr((missing.format(name, why) if missing else f"{who}: {name}: {why}") + "\n")
            return 127
        child = self.fork()
        try:
            return child.execute(list(argv), io)
        except _Exit as e:
            return e.code

    def subshell(self, script: str, io: _IO, argv0: str, args: Sequence[str],
                 options: Mapping[str, bool] | None = None) -> int:
        """A new shell process (``sh -c``, a script): variables are inherited, options are
        its own (``options``: errexit, nounset, xtrace, pipefail)."""
        if self.depth > 20:
            raise _unsupported("nesting 'sh -c' more than 20 levels deep")
        child = _Shell(self.mount, self.vars, self.cwd, self.now, argv0, args)
        child.depth = self.depth + 1
        for name, value in (options or {}).items():
            setattr(child, name, value)
        try:
            return child.run_script(script, io)
        except _Exit as e:
            return e.code


def _trim(value: str, op: str, pattern: str) -> str:
    """``${V#p}`` ``${V##p}`` (shortest/longest prefix) and ``${V%p}`` ``${V%%p}`` (suffix)."""
    n = len(value)
    if op == "#":
        cuts = [k for k in range(n + 1) if fnmatch.fnmatchcase(value[:k], pattern)]
        return value[cuts[0]:] if cuts else value
    if op == "##":
        cuts = [k for k in range(n, -1, -1) if fnmatch.fnmatchcase(value[:k], pattern)]
        return value[cuts[0]:] if cuts else value
    if op == "%":
        cuts = [k for k in range(n, -1, -1) if fnmatch.fnmatchcase(value[k:], pattern)]
        return value[:cuts[0]] if cuts else value
    cuts = [k for k in range(n + 1) if fnmatch.fnmatchcase(value[k:], pattern)]
    return value[:cuts[0]] if cuts else value


def _glob_escape(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def _glob_unescape(comp: str) -> str:
    return re.sub(r"\[([*?\[])\]", r"\1", comp)


def _joinrel(base: str, name: str, absolute: bool) -> str:
    if base:
        return base.rstrip("/") + "/" + name
    return ("/" if absolute else "") + name


# --------------------------------------------------------------------------- commands

def _opts(argv: list[str], letters: str, *, with_value: str = "") -> tuple[set[str], dict[str, str], list[str]]:
    """Parse short options like getopt: ``-rf`` == ``-r -f``; stops at ``--`` or a non-option."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        k = 1
        while k < len(a):
            ch = a[k]
            if ch in with_value:
                val = a[k + 1:] or (args[i + 1] if i + 1 < len(args) else "")
                if not a[k + 1:]:
                    i += 1
                values[ch] = val
                break
            if ch not in letters:
                raise _CmdError(f"{argv[0]}: invalid option -- '{ch}'", 1)
            flags.add(ch)
            k += 1
        i += 1
    return flags, values, args[i:]


def _cmd_true(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 0


def _cmd_false(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 1


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


def _cmd_cat(sh: _Shell, argv: list[str], io: _IO) -> int:
    _, _, files = _opts(argv, "uvetn")
    status = 0
    for f in files or ["-"]:
        if f == "-":
            io.stdout(io.stdin.take())
            continue
        try:
            io.stdout(_read_special(sh, f, None))
        except OSError as e:            # open() of a directory works; read() fails
            io.stderr(f"cat: read error: {_oserr(e)}\n" if e.errno == _errno.EISDIR
                      else f"cat: can't open '{f}': {_oserr(e)}\n")
            status = 1
    return status


def _read_special(sh: _Shell, path: str, size: int | None) -> bytes:
    if path == "/dev/null":
        return b""
    if path == "/dev/zero":
        if size is None:
            raise _unsupported("reading /dev/zero without a count")
        return bytes(size)
    if path == "/dev/urandom":
        if size is None:
            raise _unsupported("reading /dev/urandom without a count")
        return _urandom(size, "")
    node = sh.mount.stat(sh.abs(path), follow=True)
    if node.kind == "dir":
        raise OSError(_errno.EISDIR, os.strerror(_errno.EISDIR), path)
    data = sh.mount.read(sh.abs(path))
    return data if size is None else data[:size]


def _urandom(size: int, seed: str) -> bytes:
    """Deterministic stand-in for /dev/urandom (documented in the module docstring)."""
    key = ("labkit-urandom:" + seed).encode(errors="surrogateescape")
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(key + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def _cmd_mkdir(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, values, names = _opts(argv, "pv", with_value="m")
    if not names:
        raise _CmdError("mkdir: missing operand", 1)
    mode = 0o777 & ~UMASK
    if "m" in values:
        mode = _parse_mode(values["m"], 0o777, is_dir=True, umask=0) if values["m"] else mode
    status = 0
    for name in names:
        path = sh.abs(name)
        try:
            if "p" in flags:
                comps = [c for c in path.split("/") if c]
                for k in range(1, len(comps) + 1):
                    sub = "/" + "/".join(comps[:k])
                    node = sh.fstat(sub)
                    if node is not None and node.kind == "dir":
                        continue
                    sh.mount.mkdir(sub, mode if k == len(comps) else 0o777 & ~UMASK)
            else:
                sh.mount.mkdir(path, mode)
        except OSError as e:
            io.stderr(f"mkdir: can't create directory '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_rmdir(sh: _Shell, argv: list[str], io: _IO) -> int:
    _, _, names = _opts(argv, "p")
    status = 0
    for name in names:
        try:
            sh.mount.rmdir(sh.abs(name))
        except OSError as e:
            io.stderr(f"rmdir: '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_touch(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "cham")
    if not names:
        raise _CmdError("touch: missing operand", 1)
    status = 0
    for name in names:
        path = sh.abs(name)
        try:
            if sh.fstat(name) is not None:
                sh.mount.utime(path, sh.now, current=True)   # copies a lower file up
            elif "c" not in flags:
                sh.mount.write(path, b"")
        except OSError as e:
            io.stderr(f"touch: {name}: {_oserr(e)}\n")
            status = 1
    return status


def _remove(sh: _Shell, path: str, recursive: bool) -> None:
    node = sh.mount.stat(path, follow=False)
    if node.kind == "dir":
        for child in sh.mount.listdir(path):
            _remove(sh, posixpath.join(path, child), recursive)
        sh.mount.rmdir(path)
    else:
        sh.mount.unlink(path)


def _cmd_rm(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "rRfiv")
    recursive, force = bool(flags & {"r", "R"}), "f" in flags
    if not names and not force:
        raise _CmdError("rm: missing operand", 1)
    status = 0
    for name in names:
        if posixpath.basename(name.rstrip("/")) in (".", ".."):
            io.stderr(f"rm: refusing to remove '.' or '..' directory: skipping '{name}'\n")
            status = 1
            continue
        path = sh.abs(name)
        node = sh.lstat(name)
        if node is None:
            if not force:
                io.stderr(f"rm: can't remove '{name}': No such file or directory\n")
                status = 1
            continue
        if node.kind == "dir" and not recursive:
            io.stderr(f"rm: '{name}' is a directory\n")
            status = 1
            continue
        try:
            _remove(sh, path, recursive)
        except OSError as e:
            io.stderr(f"rm: can't remove '{name}': {_oserr(e)}\n")
            status = 1
    return status


def _identity(sh: _Shell, path: str, node: Node) -> tuple | None:
    """(layer, inode) of a hard-linked file, like (st_dev, st_ino) for BusyBox's link table."""
    if node.inode is None or node.kind != "file":
        return None
    origin = getattr(sh.mount, "origin", None)
    try:
        return (origin(path) if origin else None, node.inode)
    except OSError:
        return None


def _concat(path: str, name: str) -> str:
    """BusyBox concat_path_file: no doubled slash."""
    return (path if path.endswith("/") else path + "/") + name.lstrip("/") if path else name


@dataclass
class _CopyState:
    """What one cp/mv invocation remembers, like BusyBox's ino/dev hash table."""

    prog: str
    links: dict = field(default_factory=dict)       # hard-link identity -> first copy
    dirs: set = field(default_factory=set)          # every destination directory used


def _copy(sh: _Shell, src: str, dst: str, io: _IO, state: _CopyState, *, recursive: bool,
          preserve: bool, deref: bool, force: bool = False, top: bool = True) -> int:
    """BusyBox copy_file(): ``src``/``dst`` as the user wrote them (messages show them);
    returns 0, or 1 after printing what failed (a directory copy goes on past failures).
    Without dereferencing, files hard-linked in the source are hard-linked in the copy
    (FEATURE_PRESERVE_HARDLINKS), as ``cp -a``/``cp -r`` and ``mv`` across devices do."""
    prog = state.prog

    def err(msg: str) -> int:
        io.stderr(f"{prog}: {msg}\n")
        return 1

    asrc, adst = sh.abs(src), sh.abs(dst)
    try:
        node = sh.mount.stat(asrc, follow=deref or (top and not recursive))
    except OSError as e:
        return err(f"can't stat '{src}': {_oserr(e)}")
    try:
        dnode: Node | None = sh.mount.stat(adst, follow=False)
    except OSError as e:
        if e.errno != _errno.ENOENT:
            return err(f"can't stat '{dst}': {_oserr(e)}")
        dnode = None
    if dnode is not None:
        follow = deref or (top and not recursive)
        a = sh.realpath(asrc) if follow else posixpath.join(sh.realpath(posixpath.dirname(asrc)),
                                                             posixpath.basename(asrc))
        b = posixpath.join(sh.realpath(posixpath.dirname(adst)), posixpath.basename(adst))
        if a == b:
            return err(f"'{src}' and '{dst}' are the same file")
    if node.kind == "dir":
        if not recursive:
            return err(f"omitting directory '{src}'")
        if sh.realpath(asrc) in state.dirs:
            return err(f"recursion detected, omitting directory '{src}'")
        if dnode is not None and dnode.kind != "dir":
            return err(f"target '{dst}' is not a directory")
        if dnode is None:
            mode = node.mode if preserve else node.mode & ~UMASK
            try:
                sh.mount.mkdir(adst, (mode | 0o700) & 0o7777)
            except OSError as e:
                return err(f"can't create directory '{dst}': {_oserr(e)}")
        state.dirs.add(sh.realpath(adst))
        status = 0
        for child in sh.mount.listdir(asrc):
            status |= _copy(sh, _concat(src, child), _concat(dst, child), io, state,
                            recursive=True, preserve=preserve, deref=deref, force=force, top=False)
        if dnode is None or preserve:
            sh.mount.chmod(adst, node.mode if preserve else node.mode & ~UMASK)
    elif node.kind == "file":
        ident = None if deref else _identity(sh, asrc, node)
        if ident is not None and ident in state.links:
            try:
                if dnode is not None:
                    sh.mount.unlink(adst)
                sh.mount.link(state.links[ident], adst)
            except OSError as e:
                return err(f"can't create link '{dst}': {_oserr(e)}")
            return 0
        if ident is not None:
            state.links[ident] = adst
        data = sh.mount.read(asrc)
        existed = sh.fstat(dst) is not None
        try:                                          # an existing file is truncated in place
            sh.mount.write(adst, data)
        except OSError as e:
            if not (force and dnode is not None and dnode.kind != "dir"):
                return err(f"can't create '{dst}': {_oserr(e)}")
            try:                                      # cp -f: unlink and create anew
                sh.mount.unlink(adst)
                sh.mount.write(adst, data)
                existed = False
            except OSError as e2:
                return err(f"can't create '{dst}': {_oserr(e2)}")
        if not existed or preserve:
            sh.mount.chmod(adst, node.mode if preserve else node.mode & ~UMASK & 0o777)
        status = 0
    elif node.kind == "symlink":
        if dnode is not None:
            if not force:
                return err(f"can't create '{dst}': File exists")
            try:
                if dnode.kind == "dir":
                    sh.mount.rmdir(adst)
                else:
                    sh.mount.unlink(adst)
            except OSError as e:
                return err(f"can't create '{dst}': {_oserr(e)}")
        try:
            sh.mount.symlink(node.linkname, adst)
        except OSError as e:
            return err(f"can't create symlink '{dst}' to '{node.linkname}': {_oserr(e)}")
        if preserve:
            sh.mount.chown(adst, node.uid, node.gid, follow=False)
        return 0
    else:
        raise _unsupported(f"copying the special file {src!r} ({node.kind})")
    if preserve:
        sh.mount.chown(adst, node.uid, node.gid)   # chown first: it clears set-id bits
        sh.mount.chmod(adst, node.mode)
        sh.mount.utime(adst, node.mtime)
    return status


def _cmd_cp(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "rRapdPLHfinvu")
    if "a" in flags:
        flags |= {"R", "p", "d"}
    recursive = bool(flags & {"r", "R"})
    preserve = "p" in flags
    deref = not (flags & {"d", "P"})
    if recursive and not flags & {"L", "H"}:
        deref = False          # -R copies symlinks inside the tree as symlinks
    if len(names) < 2:
        raise _CmdError("cp: missing destination file operand" if names else "cp: missing file operand")
    *srcs, dest = names
    into = True                            # BusyBox cp.c: when is the last operand a directory?
    if len(srcs) == 1:
        snode = sh.fstat(srcs[0]) if deref and not recursive else sh.lstat(srcs[0])
        dnode = sh.fstat(dest)
        s_dir = snode is not None and snode.kind == "dir"
        d_dir = dnode is not None and dnode.kind == "dir"
        if not (s_dir or d_dir) or (recursive and s_dir and dnode is None):
            into = False
    status = 0
    state = _CopyState("cp")
    for s in srcs:
        target = _concat(dest, _last_component(s)) if into else dest
        status |= _copy(sh, s, target, io, state, recursive=recursive, preserve=preserve,
                        deref=deref, force="f" in flags)
    return status


def _last_component(path: str) -> str:
    """bb_get_last_path_component_strip: ``a/b/`` -> ``b``, ``/`` -> ``/``."""
    stripped = path.rstrip("/")
    return posixpath.basename(stripped) if stripped else "/"


def _cmd_mv(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "finvT")
    if len(names) < 2:
        raise _CmdError("mv: missing destination file operand" if names else "mv: missing file operand")
    *srcs, dest = names
    dnode = sh.fstat(dest)
    into = len(srcs) > 1 or (dnode is not None and dnode.kind == "dir" and "T" not in flags)
    status = 0
    state = _CopyState("mv")
    for s in srcs:
        src = sh.abs(s)
        dst = posixpath.join(sh.abs(dest), posixpath.basename(s.rstrip("/"))) if into else sh.abs(dest)
        try:
            sh.mount.rename(src, dst)
            continue
        except OSError as e:
            if e.errno != _errno.EXDEV:
                io.stderr(f"mv: can't rename '{s}': {_oserr(e)}\n")
                status = 1
                continue
        # EXDEV: a directory from a lower layer (overlayfs without redirect_dir) -> copy + delete
        snode = sh.lstat(s)
        dn = sh.lstat(dst)
        if dn is not None:
            if (dn.kind == "dir") != (snode is not None and snode.kind == "dir"):
                io.stderr("mv: can't overwrite %sdirectory with %sdirectory\n"
                          % (("", "non-") if dn.kind == "dir" else ("non-", "")))
                status = 1
                continue
            try:
                sh.mount.unlink(dst)           # BusyBox unlink()s even a directory (and fails)
            except OSError as e:
                io.stderr(f"mv: can't remove '{dst}': {_oserr(e)}\n")
                status = 1
                continue
        shown_dst = _concat(dest, _last_component(s)) if into else dest
        if _copy(sh, s, shown_dst, io, state, recursive=True, preserve=True, deref=False):
            status = 1
            continue
        try:
            _remove(sh, src, True)
        except OSError as e:
            io.stderr(f"mv: can't remove '{s}': {_oserr(e)}\n")
            status = 1
    return status


def _cmd_ln(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "sfnbvT")
    if not names:
        raise _CmdError("ln: missing file operand")
    if len(names) == 1:
        names = [names[0], posixpath.basename(names[0].rstrip("/")) or names[0]]
    *targets, dest = names
    dnode = sh.lstat(dest) if "n" in flags else sh.fstat(dest)
    into = dnode is not None and dnode.kind == "dir"
    if len(targets) > 1 and not into:
        raise _CmdError(f"ln: '{dest}' is not a directory")
    status = 0
    for t in targets:
        link = posixpath.join(dest, posixpath.basename(t.rstrip("/"))) if into else dest
        path = sh.abs(link)
        if "s" not in flags and sh.lstat(t) is None:
            io.stderr(f"ln: {t}: No such file or directory\n")
            status = 1
            continue
        existing = sh.lstat(link)
        if existing is not None:
            if "f" not in flags:
                io.stderr(f"ln: {link}: File exists\n")
                status = 1
                continue
            try:
                if existing.kind == "dir":
                    raise OSError(_errno.EISDIR, os.strerror(_errno.EISDIR), link)
                sh.mount.unlink(path)
            except OSError as e:
                io.stderr(f"ln: {link}: {_oserr(e)}\n")
                status = 1
                continue
        try:
            if "s" in flags:
                sh.mount.symlink(t, path)
            else:
                sh.mount.link(sh.abs(t), path)
        except OSError as e:
            io.stderr(f"ln: {link}: {_oserr(e)}\n")
            status = 1
    return status


_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o0007, "a": 0o6777}


def _parse_mode(spec: str, current: int, *, is_dir: bool, umask: int = 0) -> int:
    """chmod's MODE: octal, or comma-separated ``[ugoa]*[+-=][rwxXst]*`` clauses."""
    if re.fullmatch(r"[0-7]{1,4}", spec):
        return int(spec, 8)
    mode = current & 0o7777
    for clause in spec.split(","):
        m = re.fullmatch(r"([ugoa]*)((?:[-+=][rwxXstugo]*)+)", clause)
        if not m:
            raise ValueError(spec)
        who = m.group(1)
        mask = 0
        for w in who or "a":
            mask |= _WHO[w]
        for op, perms in re.findall(r"([-+=])([rwxXstugo]*)", m.group(2)):
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x":
                    bits |= 0o111
                elif p == "X":
                    if is_dir or mode & 0o111:
                        bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
                elif p in "ugo":
                    shift = {"u": 6, "g": 3, "o": 0}[p]
                    v = (mode >> shift) & 7
                    bits |= v << 6 | v << 3 | v
            bits &= mask
            if not who:
                bits &= ~umask
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~(mask & 0o7777)) | bits
    return mode


def _walk(sh: _Shell, path: str) -> list[str]:
    out = [path]
    node = sh.mount.stat(path, follow=False)
    if node.kind == "dir":
        for child in sh.mount.listdir(path):
            out.extend(_walk(sh, posixpath.join(path, child)))
    return out


def _cmd_chmod(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    recursive = False
    while args and args[0].startswith("-") and re.fullmatch(r"-[Rvcf]+", args[0]):
        recursive = recursive or "R" in args[0]
        args = args[1:]
    if len(args) < 2:
        raise _CmdError("chmod: missing operand")
    spec, names = args[0], args[1:]
    status = 0
    for name in names:
        try:
            paths = _walk(sh, sh.abs(name)) if recursive else [sh.abs(name)]
            for k, p in enumerate(paths):
                node = sh.mount.stat(p, follow=(k == 0))
                if node.kind == "symlink":
                    continue
                try:
                    mode = _parse_mode(spec, node.mode, is_dir=node.kind == "dir")
                except ValueError:
                    raise _CmdError(f"chmod: invalid mode '{spec}'")
                sh.mount.chmod(p, mode)
        except OSError as e:
            io.stderr(f"chmod: {name}: {_oserr(e)}\n")
            status = 1
    return status


def _lookup(sh: _Shell, db: str, name: str) -> tuple[int, int] | None:
    """(id, primary gid) of a name in the mount's /etc/passwd or /etc/group."""
    for f in account_rows(sh.mount, db):
        if f[0] == name and f[2].isdigit():
            gid = int(f[3]) if db == "passwd" and len(f) > 3 and f[3].isdigit() else int(f[2])
            return int(f[2]), gid
    return None


def _cmd_chown(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    recursive = False
    while args and re.fullmatch(r"-[RhvcfLHP]+", args[0]):
        recursive = recursive or "R" in args[0]
        args = args[1:]
    if len(args) < 2:
        raise _CmdError("chown: missing operand")
    spec, names = args[0], args[1:]
    user, sep, group = spec.replace(".", ":", 1).partition(":") if ":" not in spec and "." in spec \
        else spec.partition(":")
    uid = gid = None
    if user:
        if user.isdigit():
            uid = int(user)
        else:
            found = _lookup(sh, "passwd", user)
            if found is None:
                raise _CmdError(f"chown: unknown user {user}")
            uid = found[0]
            if sep and not group:
                gid = found[1]
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            found = _lookup(sh, "group", group)
            if found is None:
                raise _CmdError(f"chown: unknown group {group}")
            gid = found[0]
    status = 0
    for name in names:
        try:
            paths = _walk(sh, sh.abs(name)) if recursive else [sh.abs(name)]
            for k, p in enumerate(paths):
                node = sh.mount.stat(p, follow=(k == 0))
                sh.mount.chown(p, node.uid if uid is None else uid, node.gid if gid is None else gid,
                               follow=node.kind != "symlink")   # -R uses lchown inside the tree
        except OSError as e:
            io.stderr(f"chown: {name}: {_oserr(e)}\n")
            status = 1
    return status


_DD_SUFFIX = {"c": 1, "w": 2, "b": 512, "kB": 1000, "k": 1024, "K": 1024, "MB": 1000 ** 2,
              "M": 1024 ** 2, "GB": 1000 ** 3, "G": 1024 ** 3}


def _dd_number(text: str) -> int:
    m = re.fullmatch(r"(\d+)([a-zA-Z]*)", text)
    if not m or (m.group(2) and m.group(2) not in _DD_SUFFIX):
        raise _CmdError(f"dd: invalid number '{text}'")
    return int(m.group(1)) * (_DD_SUFFIX[m.group(2)] if m.group(2) else 1)


def _cmd_dd(sh: _Shell, argv: list[str], io: _IO) -> int:
    ops: dict[str, str] = {}
    for a in argv[1:]:
        key, eq, value = a.partition("=")
        if not eq or key not in ("if", "of", "bs", "count", "status"):
            raise _unsupported(f"the dd operand {a!r} (supported: if= of= bs= count= status=)")
        ops[key] = value
    bs = _dd_number(ops.get("bs", "512"))
    count = _dd_number(ops["count"]) if "count" in ops else None
    if bs == 0:
        raise _CmdError("dd: invalid number '0'")
    src = ops.get("if")
    want = None if count is None else bs * count
    if src is None:
        data = io.stdin.take() if want is None else io.stdin.take()[:want]
    elif src == "/dev/urandom":
        if want is None:
            raise _unsupported("dd from /dev/urandom without count=")
        data = _urandom(want, sh.abs(ops.get("of", "-")) if "of" in ops else "-")
    else:
        try:
            data = _read_special(sh, src, want)
        except OSError as e:
            raise _CmdError(f"dd: can't open '{src}': {_oserr(e)}")
    full, part = divmod(len(data), bs)
    dest = ops.get("of")
    if dest is None:
        io.stdout(data)
    elif dest != "/dev/null":
        try:
            sh.mount.write(sh.abs(dest), data)
        except OSError as e:
            raise _CmdError(f"dd: can't open '{dest}': {_oserr(e)}")
    if ops.get("status") != "none":
        rec = f"{full}+{1 if part else 0}"
        io.stderr(f"{rec} records in\n{rec} records out\n")
    return 0


def _test(sh: _Shell, args: list[str]) -> bool:
    if not args:
        return False
    if args[0] == "!":
        return not _test(sh, args[1:])
    if len(args) == 1:
        return args[0] != ""
    if len(args) == 2:
        op, x = args
        if op == "-z":
            return x == ""
        if op == "-n":
            return x != ""
        if op in ("-e", "-f", "-d", "-s", "-x", "-r", "-w"):
            node = sh.fstat(x) if x else None
            if node is None:
                return False
            return {"-e": True, "-f": node.kind == "file", "-d": node.kind == "dir",
                    "-s": node.size > 0 if node.kind == "file" else True,
                    "-x": bool(node.mode & 0o111), "-r": True, "-w": True}[op]
        if op in ("-h", "-L"):
            node = sh.lstat(x) if x else None
            return node is not None and node.kind == "symlink"
        raise _CmdError(f"test: {op}: unknown operand", 2)
    if len(args) == 3:
        a, op, b = args
        if op in ("=", "=="):
            return a == b
        if op == "!=":
            return a != b
        ints = {"-eq": int.__eq__, "-ne": int.__ne__, "-lt": int.__lt__, "-le": int.__le__,
                "-gt": int.__gt__, "-ge": int.__ge__}
        if op in ints:
            try:
                return ints[op](int(a), int(b))
            except ValueError:
                raise _CmdError(f"test: bad number", 2)
    raise _unsupported(f"the test expression {' '.join(args)!r}")


def _cmd_test(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    if argv[0] == "[":
        if not args or args[-1] != "]":
            raise _CmdError("sh: missing ]", 2)        # ash names its applet here, not $0
        args = args[:-1]
    return 0 if _test(sh, args) else 1


def _cmd_cd(sh: _Shell, argv: list[str], io: _IO) -> int:
    target = argv[1] if len(argv) > 1 else sh.vars.get("HOME", "/")
    node = sh.fstat(target)
    if node is None or node.kind != "dir":
        why = "No such file or directory" if node is None else "Not a directory"
        raise _CmdError(f"{sh.argv0}: cd: line {sh.line}: can't cd to {target}: {why}", 2)
    sh.cwd = sh.abs(target)
    sh.vars["PWD"] = sh.cwd
    return 0


def _cmd_pwd(sh: _Shell, argv: list[str], io: _IO) -> int:
    io.stdout(sh.cwd + "\n")
    return 0


def _cmd_export(sh: _Shell, argv: list[str], io: _IO) -> int:
    for a in argv[1:]:
        if a.startswith("-"):
            continue
        name, eq, value = a.partition("=")
        if not _NAME_RE.fullmatch(name):
            raise _CmdError(f"{sh.argv0}: export: line {sh.line}: {name}: bad variable name", 2)
        if eq:
            sh.vars[name] = value
        else:
            sh.vars.setdefault(name, "")
    return 0


def _cmd_unset(sh: _Shell, argv: list[str], io: _IO) -> int:
    for a in argv[1:]:
        if not a.startswith("-"):
            sh.vars.pop(a, None)
    return 0


_SET_LETTERS = {"e": "errexit", "u": "nounset", "x": "xtrace"}
_SET_NAMES = {"errexit", "nounset", "xtrace", "pipefail"}
_ASH_OPTIONS = {"noglob", "ignoreeof", "monitor", "noexec", "verbose", "noclobber", "allexport",
                "notify", "errtrace", "vi"}


def _set_options(sh: _Shell, args: list[str], who: str) -> list[str]:
    """Apply ``-e +x -o pipefail``-style options; returns the arguments after them. An
    illegal option is ash's error (it ends the shell); a real one not modelled raises."""
    k = 0
    while k < len(args):
        a = args[k]
        if a == "--":
            return args[k + 1:]
        if len(a) < 2 or a[0] not in "-+":
            return args[k:]
        on = a[0] == "-"
        k += 1
        for ch in a[1:]:
            if ch == "o":
                if k >= len(args):
                    raise _unsupported(f"'{who} {a}' without an option name (printing the options)")
                name = args[k]
                k += 1
                if name in _SET_NAMES:
                    setattr(sh, name, on)
                elif name in _ASH_OPTIONS:
                    raise _unsupported(f"the shell option {name!r}")
                else:                         # not fatal, unlike a bad letter
                    raise _CmdError(f"{sh.argv0}: set: line {sh.line}: illegal option -o {name}")
            elif ch in _SET_LETTERS:
                setattr(sh, _SET_LETTERS[ch], on)
            elif ch in "fCavnbm":
                raise _unsupported(f"the shell option -{ch}")
            else:
                raise _Fatal(f"{sh.argv0}: set: line {sh.line}: illegal option {a[0]}{ch}", 2)
    return []


def _cmd_set(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) == 1:
        raise _unsupported("'set' without arguments (printing every variable)")
    try:
        rest = _set_options(sh, argv[1:], "set")
    except _Fatal as e:
        io.stderr(e.message + "\n")
        raise _Exit(e.code)
    except _CmdError as e:
        io.stderr(e.message + "\n")
        return e.code
    if rest or "--" in argv[1:]:
        sh.args = list(rest)               # set -- a b: new positional parameters
    return 0


def _cmd_exit(sh: _Shell, argv: list[str], io: _IO) -> int:
    code = sh.status
    if len(argv) > 1:
        if not argv[1].lstrip("-").isdigit():
            raise _CmdError(f"{sh.argv0}: exit: line {sh.line}: Illegal number: {argv[1]}", 2)
        code = int(argv[1]) & 0xFF
    raise _Exit(code)


def _cmd_sleep(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 0


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


def _path_lookup(sh: _Shell, name: str, *, every: bool = False) -> str | None:
    """The first executable file called ``name`` on PATH (``which``'s answer); with
    ``every``, all of them, one per line."""
    found = []
    for d in sh.vars.get("PATH", "").split(":"):
        cand = posixpath.join(d or ".", name)
        node = sh.fstat(cand)
        if node is not None and node.kind == "file" and node.mode & 0o111:
            if not every:
                return cand
            found.append(cand)
    return "\n".join(found) or None


def _cmd_command(sh: _Shell, argv: list[str], io: _IO) -> int:
    """``command -v NAME``: how ash would run NAME (its own name for keywords, functions,
    builtins and applets, else the path); ``command CMD ARGS``: run it, skipping functions."""
    args = argv[1:]
    if args and args[0] == "-v":
        if len(args) < 2:
            return 0
        name = args[1]
        if (name in _KEYWORDS or name in sh.functions or name in _BUILTINS or name in _APPLETS
                or name in sh.applet_names()):    # ash runs every applet itself (standalone)
            io.stdout(name + "\n")
            return 0
        if "/" in name:
            node = sh.fstat(name)
            if node is not None and node.kind == "file" and node.mode & 0o111:
                io.stdout(name + "\n")
                return 0
            return 127
        found = _path_lookup(sh, name)
        if found is None:
            return 127
        io.stdout(found + "\n")
        return 0
    if args and args[0].startswith("-") and args[0] != "--":
        raise _unsupported(f"'command {args[0]}'")
    if args and args[0] == "--":
        args = args[1:]
    if not args:
        return 0
    saved = sh.functions
    sh.functions = {}
    try:
        return sh.execute(args, io)
    finally:
        sh.functions = saved


def _cmd_which(sh: _Shell, argv: list[str], io: _IO) -> int:
    opts, names = _getopt("which", argv, "a", "", "")
    if not names:
        raise _Usage()
    status = 0
    for name in names:
        if "/" in name:
            node = sh.fstat(name)
            found = name if node is not None and node.kind == "file" and node.mode & 0o111 else None
        else:
            found = _path_lookup(sh, name, every=bool(opts))
        if found is None:
            status = 1
        else:
            io.stdout(found + "\n")
    return status


def _cmd_return(sh: _Shell, argv: list[str], io: _IO) -> int:
    code = sh.status
    if len(argv) > 1:
        if not argv[1].isdigit():
            raise _CmdError(f"{sh.argv0}: return: line {sh.line}: Illegal number: {argv[1]}", 2)
        code = int(argv[1]) & 0xFF
    raise _Return(code)


def _cmd_local(sh: _Shell, argv: list[str], io: _IO) -> int:
    if not sh.locals:                  # an error of a special builtin ends the shell
        io.stderr(f"{sh.argv0}: local: line {sh.line}: not in a function\n")
        raise _Exit(2)
    frame = sh.locals[-1]
    for a in argv[1:]:
        name, eq, value = a.partition("=")
        if not _NAME_RE.fullmatch(name):
            raise _CmdError(f"{sh.argv0}: local: line {sh.line}: {name}: bad variable name", 2)
        if name not in frame:
            frame[name] = sh.vars.get(name)
        if eq:
            sh.vars[name] = value
    return 0


def _cmd_break(sh: _Shell, argv: list[str], io: _IO) -> int:
    levels = 1
    if len(argv) > 1:
        if not argv[1].isdigit() or int(argv[1]) == 0:
            io.stderr(f"{sh.argv0}: {argv[0]}: line {sh.line}: Illegal number: {argv[1]}\n")
            raise _Exit(2)
        levels = int(argv[1])
    if not sh.loop_depth:                   # outside a loop: nothing to do
        return 0
    raise (_Break if argv[0] == "break" else _Continue)(min(levels, sh.loop_depth))


def _cmd_sh(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    flags = _Shell.__new__(_Shell)              # only holds the options being parsed
    flags.argv0, flags.line = argv[0], 0
    flags.errexit = flags.nounset = flags.xtrace = flags.pipefail = False
    command = False
    opts: list[str] = []
    while args and len(args[0]) > 1 and args[0][0] in "-+" and args[0] != "--":
        a = args.pop(0)
        if "c" in a[1:] and a[0] == "-":
            command = True
            a = a.replace("c", "")
        if "s" in a[1:] or "i" in a[1:] or "l" in a[1:]:
            raise _unsupported(f"'sh {a}'")
        if len(a) > 1:
            opts.append(a)
            if "o" in a[1:] and args:
                opts.append(args.pop(0))
    if args and args[0] == "--":
        args.pop(0)
    try:
        _set_options(flags, opts, "sh")
    except _CmdError as e:
        raise _unsupported(f"the bad shell option in {' '.join(argv)!r}") from e
    options: dict = {n: getattr(flags, n) for n in _SET_NAMES}
    options["mode_flag"] = "c" if command else "s" if not args else ""
    if command:
        if not args:
            raise _CmdError(f"{argv[0]}: -c requires an argument", 2)
        script = args[1 - 1]
        argv0 = args[1] if len(args) > 1 else argv[0]
        return sh.subshell(script, io, argv0, args[2:], options)
    if not args:
        return sh.subshell(io.stdin.take().decode(errors="surrogateescape"), io, argv[0], [], options)
    try:
        data = sh.mount.read(sh.abs(args[0]))
    except OSError as e:
        raise _CmdError(f"{argv[0]}: can't open '{args[0]}': {_oserr(e)}", 2)
    return sh.subshell(data.decode(errors="surrogateescape"), io, args[0], args[1:], options)


def _ls_mode(n: Node) -> str:
    kind = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(n.kind, "-")
    m = n.mode
    out = [kind]
    for shift, special, ch in ((6, 0o4000, "s"), (3, 0o2000, "s"), (0, 0o1000, "t")):
        r, w, x = (m >> (shift + 2)) & 1, (m >> (shift + 1)) & 1, (m >> shift) & 1
        out.append("r" if r else "-")
        out.append("w" if w else "-")
        if m & special:
            out.append(ch if x else ch.upper())
        else:
            out.append("x" if x else "-")
    return "".join(out)


def _ls_long(sh: _Shell, path: str, shown: str, n: Node, numeric: bool) -> str:
    def name(db: str, i: int) -> str:
        return str(i) if numeric else (name_of(sh.mount, db, i) or str(i))
    size = n.size if n.kind == "file" else (len(n.linkname) if n.kind == "symlink" else 4096)
    t = time.gmtime(n.mtime)
    recent = abs(sh.now - n.mtime) < 183 * 24 * 3600
    date = time.strftime("%b ", t) + f"{t.tm_mday:>2} " + (time.strftime("%H:%M", t) if recent
                                                           else f" {t.tm_year}")
    nlink = 1
    if n.kind == "dir":
        try:
            nlink = 2 + sum(1 for c in sh.mount.listdir(path)
                            if (sh.lstat(posixpath.join(path, c)) or Node("file")).kind == "dir")
        except OSError:
            nlink = 2
    line = (f"{_ls_mode(n)} {nlink:>4} {name('passwd', n.uid):<8} {name('group', n.gid):<8} "
            f"{size:>9} {date} {shown}")
    return line + (f" -> {n.linkname}" if n.kind == "symlink" else "")


def _cmd_ls(sh: _Shell, argv: list[str], io: _IO) -> int:
    """BusyBox ls as it prints to a pipe or file: one name per line, sorted bytewise.
    ``-l``/``-n`` print sizes and dates from the model (link counts and ``total`` blocks are
    estimates: the simulator has no disk blocks)."""
    flags, _, names = _opts(argv, "1aAlnRd")
    long_ = bool(flags & {"l", "n"})
    status = 0
    files: list[tuple[str, Node]] = []
    dirs: list[str] = []
    for name in names or ["."]:
        node = sh.lstat(name)
        if node is not None and node.kind == "symlink" and not (flags & {"d", "l", "n"}):
            node = sh.fstat(name) or node
        if node is None:
            io.stderr(f"ls: {name}: No such file or directory\n")
            status = 1
        elif node.kind == "dir" and "d" not in flags:
            dirs.append(name)
        else:
            files.append((name, node))
    out: list[str] = []
    for name, node in sorted(files, key=lambda x: x[0].encode(errors="surrogateescape")):
        out.append(_ls_long(sh, sh.abs(name), name, node, "n" in flags) if long_ else name)
    header = len(names) > 1 or "R" in flags

    def listing(d: str, first: bool) -> None:
        if not first:
            out.append("")
        if header:
            out.append(f"{d}:")
        try:
            entries = sh.mount.listdir(sh.abs(d))
        except OSError as e:
            io.stderr(f"ls: {d}: {_oserr(e)}\n")
            return
        if "a" not in flags:
            entries = [e for e in entries if not e.startswith(".") or "A" in flags]
        entries = sorted(entries, key=lambda e: e.encode(errors="surrogateescape"))
        if "a" in flags:
            entries = [".", ".."] + entries
        base = d.rstrip("/") if d.rstrip("/") else ""
        nodes = {e: sh.lstat(f"{base}/{e}") for e in entries}
        if long_:
            total = sum(4 if n.kind == "dir" else -(-n.size // 4096) * 4
                        for n in nodes.values() if n is not None and n.kind in ("dir", "file"))
            out.append(f"total {total}")
        for e in entries:
            n = nodes[e]
            if long_ and n is not None:
                out.append(_ls_long(sh, sh.abs(f"{base}/{e}"), e, n, "n" in flags))
            else:
                out.append(e)
        if "R" in flags:
            for e in entries:
                n = nodes[e]
                if e not in (".", "..") and n is not None and n.kind == "dir":
                    listing(f"{base}/{e}" if base or d.startswith("/") else e, False)

    for k, d in enumerate(sorted(dirs, key=lambda x: x.encode(errors="surrogateescape"))):
        listing(d, not files and k == 0)
    io.stdout("".join(line + "\n" for line in out))
    return status


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


def _cred(sh: _Shell) -> tuple[int, int]:
    """(uid, gid) the commands run as: the mount's ``Cred`` (``USER``), root by default."""
    cred = getattr(sh.mount, "cred", None)
    return (cred.uid, cred.gid) if cred is not None else (0, 0)


def _cmd_whoami(sh: _Shell, argv: list[str], io: _IO) -> int:
    uid = _cred(sh)[0]
    found = name_of(sh.mount, "passwd", uid)
    if found is None:
        raise _CmdError(f"whoami: unknown uid {uid}")
    io.stdout(found + "\n")
    return 0


def _cmd_id(sh: _Shell, argv: list[str], io: _IO) -> int:
    flags, _, names = _opts(argv, "ugnr")
    if names or not flags & {"u", "g"}:
        raise _unsupported("'id' without -u or -g (supplementary groups are not modelled)")
    kind = "passwd" if "u" in flags else "group"
    ident = _cred(sh)[0 if "u" in flags else 1]
    io.stdout((name_of(sh.mount, kind, ident) or str(ident)) + "\n" if "n" in flags else f"{ident}\n")
    return 0


def _cmd_basename(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) < 2:
        raise _CmdError("basename: missing operand")
    base = argv[1].rstrip("/")
    base = posixpath.basename(base) if base else "/"
    if len(argv) > 2 and base != argv[2] and base.endswith(argv[2]):
        base = base[:-len(argv[2])]
    io.stdout(base + "\n")
    return 0


def _cmd_dirname(sh: _Shell, argv: list[str], io: _IO) -> int:
    if len(argv) < 2:
        raise _CmdError("dirname: missing operand")
    path = argv[1].rstrip("/") or "/"
    d = posixpath.dirname(path).rstrip("/") if "/" in path else "."
    io.stdout((d or "/") + "\n")
    return 0


def busybox_applets(binary: bytes) -> list[str]:
    """The applet names compiled into a BusyBox binary (its NUL-separated name table).

    BusyBox keeps its applet names sorted in one string table that starts with ``[`` and
    ``[[``; ``busybox --list`` prints exactly this table.
    """
    start = binary.find(b"[\x00[[\x00")
    if start < 0:
        return []
    names: list[str] = []
    j = start
    while True:
        k = binary.index(b"\x00", j)
        name = binary[j:k]
        if not name or not re.fullmatch(rb"[\x21-\x7e]+", name):
            break
        names.append(name.decode())
        j = k + 1
    return names


def _cmd_busybox(sh: _Shell, argv: list[str], io: _IO) -> int:
    args = argv[1:]
    if not args:
        raise _unsupported("'busybox' without an applet")
    if args[0] in ("--list", "--install"):
        exe = sh.exe()
        if exe is None:
            raise _unsupported("'busybox --install' when /bin/busybox is not in the image")
        names = sh.applet_names()
        if not names:
            raise _unsupported("'busybox --install' with a binary whose applet table was not found")
        if args[0] == "--list":
            io.stdout("".join(n + "\n" for n in names))
            return 0
        rest = args[1:]
        symbolic = bool(rest) and rest[0] == "-s"
        if symbolic:
            rest = rest[1:]
        if not rest:
            raise _unsupported("'busybox --install' without a directory (per-applet "
                               "install locations are not modelled)")
        dest = sh.abs(rest[0])
        for n in names:
            path = posixpath.join(dest, n)
            try:
                if symbolic:
                    sh.mount.symlink(exe, path)
                else:
                    sh.mount.link(exe, path)
            except OSError as e:
                if e.errno != _errno.EEXIST:
                    io.stderr(f"busybox: {path}: {_oserr(e)}\n")
        return 0
    return sh.applet(args[0], args, io)


# --------------------------------------------------------------------------- option parsing, usage

class _Usage(Exception):
    """A bad command line: BusyBox prints its usage text for the applet and exits."""

    def __init__(self, first: str = "", code: int = 1) -> None:
        self.first, self.code = first, code


def _getopt(name: str, argv: list[str], flags: str, valued: str = "", known: str = "", *,
            permute: bool = True, code: int = 1) -> tuple[list[tuple[str, str]], list[str]]:
    """glibc getopt as BusyBox's getopt32 uses it: ``-abc`` bundles, ``-eVALUE`` or
    ``-e VALUE``, ``--`` ends options, options may follow operands (``permute``, GNU style)
    unless the applet asks for POSIX order. ``known`` letters exist in BusyBox but are not
    modelled here: they raise UnsupportedOperation; any other letter is BusyBox's
    ``invalid option`` message plus the applet's usage text."""
    opts: list[tuple[str, str]] = []
    operands: list[str] = []
    args = argv[1:]
    i = 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":
            operands.extend(args[i:])
            break
        if a.startswith("--"):
            raise _unsupported(f"the long option {a!r} of {name}")
        if not a.startswith("-") or a == "-":
            operands.append(a)
            if not permute:
                operands.extend(args[i:])
                break
            continue
        k = 1
        while k < len(a):
            ch = a[k]
            k += 1
            if ch in valued:
                if k < len(a):
                    opts.append((ch, a[k:]))
                elif i < len(args):
                    opts.append((ch, args[i]))
                    i += 1
                else:
                    raise _Usage(f"{name}: option requires an argument -- '{ch}'", code)
                break
            if ch in flags:
                opts.append((ch, ""))
            elif ch in known:
                raise _unsupported(f"the option -{ch} of {name}")
            else:
                raise _Usage(f"{name}: invalid option -- '{ch}'", code)
    return opts, operands


def busybox_usage(binary: bytes) -> dict[str, str]:
    """Each applet's usage text, as BusyBox prints it after ``Usage: NAME `` (the texts are
    stored bzip2-compressed in the binary, NUL-separated, in applet-table order)."""
    import bz2  # noqa: PLC0415
    names = busybox_applets(binary)
    magic = binary.find(b"1AY&SY")             # the first bzip2 block header
    if magic < 2 or not names:
        return {}
    try:
        text = bz2.BZ2Decompressor().decompress(b"BZ" + binary[magic - 2:])
    except (OSError, ValueError):
        return {}
    return {n: u.decode(errors="surrogateescape") for n, u in zip(names, text.split(b"\x00"))}


def _usage_text(sh: "_Shell", name: str) -> str:
    exe = sh.exe()
    if sh._usage is None:
        sh._usage = {}
        if exe:
            try:
                binary = sh.mount.read(exe)
                sh._usage = busybox_usage(binary)
                m = re.search(rb"BusyBox v[\x20-\x7e]+", binary)
                sh._banner = m.group(0).decode() if m else ""
            except OSError:
                pass
    text = sh._usage.get(name)
    if text is None or not sh._banner:
        raise _unsupported(f"a usage error of {name} (BusyBox's usage text was not found "
                           "in the image)")
    return f"{sh._banner} multi-call binary.\n" + \
        ("" if text == "\x08" else f"\nUsage: {name} {text}\n")


# --------------------------------------------------------------------------- POSIX regular expressions

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
        nonlocal can_repeat, at_start
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


def _split_lines(data: bytes) -> list[bytes]:
    """Lines without their newlines; a last line without newline counts."""
    if not data:
        return []
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def _text_lines(name: str, data: bytes) -> list[bytes]:
    """Lines for applets that treat them as C strings: a NUL byte would cut a line short in
    BusyBox in ways not modelled here, so such input is refused."""
    if b"\0" in data:
        raise _unsupported(f"NUL bytes in the input of {name} (BusyBox reads its lines as C "
                           "strings)")
    return _split_lines(data)


def _input_data(sh: "_Shell", name: str, f: str, io: _IO, *, xfopen: bool = False) -> bytes | None:
    """One operand's bytes ('-' is stdin); prints BusyBox's ``NAME: FILE: error`` (or, for
    applets that open with xfopen, ``NAME: can't open 'FILE': error``) when it fails."""
    if f == "-":
        return io.stdin.take()
    try:
        return _read_special(sh, f, None)
    except OSError as e:
        io.stderr(f"{name}: can't open '{f}': {_oserr(e)}\n" if xfopen
                  else f"{name}: {f}: {_oserr(e)}\n")
        return None


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


def _enoent(sh: "_Shell", path: str) -> OSError:
    """The error opening ``path`` gives (ENOENT, ENOTDIR, ELOOP ...)."""
    try:
        sh.mount.stat(sh.abs(path), follow=True)
    except OSError as e:
        return e
    return OSError(_errno.ENOENT, os.strerror(_errno.ENOENT), path)


def _walk_files(sh: "_Shell", top: str, *, follow: bool) -> list[str]:
    """Files under ``top`` depth first, as BusyBox's recursive_action visits them (names
    sorted: the kernel's readdir order is not modelled)."""
    out: list[str] = []

    def visit(path: str, first: bool) -> None:
        node = sh.fstat(path) if (follow or first) else sh.lstat(path)
        if node is None:
            return
        if node.kind == "dir":
            try:
                names = sh.mount.listdir(sh.abs(path))
            except OSError:
                return
            for n in names:
                visit(_concat(path, n), False)
        else:
            out.append(path)
    visit(top, True)
    return out


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


# --------------------------------------------------------------------------- sed

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
                            f"sed: bad option in substitution expression")
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


# --------------------------------------------------------------------------- xargs, find, env, read

def _xargs_words(data: bytes, zero: bool) -> tuple[list[str], str]:
    """The words of xargs' input and the error that stopped reading it ("" if none)."""
    if zero:
        return [w.decode(errors="surrogateescape") for w in data.split(b"\0") if w], ""
    words: list[str] = []
    text = data.decode(errors="surrogateescape")
    i = 0
    cur: list[str] | None = None
    while i < len(text):
        c = text[i]
        if c in " \t\n\v\f\r":
            if cur is not None:
                words.append("".join(cur))
                cur = None
            i += 1
            continue
        cur = cur if cur is not None else []
        if c in "'\"":
            end = text.find(c, i + 1)
            if end < 0:
                return words, f"xargs: unmatched {'single' if c == chr(39) else 'double'} quote"
            cur.append(text[i + 1:end])
            i = end + 1
        elif c == "\\" and i + 1 < len(text):
            cur.append(text[i + 1])
            i += 2
        else:
            cur.append(c)
            i += 1
    if cur is not None:
        words.append("".join(cur))
    return words, ""


def _cmd_xargs(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, cmd = _getopt("xargs", argv, "rt0", "nI", "pxsEeaPd", permute=False)
    o = dict(opts)
    cmd = cmd or ["echo"]
    data = io.stdin.take()
    child = _IO(_Input(), io.fds, io.out)
    status = 0
    runs: list[list[str]] = []
    if "I" in o:
        rep = o["I"]
        for line in _text_lines("xargs", data):
            text = line.decode(errors="surrogateescape").lstrip(" \t")
            if not text:
                continue
            runs.append([a.replace(rep, text) for a in cmd])
    else:
        if "0" not in o:
            _text_lines("xargs", data)
        words, error = _xargs_words(data, "0" in o)
        per = None
        if "n" in o:
            if not re.fullmatch(r"\d+", o["n"]) or int(o["n"]) == 0:
                raise _CmdError(f"xargs: invalid number '{o['n']}'")
            per = int(o["n"])
        if error:                      # the batches filled before the bad quote still ran
            words = words[:len(words) // per * per] if per else []
        if not words:
            if "r" not in o and not error:
                runs.append(list(cmd))
        elif per is None:
            runs.append(list(cmd) + words)
        else:
            for k in range(0, len(words), per):
                runs.append(list(cmd) + words[k:k + per])
    for run in runs:
        if "t" in o:
            io.stderr(" ".join(run) + "\n")
        code = sh.run_program(run, child, who="xargs")
        if code == 255:
            io.stderr(f"xargs: {run[0]}: exited with status 255; aborting\n")
            return 124
        if code == 127 or code == 126:
            return code
        if code:
            status = 123
    if "I" not in o and error:
        io.stderr(error + "\n")
        return 1
    return status


def _cmd_env(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, rest = _getopt("env", argv, "i0", "u", "", permute=False)
    env = {} if any(k == "i" for k, _ in opts) else dict(sh.vars)
    if rest and rest[0] == "-":
        env = {}
        rest = rest[1:]
    for k, v in opts:
        if k == "u":
            env.pop(v, None)
    while rest and "=" in rest[0] and not rest[0].startswith("="):
        name, _, value = rest.pop(0).partition("=")
        env[name] = value
    if not rest:
        raise _unsupported("'env' printing the environment (ash's exported-variable order "
                           "is not modelled)")
    child = sh.fork()
    child.vars = env
    return child.run_program(rest, io, who="env", missing="env: can't execute '{}': {}")


_FIND_KNOWN = {"-follow", "-xdev", "-depth", "-ipath", "-regex", "-perm", "-mtime", "-mmin",
               "-newer", "-inum", "-user", "-group", "-size", "-links", "-context", "-prune",
               "-print0", "-ok", "-quit", "-empty", "-samefile", "-amin", "-atime", "-cmin",
               "-ctime", "-nouser", "-nogroup", "-executable", "-readable", "-writable",
               "-lname", "-ilname"}


def _find_parse(args: list[str], has_delete: bool) -> tuple[list, int, int]:
    """find's expression as a list of (negate, primary, argument); AND of all."""
    expr: list = []
    mindepth, maxdepth = 0, 1 << 30
    i = 0
    negate = False
    while i < len(args):
        a = args[i]
        i += 1
        if a in ("!", "-not"):
            negate = not negate
            continue
        if a in ("-a", "-and"):
            continue
        if a in ("-name", "-iname", "-type", "-path", "-maxdepth", "-mindepth"):
            if i >= len(args):
                raise _CmdError(f"find: {a} requires an argument")
            v = args[i]
            i += 1
            if a == "-maxdepth" or a == "-mindepth":
                if not v.isdigit():
                    raise _CmdError(f"find: invalid number '{v}'")
                if a == "-maxdepth":
                    maxdepth = int(v)
                else:
                    mindepth = int(v)
                continue
            if a == "-type" and v not in ("f", "d", "l"):
                raise _unsupported(f"find -type {v} (supported: f, d, l)")
            expr.append((negate, a, v))
        elif a == "-print":
            expr.append((negate, a, None))
        elif a == "-delete":
            if not has_delete:
                raise _Usage(f"find: unrecognized: {a}")
            expr.append((negate, a, None))
        elif a == "-exec":
            j = i
            while j < len(args) and args[j] not in (";", "+"):
                j += 1
            if j >= len(args) or j == i:
                raise _CmdError("find: -exec CMD must end by ';' or '+'")
            if args[j] == "+" and args[j - 1] != "{}":
                raise _CmdError("find: -exec CMD must end by ';' or '+'")
            expr.append((negate, "-exec" + args[j], args[i:j]))
            i = j + 1
        elif a in ("-o", "-or", "(", ")", ","):
            raise _unsupported(f"the find operator {a!r}")
        elif a.startswith("-") and len(a) > 1:
            if a not in _FIND_KNOWN:
                raise _Usage(f"find: unrecognized: {a}")
            raise _unsupported(f"the find test or action {a!r} (supported: -name -iname -path "
                               "-type -maxdepth -mindepth -print -delete -exec)")
        else:
            raise _unsupported(f"the find argument {a!r}")
        negate = False
    return expr, mindepth, maxdepth


def _cmd_find(sh: "_Shell", argv: list[str], io: _IO) -> int:
    args = argv[1:]
    if args and args[0] in ("-L", "-H"):
        raise _unsupported(f"find {args[0]}")
    paths = []
    while args and not (args[0].startswith("-") and len(args[0]) > 1) and args[0] not in ("!", "("):
        paths.append(args.pop(0))
    # -delete is a build option of BusyBox: this binary has it when its usage text lists it
    expr, mindepth, maxdepth = _find_parse(args, "-delete" in _usage_text(sh, "find"))
    has_action = any(p in ("-print", "-delete") or p.startswith("-exec") for _, p, _ in expr)
    depth_first = any(p == "-delete" for _, p, _ in expr)
    status = 0
    out: list[str] = []
    batches: dict[int, list[str]] = {}
    child = _IO(_Input(), io.fds, io.out)

    def flush_out() -> None:
        if out:
            io.stdout("".join(out))
            out.clear()

    def evaluate(path: str, node: Node) -> bool:
        nonlocal status
        for k, (neg, prim, arg) in enumerate(expr):
            if prim in ("-name", "-iname"):
                base = _last_component(path)
                ok = fnmatch.fnmatchcase(base.lower(), arg.lower()) if prim == "-iname" \
                    else fnmatch.fnmatchcase(base, arg)
            elif prim == "-path":
                ok = fnmatch.fnmatchcase(path, arg)
            elif prim == "-type":
                ok = {"f": "file", "d": "dir", "l": "symlink"}[arg] == node.kind
            elif prim == "-print":
                out.append(path + "\n")
                ok = True
            elif prim == "-delete":
                try:
                    if node.kind == "dir":
                        sh.mount.rmdir(sh.abs(path))
                    else:
                        sh.mount.unlink(sh.abs(path))
                except OSError as e:
                    flush_out()
                    io.stderr(f"find: {path}: {_oserr(e)}\n")
                    status = 1
                ok = True
            elif prim == "-exec;":
                flush_out()
                run = [a.replace("{}", path) for a in arg]
                ok = sh.run_program(run, child, who="find") == 0
            else:                              # -exec ... {} +
                batches.setdefault(k, []).append(path)
                ok = True
            if ok == neg:
                return False
        return True

    def visit(path: str, depth: int, node: Node) -> None:
        nonlocal status
        if node.kind == "dir" and depth < maxdepth:
            if not depth_first and depth >= mindepth:
                if evaluate(path, node) and not has_action:
                    out.append(path + "\n")
            try:
                names = sh.mount.listdir(sh.abs(path))
            except OSError as e:
                flush_out()
                io.stderr(f"find: {path}: {_oserr(e)}\n")
                status = 1
                names = []
            for n in names:
                sub = _concat(path, n)
                child_node = sh.lstat(sub)
                if child_node is not None:
                    visit(sub, depth + 1, child_node)
            if depth_first and depth >= mindepth:
                if evaluate(path, node) and not has_action:
                    out.append(path + "\n")
            return
        if depth >= mindepth:
            if evaluate(path, node) and not has_action:
                out.append(path + "\n")

    for p in paths or ["."]:
        node = sh.lstat(p)
        if node is None:
            flush_out()
            io.stderr(f"find: {p}: {_oserr(_enoent(sh, p))}\n")
            status = 1
            continue
        visit(p, 0, node)
    flush_out()
    for k, found in sorted(batches.items()):
        arg = expr[k][2]
        at = arg.index("{}")
        if sh.run_program(arg[:at] + found + arg[at + 1:], child, who="find") != 0:
            status = 1
    return status


def _cmd_read(sh: "_Shell", argv: list[str], io: _IO) -> int:
    opts, names = _getopt("read", argv, "r", "", "pstnudai")
    raw = any(k == "r" for k, _ in opts)
    for n in names:
        if not _NAME_RE.fullmatch(n):
            raise _CmdError(f"sh: read: '{n}': bad variable name")
    names = names or ["REPLY"]
    chunks: list[str] = []
    eof = False
    while True:
        line = io.stdin.readline()
        if b"\0" in line:
            raise _unsupported("NUL bytes in the input of read")
        if not line.endswith(b"\n"):
            eof = True
        text = line[:-1] if line.endswith(b"\n") else line
        text = text.decode(errors="surrogateescape")
        if not raw and text.endswith("\\") and not text.endswith("\\\\") and not eof:
            chunks.append(text[:-1])
            continue
        chunks.append(text)
        break
    text = "".join(chunks)
    ifs = sh.vars.get("IFS", " \t\n")
    # split: escaped characters (without -r) are protected from splitting
    protected: list[tuple[str, bool]] = []
    k = 0
    while k < len(text):
        if not raw and text[k] == "\\" and k + 1 < len(text):
            protected.append((text[k + 1], True))
            k += 2
        else:
            if not raw and text[k] == "\\":
                k += 1
                continue
            protected.append((text[k], False))
            k += 1
    white = [c for c in ifs if c in " \t\n"]
    fields: list[str] = []
    k = 0
    while k < len(protected) and protected[k][0] in white and not protected[k][1]:
        k += 1
    cur: list[str] = []
    for idx in range(len(names)):
        if idx == len(names) - 1:
            rest = protected[k:]
            while rest and rest[-1][0] in white and not rest[-1][1]:
                rest = rest[:-1]
            fields.append("".join(c for c, _ in rest))
            break
        cur = []
        while k < len(protected) and not (protected[k][0] in ifs and not protected[k][1]):
            cur.append(protected[k][0])
            k += 1
        fields.append("".join(cur))
        if k < len(protected) and protected[k][0] not in white:
            k += 1
        while k < len(protected) and protected[k][0] in white and not protected[k][1]:
            k += 1
    for n, v in zip(names, fields):
        sh.vars[n] = v
    return 1 if eof else 0


_BUILTINS: dict[str, Callable] = {
    "true": _cmd_true, "false": _cmd_false, ":": _cmd_true, "echo": _cmd_echo,
    "printf": _cmd_printf, "test": _cmd_test, "[": _cmd_test, "cd": _cmd_cd, "pwd": _cmd_pwd,
    "export": _cmd_export, "unset": _cmd_unset, "set": _cmd_set, "exit": _cmd_exit,
    "break": _cmd_break, "continue": _cmd_break, "read": _cmd_read, "return": _cmd_return,
    "local": _cmd_local, "command": _cmd_command,
}

# POSIX special builtins: found before shell functions
_SPECIAL_BUILTINS = {":", "break", "continue", "exit", "export", "return", "set", "unset"}

_APPLETS: dict[str, Callable] = {
    "mkdir": _cmd_mkdir, "rmdir": _cmd_rmdir, "touch": _cmd_touch, "cat": _cmd_cat,
    "rm": _cmd_rm, "cp": _cmd_cp, "mv": _cmd_mv, "ln": _cmd_ln, "chmod": _cmd_chmod,
    "chown": _cmd_chown, "dd": _cmd_dd, "sleep": _cmd_sleep, "sh": _cmd_sh, "ash": _cmd_sh,
    "true": _cmd_true, "false": _cmd_false, "echo": _cmd_echo, "printf": _cmd_printf,
    "test": _cmd_test, "[": _cmd_test, "pwd": _cmd_pwd, "busybox": _cmd_busybox,
    "ls": _cmd_ls, "wc": _cmd_wc, "head": _cmd_head, "tail": _cmd_tail, "whoami": _cmd_whoami,
    "id": _cmd_id, "basename": _cmd_basename, "dirname": _cmd_dirname, "seq": _cmd_seq,
    "grep": _cmd_grep, "egrep": _cmd_grep, "fgrep": _cmd_grep, "sort": _cmd_sort,
    "uniq": _cmd_uniq, "tr": _cmd_tr, "cut": _cmd_cut,
    "tee": _cmd_tee, "sed": _cmd_sed, "md5sum": _cmd_sum, "sha1sum": _cmd_sum,
    "sha256sum": _cmd_sum, "sha512sum": _cmd_sum, "xargs": _cmd_xargs, "find": _cmd_find,
    "env": _cmd_env, "which": _cmd_which,
}

SUPPORTED_COMMANDS: tuple[str, ...] = tuple(sorted(set(_BUILTINS) | set(_APPLETS)))


# --------------------------------------------------------------------------- entry points

def _finish(out: list, code: int) -> ShellResult:
    return ShellResult(code, b"".join(out).decode(errors="replace"))


def _run_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment a RUN step starts with: Docker's default PATH and HOME if unset."""
    full = dict(env)
    full.setdefault("PATH", DEFAULT_PATH)
    full.setdefault("HOME", "/root")
    return full


def run(script: str, mount: "Mount", *, env: Mapping[str, str], cwd: str = "/",
        now: int | None = None) -> ShellResult:
    """Run ``script`` as ``/bin/sh -c script`` would, on ``mount``; never raises for a failing
    command (its status and message are in the result). Raises ``UnsupportedOperation`` for
    shell features or programs the simulator does not model."""
    sh = _Shell(mount, _run_env(env), cwd, int(time.time()) if now is None else now)
    out: list = []
    io = _IO(_Input(), {0: _Sink("null"), 1: _Sink("term"), 2: _Sink("term")}, out)
    try:
        code = sh.run_script(script, io)
    except _Exit as e:
        code = e.code
    return _finish(out, code)


def run_argv(argv: Sequence[str], mount: "Mount", *, env: Mapping[str, str], cwd: str = "/",
             now: int | None = None) -> ShellResult:
    """Run an exec-form command (``RUN ["/bin/busybox", "--install", "-s", "/bin"]``): no
    shell parsing; the program is looked up on ``PATH`` in the mount like Docker does."""
    if not argv:
        return ShellResult(127, "no command given\n")
    sh = _Shell(mount, _run_env(env), cwd, int(time.time()) if now is None else now, argv0=argv[0])
    out: list = []
    io = _IO(_Input(), {0: _Sink("null"), 1: _Sink("term"), 2: _Sink("term")}, out)
    name = argv[0]
    found = None
    if "/" in name:
        found = name if sh.fstat(name) is not None else None
    else:
        for d in sh.vars.get("PATH", "").split(":"):
            cand = posixpath.join(d or "/", name)
            node = sh.fstat(cand)
            if node is not None and node.kind == "file":
                found = cand
                break
    if found is None:
        msg = (f'OCI runtime create failed: exec: "{name}": '
               + ("stat " + name + ": no such file or directory" if "/" in name
                  else "executable file not found in $PATH") + "\n")
        return ShellResult(127, msg)
    try:
        code = sh.execute([found] + list(argv[1:]) if "/" not in name else list(argv), io)
    except _Exit as e:
        code = e.code
    return _finish(out, code)
