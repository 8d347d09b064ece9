"""Flatten a saved image: the filesystem a container of it starts with (layers merged)."""
from __future__ import annotations

import argparse
import json
import stat
import sys
from typing import IO, Any, Iterator

from ..errors import LabkitError


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = (__doc__ or "") + (
        " Layers are unpacked with Docker overlay2's rules; a layer Docker would refuse "
        "makes the command fail with the reason. File contents are streamed, never kept.")
    parser.add_argument("image", metavar="IMAGE.tar",
                        help="a docker-save tar (legacy or OCI layout) or an OCI layout directory")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object: path -> {type, mode, size, sha256 | linkname}")
    parser.add_argument("--tag", help="which image, when the tar holds several")


def _layers(img: Any, digest: bool = True) -> Iterator[dict]:
    from ..tarlayer import read_layer
    for i in range(len(img.layers)):
        with img.open_layer(i) as f:
            layer = read_layer(f, with_data=False, name=f"layer {i}", digest=digest)
            f.finish()   # reads the rest and checks the layer's digests
        yield layer


def flatten(source: str, *, tag: str | None = None, digest: bool = True) -> dict:
    """The merged ``Tree`` of a saved image (metadata and sha256 only; ``digest=False``
    leaves ``sha256`` empty and skips hashing each file: the layers are still verified)."""
    from ..image import open_image
    from ..layers import check_layer_count, merge
    with open_image(source, tag=tag, verify=False) as img:
        check_layer_count(len(img.layers), "docker")
        return merge(_layers(img, digest))


def to_json(tree: dict) -> dict[str, dict[str, Any]]:
    """path -> {"type", "mode", "size"+"sha256" (files) | "linkname" (symlinks) | "rdev"}."""
    out: dict[str, dict[str, Any]] = {}
    for path, n in tree.items():
        d: dict[str, Any] = {"type": n.kind, "mode": n.mode & 0o7777}
        if n.kind == "file":
            d["size"], d["sha256"] = n.size, n.sha256
        elif n.kind == "symlink":
            d["linkname"] = n.linkname
        elif n.kind in ("char", "block"):
            d["rdev"] = list(n.rdev)
        out[path] = d
    return out


def print_tree(tree: dict, out: IO[str]) -> None:
    for path, n in tree.items():
        depth = path.count("/")
        name = path.rpartition("/")[2]
        extra = ""
        if n.kind == "dir":
            name += "/"
        elif n.kind == "symlink":
            extra = f" -> {n.linkname}"
        elif n.kind in ("char", "block"):
            extra = f" ({n.rdev[0]},{n.rdev[1]})"
        size = str(n.size) if n.kind == "file" else ""
        out.write(f"{stat.filemode(n.st_mode)} {n.uid:>5}:{n.gid:<5} {size:>10}  "
                  f"{'  ' * depth}{name}{extra}\n")


def run(args: argparse.Namespace) -> int:
    try:
        tree = flatten(args.image, tag=getattr(args, "tag", None),
                       digest=bool(args.json))   # the listing shows no sha256
    except LabkitError as exc:
        reason = " ".join(str(exc).split())
        print(f"labkit flatten: {args.image}: {reason}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(to_json(tree), sys.stdout, sort_keys=True)
        sys.stdout.write("\n")
    else:
        print_tree(tree, sys.stdout)
    return 0
