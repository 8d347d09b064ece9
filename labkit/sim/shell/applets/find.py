"""BusyBox applets that run other programs: ``xargs``, ``env`` and ``find`` (its
expression, ``-exec CMD {} ;`` and ``{} +``, ``-delete``).
"""
from __future__ import annotations

import fnmatch
import re

from ....fs.node import Node
from ..base import _CmdError, _oserr, _unsupported
from ..interp import _Shell
from ..streams import _IO, _Input, _text_lines
from ..usage import _getopt, _Usage, _usage_text
from .files import _concat, _enoent, _last_component


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
