"""Compare two images: shared layers, what a pull of B costs with A present, path changes."""
from __future__ import annotations

import argparse
import json
import sys

from ..analysis.compare import compare
from ..analysis.report import comparison_dict
from .common import PIPE_HELP, add_limit_option, count, for_terminal, shown
from .inspect import image_source


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("a", metavar="A", help="docker-save tar, OCI layout directory or image name; "
                                               + PIPE_HELP % "compare" + " (A or B, not both)")
    parser.add_argument("b", metavar="B", help="docker-save tar, OCI layout directory or image name")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument("--top", type=count(0), default=20, help="how many paths to list (default 20)")
    parser.add_argument("--no-paths", action="store_true", help="layers only, skip the path diff")
    add_limit_option(parser)


def run(args: argparse.Namespace) -> int:
    if args.a == "-" and args.b == "-":
        print("labkit compare: error: A and B cannot both be '-': stdin can be read once\n"
              "  fix: save one of the images to a file first", file=sys.stderr)
        return 2
    limits = getattr(args, "limits", None)
    with image_source(args.a, limits=limits) as a, image_source(args.b, limits=limits) as b:
        result = compare(a, b, paths=not args.no_paths)   # its readers take the budgets from LABKIT_LIMITS
    if args.json:
        sys.stdout.write(shown(json.dumps(comparison_dict(result), indent=2)) + "\n")
    else:
        sys.stdout.write(for_terminal(result.text(top=args.top)))
    return 0
