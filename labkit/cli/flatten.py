"""Flatten a saved image: the filesystem a container of it starts with (layers merged)."""
from __future__ import annotations

import argparse
import stat
import sys
from typing import IO

from ..errors import LabkitError
from ..formatting import escape_controls
from ..oci.flatten import flatten, json_text
from ..oci.tar.reader import gc_paused
from .common import PIPE_HELP, add_limit_option, count, input_path, shown


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "") + (
        " Layers are unpacked with Docker overlay2's rules; a layer Docker would refuse "
        "makes the command fail with the reason. File contents are streamed, never kept.")
    parser.add_argument("image", metavar="IMAGE.tar",
                        help="a docker-save tar (legacy or OCI layout) or an OCI layout directory; "
                             + PIPE_HELP % "flatten")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: path -> {type, mode, size, sha256 | linkname}")
    parser.add_argument("--tag", help="which image, when the tar holds several")
    parser.add_argument("--jobs", type=count(1), default=None, metavar="N",
                        help="processes reading layers, this one included (default: every CPU for "
                             "images of 16 MB or more; 1 reads in this process)")
    add_limit_option(parser)


def print_tree(tree: dict, out: IO[str]) -> None:
    """One line per path, like ``ls -l``; names and link targets with control characters escaped."""
    for path, n in tree.items():
        depth = path.count("/")
        name = escape_controls(path.rpartition("/")[2])
        extra = ""
        if n.kind == "dir":
            name += "/"
        elif n.kind == "symlink":
            extra = f" -> {escape_controls(n.linkname)}"
        elif n.kind in ("char", "block"):
            extra = f" ({n.rdev[0]},{n.rdev[1]})"
        size = str(n.size) if n.kind == "file" else ""
        out.write(f"{stat.filemode(n.st_mode)} {n.uid:>5}:{n.gid:<5} {size:>10}  "
                  f"{'  ' * depth}{name}{extra}\n")


def run(args: argparse.Namespace) -> int:
    limits = getattr(args, "limits", None)
    try:
        with input_path(args.image, "image", limits) as source:
            tree = flatten(source, tag=getattr(args, "tag", None),
                           digest=bool(args.json),   # the listing shows no sha256
                           jobs=getattr(args, "jobs", None), limits=limits)
    except LabkitError as exc:
        reason = escape_controls(" ".join(shown(str(exc)).split()))
        name = escape_controls(args.image)
        where = "" if reason.startswith((name + ":", name + " ")) else f"{name}: "
        print(f"labkit flatten: error: {where}{reason}", file=sys.stderr)
        return 1
    with gc_paused():
        if args.json:
            sys.stdout.write(json_text(tree))
            sys.stdout.write("\n")
        else:
            print_tree(tree, sys.stdout)
    return 0
