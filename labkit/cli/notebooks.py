"""Copy the lesson notebooks into a folder of your own, to open them in JupyterLab."""
from __future__ import annotations

import argparse

from ..formatting import escape_controls as esc
from ..lessons.notebooks import copy_notebooks


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "") + (
        " The folder is made when missing. A lesson already there that differs from labkit's "
        "may hold your work: then nothing is copied, unless --force.")
    parser.add_argument("dest", metavar="DEST", help="the folder to copy the lessons into")
    parser.add_argument("--force", action="store_true",
                        help="overwrite lesson notebooks already in DEST (your changes to them are lost)")


def run(args: argparse.Namespace) -> int:
    copied = copy_notebooks(args.dest, force=args.force)
    print(f"copied {len(copied)} lesson notebooks to {esc(args.dest)}")
    if copied:
        print(f"start with: jupyter lab {esc(str(copied[0]))}")
    return 0
