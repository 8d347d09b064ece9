"""Build a Dockerfile on the chosen engine and show each step: cache hit or built, layer size."""
from __future__ import annotations

import argparse

from ..engine.connect import connect
from ..errors import LabkitError
from ..formatting import format_build


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("context", help="the build context folder")
    parser.add_argument("-f", "--file", default="Dockerfile", help="Dockerfile name in the context")
    parser.add_argument("-t", "--tag", help="name the image (labkit prefixes labkit-<session>/)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--build-arg", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--engine", choices=("sim", "docker"), help="default: LABKIT_ENGINE or auto")


def run(args: argparse.Namespace) -> int:
    buildargs = {}
    for item in args.build_arg:
        name, eq, value = item.partition("=")
        if not eq:
            raise LabkitError(f"--build-arg {item!r} has no '='", fix="write --build-arg NAME=VALUE")
        buildargs[name] = value
    engine = connect(args.engine)
    record = engine.build(args.context, dockerfile=args.file, tag=args.tag, no_cache=args.no_cache,
                          buildargs=buildargs)
    print(format_build(record))
    return 0 if record.ok else 1
