"""Remove what labkit made (images, containers, volumes, networks carrying its label), and only that."""
from __future__ import annotations

import argparse

from ..engine.connect import connect
from ..formatting import escape_controls as esc


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--dry-run", action="store_true", help="list what would be removed")
    parser.add_argument("--session", action="store_true",
                        help="only this session's objects (LABKIT_SESSION)")


def run(args: argparse.Namespace) -> int:
    engine = connect()
    removed = engine.clean(session_only=args.session, dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    for item in removed:
        print(f"{verb} {esc(str(item))}")
    print(f"{len(removed)} object(s) {verb}; nothing without the label org.labkit.managed=true was touched")
    return 0
