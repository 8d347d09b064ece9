"""Check this machine: Python packages, graphviz, busybox, the Docker daemon, overlayfs; with
--dev also the developer tools (the test suite's packages and programs)."""
from __future__ import annotations

import argparse

from ..engine.doctor import doctor
from ..formatting import escape_controls


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--dev", action="store_true",
                        help="also check the developer tools (pytest, nbval, hypothesis, playwright, "
                             "dockerfile-parse, ...); the exit status then counts them too")


def run(args: argparse.Namespace) -> int:
    report = doctor(dev=args.dev)
    print(escape_controls(str(report), keep="\n"))
    return 0 if report.ok and report.dev_ok else 1
