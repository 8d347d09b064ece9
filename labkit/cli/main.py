"""``labkit`` command line: the parser and dispatch to one small module per sub-command.

Whatever goes wrong is one line on stderr (``labkit CMD: error: ...``, and a ``fix:`` line when
there is one to give), never a traceback: exit status 2 for a bad command line (argparse, and
the argument types of ``common``), 1 for input labkit cannot use: a ``LabkitError``, or an
``OSError`` (a file that cannot be read or written), named by its path and the system's reason.
Text written to the terminal has its control characters escaped (``formatting.escape_controls``).
"""
from __future__ import annotations

import argparse
import errno
import importlib
import os
import re
import sys
from typing import NoReturn

from ..errors import LabkitError
from ..formatting import escape_controls
from ..oci import limits
from .common import exported, shown

DESCRIPTION = "``labkit`` command line: one small module per sub-command, imported only when used."

# name -> module under labkit.cli; each module has register(parser) and run(args) -> int
COMMANDS: dict[str, str] = {
    "doctor": "doctor",
    "notebooks": "notebooks",
    "clean": "clean",
    "flatten": "flatten",
    "inspect": "inspect",
    "compare": "compare",
    "build": "build",
    "grade": "grade",
}

_FIXES = {errno.EACCES: "check its permissions (ls -ld PATH); labkit never asks for more",
          errno.EPERM: "check its permissions (ls -ld PATH); labkit never asks for more",
          errno.ENOSPC: "free some space, or point TMPDIR at a bigger disk",
          errno.EROFS: "write to a folder on a writable file system"}
_BREAKS = re.compile(r"\s*[\r\n]+\s*")


class Parser(argparse.ArgumentParser):
    """argparse with labkit's error format: one line and a fix, exit status 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {escape_controls(message)}\n"
                     f"  fix: see `{self.prog} --help`\n")


def _one_line(text: str) -> str:
    """Line breaks (an engine's message quoted in ours) made spaces, other controls escaped."""
    return escape_controls(_BREAKS.sub(" ", shown(text)).strip())


def error_line(command: str, message: str, fix: str | None = None) -> str:
    """``labkit CMD: error: MESSAGE`` (+ ``  fix: FIX``), each on one line, control characters
    escaped, the temporary copies of piped input named as the user named them."""
    text = f"labkit {command}: error: {_one_line(message)}"
    return text + (f"\n  fix: {_one_line(fix)}" if fix else "")


def os_error_line(command: str, exc: OSError) -> str:
    names = [str(n) for n in (exc.filename, exc.filename2) if n is not None]
    reason = exc.strerror or str(exc)
    message = f"{' -> '.join(names)}: {reason}" if names else reason
    fix = _FIXES.get(exc.errno or 0, "")
    return error_line(command, message, fix.replace("PATH", names[0]) if fix and names else None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = Parser(prog="labkit", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
    parsers: dict[str, argparse.ArgumentParser] = {}
    for name, module in COMMANDS.items():
        if wanted is not None and name != wanted:
            sub.add_parser(name)  # listed in help without importing it
            continue
        try:
            mod = importlib.import_module(f"{__package__}.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__package__}.{module}":
                raise
            continue
        p = parsers[name] = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.register(p)
        p.set_defaults(_run=mod.run)
    args, extra = parser.parse_known_args(argv)
    if extra:       # named by the sub-command's parser: "labkit doctor: error: ..."
        parsers.get(args.command, parser).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        args.limits = limits.current(getattr(args, "limit", ()))   # LABKIT_LIMITS may be wrong
        with exported(args.limits):
            return int(args._run(args) or 0)
    except LabkitError as exc:
        print(error_line(args.command, getattr(exc, "message", str(exc)), getattr(exc, "fix", None)),
              file=sys.stderr)
        return 1
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as exc:
        print(os_error_line(args.command, exc), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"labkit {args.command}: interrupted", file=sys.stderr)
        return 130


def _quiet_stdout() -> None:
    """The reader of stdout went away (``labkit flatten x | head``): point stdout at /dev/null,
    so the interpreter's last flush does not complain about the closed pipe."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
