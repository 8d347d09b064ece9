"""``labkit`` command line: the parser and dispatch to one small module per sub-command."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import LabkitError

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


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="labkit", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and not argv[0].startswith("-") else None
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
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.register(p)
        p.set_defaults(_run=mod.run)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except LabkitError as exc:
        print(f"labkit {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
