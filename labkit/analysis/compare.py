"""Two images side by side: which layers they share, what a pull of B costs when A is
already present, and how their final filesystems differ path by path.

Sharing is judged two ways. By **diffID** (same layer content, anywhere in the stack) and by
**chainID** (same content on the same layers below). Docker's layer store keys layers by
chainID, so a pull of B reuses exactly the layers whose chainID A already has — a layer with
the same diffID on a different parent is downloaded again.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..formatting import human_size, short_instruction
from ..fs.layers import merge
from ..oci.image import Image, Layer
from .report import comparison_dict, comparison_html, comparison_text


@dataclass(frozen=True)
class PathChange:
    kind: Literal["A", "C", "D"]   # added in B, changed, deleted (in A, not in B)
    path: str                      # absolute, like docker diff prints it
    size_a: int = 0
    size_b: int = 0
    why: str = ""                  # for C: what differs ("content", "mode", "kind" ...)

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


@dataclass(frozen=True, eq=False)
class Comparison:
    a_id: str
    b_id: str
    a_tags: tuple[str, ...]
    b_tags: tuple[str, ...]
    a_layers: tuple[Layer, ...]
    b_layers: tuple[Layer, ...]
    shared_chain: int                      # bottom layers of B that A has (same chainID)
    shared_diff_ids: tuple[str, ...]       # diffIDs of B that A also has (any position)
    transfer_layers: tuple[int, ...]       # indexes of B's layers a pull must fetch
    transfer_blob_bytes: int               # bytes of those blobs as stored
    transfer_size: int                     # their uncompressed tar bytes
    changes: tuple[PathChange, ...]        # sorted by path

    @property
    def added(self) -> tuple[PathChange, ...]:
        return tuple(c for c in self.changes if c.kind == "A")

    @property
    def changed(self) -> tuple[PathChange, ...]:
        return tuple(c for c in self.changes if c.kind == "C")

    @property
    def deleted(self) -> tuple[PathChange, ...]:
        return tuple(c for c in self.changes if c.kind == "D")

    def to_dict(self) -> dict[str, Any]:
        return comparison_dict(self)

    def text(self, *, top: int = 20) -> str:
        return comparison_text(self, top=top)

    def html(self) -> str:
        return comparison_html(self)

    def _repr_html_(self) -> str:
        return self.html()

    def __str__(self) -> str:
        return self.text()


def _final_tree(image: Image) -> dict[str, Any]:
    return merge(image.layer_dir(i, with_data=False) for i in range(len(image.layers)))


def _differs(a: Any, b: Any) -> str:
    if a.kind != b.kind:
        return f"kind {a.kind} -> {b.kind}"
    if a.kind == "file" and (a.size != b.size or (a.sha256 and b.sha256 and a.sha256 != b.sha256)):
        return "content"
    if a.kind == "symlink" and a.linkname != b.linkname:
        return "link target"
    if a.kind in ("char", "block") and a.rdev != b.rdev:
        return "device"
    if a.mode != b.mode:
        return f"mode {a.mode:o} -> {b.mode:o}"
    if (a.uid, a.gid) != (b.uid, b.gid):
        return "owner"
    return ""


def compare(a: Image, b: Image, *, paths: bool = True) -> Comparison:
    """Compare two opened images (see ``open_image``). ``paths=False`` skips the per-path
    diff (which streams every layer of both images)."""
    a_chain = set(a.chain_ids)
    b_chain = b.chain_ids
    shared_chain = 0
    while shared_chain < len(b_chain) and b_chain[shared_chain] in a_chain:
        shared_chain += 1
    a_diffs = set(a.diff_ids)
    shared_diff = tuple(d for d in b.diff_ids if d in a_diffs)
    transfer = tuple(range(shared_chain, len(b.layers)))
    changes: list[PathChange] = []
    if paths:
        ta, tb = _final_tree(a), _final_tree(b)
        for p in sorted(set(ta) | set(tb)):
            na, nb = ta.get(p), tb.get(p)
            if na is None:
                changes.append(PathChange("A", "/" + p, 0, nb.size))
            elif nb is None:
                changes.append(PathChange("D", "/" + p, na.size, 0))
            else:
                why = _differs(na, nb)
                if why:
                    changes.append(PathChange("C", "/" + p, na.size, nb.size, why))
    return Comparison(
        a_id=a.ref.id, b_id=b.ref.id, a_tags=a.ref.tags, b_tags=b.ref.tags,
        a_layers=a.layers, b_layers=b.layers, shared_chain=shared_chain, shared_diff_ids=shared_diff,
        transfer_layers=transfer,
        transfer_blob_bytes=sum(b.layers[i].blob_size for i in transfer),
        transfer_size=sum(max(b.layers[i].tar_size, 0) for i in transfer),
        changes=tuple(changes))


def describe_layer(layer: Layer) -> str:
    return (f"{layer.diff_id[7:19]} {human_size(max(layer.size, 0)):>8}  "
            f"{short_instruction(layer.created_by) or '(no history)'}")


compare_images = compare  # the public name: ``labkit.analysis.compare`` is this module
