"""Lesson 04 helpers: whiteouts and opaque directories as they are really stored.

Two forms of the same thing:

* in a layer **tar** (``docker save``, a registry): ``DIR/.wh.NAME`` deletes NAME below,
  ``DIR/.wh..wh..opq`` hides everything below DIR — ``layer_entries`` lists a saved layer's
  raw tar names and says what each one means;
* in a layer **directory** on disk (overlay2's unpacked layers, a container's upper dir): a
  character device 0/0 named NAME, and the xattr ``trusted.overlay.opaque=y`` on DIR —
  ``on_disk`` writes a layer directory to a real directory and reads back what is there.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabkitError
from ..fs.kernel import raw_entries
from ..fs.node import LayerDir, norm_path
from ..fs.realfs import remove_tree, write_dir
from ..oci.image import open_image
from ..oci.tar.reader import iter_entries
from .lesson02 import model_entries


@dataclass(frozen=True)
class LayerEntry:
    """One raw entry of a layer tar and what it means."""
    raw_name: str          # as stored in the tar ("srv/data/.wh.a.txt")
    meaning: str           # "whiteout: deletes /srv/data/a.txt from the layers below"

    def __str__(self) -> str:
        return f"{self.raw_name:<30} {self.meaning}"


def _meaning(e) -> str:
    if e.opaque:
        return f"opaque marker: hides everything below /{e.path} in lower layers"
    if e.node.kind == "whiteout":
        return f"whiteout: deletes /{e.path} from the layers below"
    if e.hardlink:
        return f"hard link to /{e.hardlink}"
    if e.node.kind == "file":
        return f"file, {e.node.size} bytes"
    if e.node.kind == "symlink":
        return f"symlink -> {e.node.linkname}"
    return e.node.kind


def layer_entries(image_tar: str | Path, index: int = -1) -> list[LayerEntry]:
    """The raw entries of layer ``index`` (bottom first; -1 = top) of a saved image
    (``engine.save``), sorted by name, each with what it means."""
    img = open_image(image_tar)
    try:
        n = len(img.layers)
        if not -n <= index < n:
            raise LabkitError(f"the image has {n} layers, there is no layer {index}",
                              fix=f"use 0 .. {n - 1}, or -1 for the top layer")
        with img.open_layer(index % n) as stream:
            out = [LayerEntry(e.raw_name.rstrip("/").removeprefix("./"), _meaning(e))
                   for e in iter_entries(stream, digest=False)]
    finally:
        img.close()
    return sorted(out, key=lambda e: e.raw_name)


def whiteout_names(entries: list[LayerEntry]) -> list[str]:
    """Just the special names (``.wh.`` entries) of ``layer_entries``."""
    return [e.raw_name for e in entries if e.raw_name.rsplit("/", 1)[-1].startswith(".wh.")]


def format_entries(entries: list[LayerEntry]) -> str:
    return "\n".join(str(e) for e in entries) or "(empty layer)"


@dataclass(frozen=True)
class DiskView:
    """A layer directory as found on a real disk (or, without root, as the model holds it)."""
    lines: tuple[str, ...]     # "srv/data/a.txt  char 0/0" ... the same text either way
    source: str                # "read back from a real directory" or "the model (why)"

    def __str__(self) -> str:
        return "\n".join(self.lines) or "(empty)"


def on_disk(layer: LayerDir, *, under: str = "", real: bool = True) -> DiskView:
    """Write ``layer`` to a temporary directory the way overlay2 unpacks a layer (whiteouts
    as char devices 0/0, opaque dirs with ``trusted.overlay.opaque=y``), read it back with
    ``os.lstat``/``os.getxattr`` and list it; ``under`` limits it to one subtree. Needs root
    (device nodes, trusted xattrs); otherwise (or with ``real=False``) it lists the model in
    the same words."""
    top = norm_path(under)

    def keep(p: str) -> bool:
        return not top or p == top or p.startswith(top + "/")

    import os
    if real and os.geteuid() == 0:
        tmp = Path(tempfile.mkdtemp(prefix="labkit-ondisk-"))
        try:
            write_dir({p: n for p, n in layer.items() if keep(p) or top.startswith(p + "/")},
                      tmp / "layer")
            found = [e for e in raw_entries(tmp / "layer") if keep(e.path)]
            return DiskView(tuple(str(e) for e in found), "read back from a real directory")
        finally:
            remove_tree(tmp)
    found = [e for e in model_entries(layer) if keep(e.path)]
    return DiskView(tuple(str(e) for e in found), "the model" + ("" if not real else " (device nodes need root)"))
