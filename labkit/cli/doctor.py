"""Check this machine: Python packages, graphviz, busybox, the Docker daemon, overlayfs."""
from __future__ import annotations

import argparse

from ..engine.doctor import doctor


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__


def run(args: argparse.Namespace) -> int:
    report = doctor()
    print(report)
    return 0 if report.ok else 1
