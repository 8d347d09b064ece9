"""Build a Dockerfile on the chosen engine and show each step: cache hit or built, layer size."""
from __future__ import annotations

import argparse
import contextlib
import os
import stat
from collections.abc import Iterator

from ..engine.connect import connect
from ..errors import LabkitError
from ..formatting import escape_controls, format_build
from ..oci.limits import Limits
from .common import add_limit_option, check_utf8, input_path, name_value


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("context", help="the build context folder")
    parser.add_argument("-f", "--file", default="Dockerfile",
                        help="the Dockerfile, relative to the context (default: Dockerfile); it may lie "
                             "outside it, as with Docker; '-' reads it from stdin")
    parser.add_argument("-t", "--tag", help="name the image (labkit prefixes labkit-<session>/)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--build-arg", action="append", default=[], type=name_value, metavar="NAME=VALUE")
    parser.add_argument("--engine", choices=("sim", "docker"), help="default: LABKIT_ENGINE or auto")
    add_limit_option(parser)


def check_context(context: str) -> None:
    """The context must be a folder labkit can list; checked before any engine is asked."""
    try:
        st = os.stat(context)
    except FileNotFoundError:
        raise LabkitError(f"the build context {context} does not exist",
                          fix="pass the folder that holds the Dockerfile and the files it COPYs") from None
    if not stat.S_ISDIR(st.st_mode):
        raise LabkitError(f"the build context {context} is not a folder",
                          fix="pass the folder that holds the Dockerfile and the files it COPYs")
    with os.scandir(context) as it:     # an unreadable folder: PermissionError, named by main
        next(it, None)
    ignore = os.path.join(context, ".dockerignore")
    if os.path.isfile(ignore):
        check_utf8(ignore, ignore, ".dockerignore")


@contextlib.contextmanager
def dockerfile(context: str, name: str, limits: Limits | None) -> Iterator[str]:
    """What to pass as ``dockerfile=``: ``name`` (relative to the context, as the engines take
    it), or the path of a temporary copy when it comes from stdin or a pipe."""
    if not name:
        raise LabkitError("-f names no Dockerfile", fix="pass -f NAME, or leave it out for Dockerfile")
    shown = name if name == "-" else os.path.join(context, name)
    with input_path(shown, "Dockerfile", limits, dirs=False) as path:
        assert path is not None
        check_utf8(path, shown, "Dockerfile")
        yield name if path == shown else os.path.abspath(path)


def run(args: argparse.Namespace) -> int:
    buildargs = dict(args.build_arg)
    limits = getattr(args, "limits", None)
    check_context(args.context)
    with dockerfile(args.context, args.file, limits) as name:
        engine = connect(args.engine)
        record = engine.build(args.context, dockerfile=name, tag=args.tag, no_cache=args.no_cache,
                              buildargs=buildargs)
    print(escape_controls(format_build(record), keep="\n"))
    return 0 if record.ok else 1
