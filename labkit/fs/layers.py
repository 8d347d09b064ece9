"""Layers as changesets: merge them (the overlay2 way), diff a container, squash, limits.

An image is a stack of layer directories (``LayerDir``, bottom first). The merged view a
container sees (``Tree``) is what overlayfs shows when each layer is a lower directory:

* a non-directory hides everything of that name below it (and a directory's subtree);
* a directory over a directory keeps the children below and takes the new attributes;
* a ``whiteout`` deletes the name below; an opaque directory hides everything below it.

``merge`` keeps one dict index (path -> Node) plus a children index for subtree removal,
so every lookup is one dict access whatever the number of layers.
Hard-link groups (``Node.inode``) are renumbered so that groups of different layers never
collide in a merged view.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Iterable, Mapping, Sequence

from ..errors import LayerError
from ..values import Change
from .node import OPAQUE_XATTR, LayerDir, Node, Tree

__all__ = ["merge", "apply", "diff", "squash", "check_layer_count", "same_entry",
           "MAX_DOCKER_LAYERS", "KERNEL_MAX_LOWERS", "DOCKER_LAYER_STORE_MAX", "LIMITS"]

MAX_DOCKER_LAYERS = 128        # overlay2 refuses to mount more lowers ("max depth exceeded")
KERNEL_MAX_LOWERS = 500        # overlayfs: OVL_MAX_STACK
DOCKER_LAYER_STORE_MAX = 125   # Docker's layer store refuses images deeper than this
LIMITS = {"overlay2": MAX_DOCKER_LAYERS, "docker": DOCKER_LAYER_STORE_MAX,
          "kernel": KERNEL_MAX_LOWERS, "overlay": KERNEL_MAX_LOWERS}


def check_layer_count(n: int, driver: str = "overlay2") -> None:
    """Raise ``LayerError`` when ``n`` layers is more than ``driver`` can stack.

    ``overlay2``: Docker's driver mounts at most 128 lowers; ``docker``: its layer store
    loads at most 125 layers per image; ``kernel``/``overlay``: overlayfs stacks 500.
    """
    if driver not in LIMITS:
        raise LayerError(f"unknown driver {driver!r} for a layer limit",
                         fix=f"use one of {', '.join(sorted(LIMITS))}")
    limit = LIMITS[driver]
    if n > limit:
        what = {"overlay2": "Docker's overlay2 driver mounts at most",
                "docker": "Docker's layer store accepts at most",
                }.get(driver, "the kernel's overlayfs stacks at most")
        raise LayerError(f"{n} layers is too many: {what} {limit} layers ({driver}); "
                         f"{n - limit} too many",
                         fix="squash layers (combine RUN steps, multi-stage builds, or "
                             "labkit.squash) to get under the limit")


# --------------------------------------------------------------------------- merging

class _Index:
    """A merged view under construction: the dict plus a children index."""

    __slots__ = ("tree", "kids", "next_inode")

    def __init__(self, tree: Tree | None = None) -> None:
        self.tree: dict[str, Node] = {}
        self.kids: dict[str, set[str]] = {}
        self.next_inode = 1
        if tree:
            for p in sorted(tree, key=_depth_key):
                self._put(p, tree[p])
                if tree[p].inode is not None and tree[p].inode >= self.next_inode:
                    self.next_inode = tree[p].inode + 1

    def _put(self, path: str, node: Node) -> None:
        if path not in self.tree:
            par = path.rpartition("/")[0]
            s = self.kids.get(par)
            if s is None:
                self.kids[par] = {path}
            else:
                s.add(path)
        self.tree[path] = node

    def _drop_children(self, path: str) -> None:
        stack = list(self.kids.pop(path, ()))
        while stack:
            p = stack.pop()
            self.tree.pop(p, None)
            stack.extend(self.kids.pop(p, ()))

    def _drop(self, path: str) -> None:
        if self.tree.pop(path, None) is not None:
            self.kids.get(path.rpartition("/")[0], set()).discard(path)
            self._drop_children(path)

    def _ensure_parents(self, path: str) -> None:
        par = path.rpartition("/")[0]
        missing = []
        while par:
            n = self.tree.get(par)
            if n is not None and n.kind == "dir":
                break
            missing.append(par)
            par = par.rpartition("/")[0]
        for p in reversed(missing):
            self._drop(p)
            self._put(p, Node.dir(0o755))

    def apply(self, layer: LayerDir) -> None:
        renum: dict[int, int] = {}
        tree, kids = self.tree, self.kids
        # parents before children: plain string order does that (a prefix sorts first)
        for path in sorted(layer):
            node = layer[path]
            if not path:
                continue
            if node.kind == "whiteout":
                self._drop(path)
                continue
            par = path.rpartition("/")[0]
            if par:
                pn = tree.get(par)
                if pn is None or pn.kind != "dir":
                    self._ensure_parents(path)
            if node.inode is not None:
                new = renum.get(node.inode)
                if new is None:
                    new = renum[node.inode] = self.next_inode
                    self.next_inode += 1
                node = replace(node, inode=new)
            old = self.tree.get(path)
            if node.kind == "dir":
                if node.xattrs:
                    opaque = node.opaque
                    node = replace(node, xattrs=tuple(x for x in node.xattrs if x[0] != OPAQUE_XATTR))
                    if opaque:
                        self._drop_children(path)
                if old is not None and old.kind != "dir":
                    self._drop(path)
            elif old is not None:
                self._drop(path)
            if path not in tree:          # _put, inlined
                s = kids.get(par)
                if s is None:
                    kids[par] = {path}
                else:
                    s.add(path)
            tree[path] = node


def _depth_key(path: str) -> tuple[int, str]:
    # parents before children; any order among one depth is fine for the rules above
    return (path.count("/"), path)


def merge(layers: Iterable[LayerDir]) -> Tree:
    """The merged view of ``layers`` (BOTTOM first; any iterable, consumed one layer at a
    time): no whiteouts, no opaque xattrs."""
    idx = _Index()
    for layer in layers:
        idx.apply(layer)
    return dict(sorted(idx.tree.items()))


def apply(tree: Tree, layer: LayerDir) -> Tree:
    """A NEW merged view: ``layer`` stacked on ``tree`` (which is left unchanged)."""
    idx = _Index(tree)
    idx.apply(layer)
    return dict(sorted(idx.tree.items()))


# --------------------------------------------------------------------------- comparing

def same_entry(a: Node, b: Node) -> bool:
    """Equal as files are: type, metadata and content (``data`` and ``inode`` ignored)."""
    return (a.kind == b.kind and a.mode == b.mode and a.uid == b.uid and a.gid == b.gid
            and a.mtime == b.mtime and a.size == b.size and a.sha256 == b.sha256
            and a.linkname == b.linkname and a.rdev == b.rdev and a.xattrs == b.xattrs)


def _stat_different(old: Node, new: Node) -> bool:
    """``docker diff``'s test (moby archive.statDifferent): type+mode, owner, rdev, and for
    non-directories mtime and size. labkit adds content and link target, which Docker
    would miss only when a change keeps both size and mtime."""
    if old.st_mode != new.st_mode or old.uid != new.uid or old.gid != new.gid or old.rdev != new.rdev:
        return True
    if new.kind == "dir":
        return False   # a directory's mtime or size alone is not a change
    if old.mtime != new.mtime or old.size != new.size or old.linkname != new.linkname:
        return True
    return bool(old.sha256 and new.sha256 and old.sha256 != new.sha256)


def diff(lowers: Sequence[LayerDir], upper: LayerDir) -> list[Change]:
    """``docker diff`` of a container whose image is ``lowers`` (BOTTOM first) and whose
    upper (writable) directory is ``upper``: A added, C changed, D deleted, sorted by path.

    Deleting a directory reports only the directory; replacing a directory by a file
    reports C; parents of any change are C; a directory whose only change is its mtime
    is not reported (Docker's rule).
    """
    old = _Index()
    for layer in lowers:
        old.apply(layer)
    new = _Index()
    new.tree = dict(old.tree)
    new.kids = {k: set(v) for k, v in old.kids.items()}
    new.next_inode = old.next_inode
    new.apply(upper)
    o, n = old.tree, new.tree
    kinds: dict[str, str] = {}
    for path in upper:
        if not path:
            continue
        a, b = o.get(path), n.get(path)
        if b is None:
            if a is not None and _parent_kept(path, o, n):
                kinds[path] = "D"
        elif a is None:
            if b is not None:
                kinds[path] = "A"
        elif _stat_different(a, b):
            kinds[path] = "C"
        if b is not None and b.kind == "dir" and a is not None and a.kind == "dir":
            for child in old.kids.get(path, ()):   # opaque dirs hide old children
                if child not in n:
                    kinds[child] = "D"
    for path in list(kinds):
        par = path.rpartition("/")[0]
        while par and par not in kinds:
            kinds[par] = "C" if par in o else "A"
            par = par.rpartition("/")[0]
    # added entries live under added dirs only when those were reported; keep Docker's
    # rule that an added dir's contents are added too (they are listed individually above)
    return sorted((Change(k, "/" + p) for p, k in kinds.items()), key=lambda c: c.path)


def _parent_kept(path: str, old: dict[str, Node], new: dict[str, Node]) -> bool:
    par = path.rpartition("/")[0]
    if not par:
        return True
    a, b = old.get(par), new.get(par)
    return a is not None and b is not None and a.kind == "dir" and b.kind == "dir"


# --------------------------------------------------------------------------- squashing

def squash(layers: Sequence[LayerDir], below: Sequence[LayerDir] = ()) -> LayerDir:
    """One layer directory equal to ``layers`` (BOTTOM first) stacked on ``below``.

    ``merge([*below, squash(layers, below)]) == merge([*below, *layers])``. With nothing
    below, the result is the merged view itself (whiteouts with nothing to hide vanish).
    Otherwise it holds the entries that differ from ``below``'s view, their parents,
    whiteouts for what was deleted, and opaque directories where nothing below survives.
    """
    old = _Index()
    for layer in below:
        old.apply(layer)
    new = _Index()
    new.tree = dict(old.tree)
    new.kids = {k: set(v) for k, v in old.kids.items()}
    new.next_inode = old.next_inode
    for layer in layers:
        new.apply(layer)
    o, n = old.tree, new.tree
    if not o:
        return dict(sorted(n.items()))
    out: dict[str, Node] = {}
    for path, node in n.items():
        a = o.get(path)
        if a is None or not same_entry(a, node) or (a.kind == "dir") != (node.kind == "dir"):
            out[path] = node
    # deletions: the top-most deleted path under a directory kept in both views
    for path in o:
        if path in n:
            continue
        par = path.rpartition("/")[0]
        if par and not (par in n and n[par].kind == "dir" and o[par].kind == "dir"):
            continue
        out[path] = Node.whiteout()
    # a dir where no old child survives: one opaque marker instead of many whiteouts
    for par, kids in old.kids.items():
        if not par or len(kids) < 2 or par not in n or n[par].kind != "dir" or o[par].kind != "dir":
            continue
        if all(k not in n for k in kids):
            for k in kids:
                out.pop(k, None)
            out[par] = n[par].with_opaque()
    for path in list(out):
        par = path.rpartition("/")[0]
        while par and par not in out:
            out[par] = n[par]
            par = par.rpartition("/")[0]
    return dict(sorted(out.items()))



layer_diff = diff  # the public name (engines have their own diff(container))


def size_on_disk(nodes: Mapping[str, Node]) -> int:
    """Bytes of a layer directory or merged tree as Docker counts them (``docker history`` SIZE,
    ``docker ps -s``, a driver's layer folder): a walk summing the lstat size of every
    non-directory: file content (each hard-link group once) and symlink targets' lengths;
    whiteouts (char 0/0) count 0."""
    seen: set[int] = set()
    total = 0
    for node in nodes.values():
        if node.kind == "symlink":
            total += len(node.linkname.encode())
        elif node.kind == "file":
            if node.inode is not None:
                if node.inode in seen:
                    continue
                seen.add(node.inode)
            total += node.size
    return total
