"""Compare two images: shared layers, what a pull of B costs with A present, path changes."""
from __future__ import annotations

import argparse
import json
import sys

from ..analysis.compare import compare
from ..analysis.report import comparison_dict
from .inspect import image_source


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("a", metavar="A", help="docker-save tar, OCI layout directory or image name")
    parser.add_argument("b", metavar="B", help="docker-save tar, OCI layout directory or image name")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--top", type=int, default=20, help="how many paths to list (default 20)")
    parser.add_argument("--no-paths", action="store_true", help="layers only, skip the path diff")


def run(args: argparse.Namespace) -> int:
    with image_source(args.a) as a, image_source(args.b) as b:
        result = compare(a, b, paths=not args.no_paths)
    if args.json:
        json.dump(comparison_dict(result), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(result.text(top=args.top))
    return 0
