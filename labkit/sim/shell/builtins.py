"""The shell's own commands: ``true``/``false``/``:``, ``test``/``[``, ``cd``, ``pwd``,
``export``, ``unset``, ``set``, ``exit``, ``return``, ``local``, ``break``/``continue``,
``read``, ``command`` and ``which`` (lookup on ``PATH``), and ``sh``/``ash`` (a new shell).
"""
from __future__ import annotations

import posixpath

from .base import _Break, _CmdError, _Continue, _Exit, _Fatal, _oserr, _Return, _unsupported
from .interp import _Shell
from .streams import _IO
from .syntax import _KEYWORDS, _NAME_RE
from .usage import _getopt, _Usage


def _cmd_true(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 0


def _cmd_false(sh: _Shell, argv: list[str], io: _IO) -> int:
    return 1


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
                raise _CmdError("test: bad number", 2)
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
        if (name in _KEYWORDS or name in sh.functions or name in sh.builtins or name in sh.applets
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
