"""The interpreter: expansion, redirections, pipelines, compound commands, functions and
command lookup (special builtins, functions, builtins, BusyBox applets, ``PATH``).

The interpreter does not import the commands: ``_Shell`` is given the tables of builtins
and applets (``{name: function(sh, argv, io) -> status}``) when it is made; see
``commands.py`` for the tables and ``main.py`` for the entry points that pass them in.
"""
from __future__ import annotations

import errno as _errno
import fnmatch
import os
import posixpath
import re
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

from ...fs.node import Node, resolve_in_scope
from .arith import _Arith_eval
from .base import _ASH_PATH, _Break, _CmdError, _Continue, _Exit, _Fatal, _oserr, _Return, _unsupported
from .streams import _IO, _Input, _read_special, _Sink
from .syntax import (
    _KEYWORDS,
    _NAME_RE,
    _AndOr,
    _Arith,
    _Case,
    _Cmd,
    _For,
    _FuncDef,
    _Group,
    _If,
    _Lexer,
    _Lit,
    _parse,
    _Pipeline,
    _Redir,
    _Redirected,
    _Simple,
    _Subshell,
    _SyntaxError,
    _Word,
)
from .usage import _Usage, _usage_text, busybox_applets

if TYPE_CHECKING:  # pragma: no cover
    from ...fs.overlay import Mount


# commands whose failure stops a 'set -e' shell (compound bodies apply it inside)
_ERREXIT_KINDS = (_Simple, _Pipeline, _Subshell)


_MAX_LOOP = 100_000

# POSIX special builtins: found before shell functions
_SPECIAL_BUILTINS = {":", "break", "continue", "exit", "export", "return", "set", "unset"}


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


# --------------------------------------------------------------------------- the shell

class _Shell:
    def __init__(self, mount: "Mount", env: Mapping[str, str], cwd: str, now: int,
                 argv0: str = "/bin/sh", args: Sequence[str] = (), *,
                 builtins: Mapping[str, Callable], applets: Mapping[str, Callable]) -> None:
        self.mount = mount
        self.builtins, self.applets = builtins, applets     # the command tables (injected)
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
        if name in self.builtins:
            return self._call(self.builtins[name], name, argv, io)
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
        if name in self.applets:
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
            return self._call(self.applets["busybox"], name, argv, io)
        if name in ("sh", "ash"):                  # a shell keeps $0 as it was invoked
            try:
                return self.applets["sh"](self, list(argv), io)
            except _CmdError as e:
                io.stderr(e.message + "\n")
                return e.code
        fn = self.applets.get(name) or self.builtins.get(name)
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
            found = name in self.applets or any(
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
        child = _Shell(self.mount, self.vars, self.cwd, self.now, argv0, args,
                       builtins=self.builtins, applets=self.applets)
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
