"""Unpacking layer tars: ``read_layer`` builds a ``LayerDir`` with Docker overlay2's rules.

Whiteouts and opaque directories, duplicate names, symlinked parents, hard links and every
refusal (``UnsafeEntry``) are listed in the package docstring (``labkit.oci.tar``).
``checked`` applies the same rules to a stream of entries without keeping the layer (what
``Image.iter_entries`` and so ``labkit inspect`` use: what ``read_layer`` refuses, it refuses).
``layer_rows``/``rows_layer`` turn a layer into plain tuples and back (to pass it between
processes).

A layer's entries and the directories they imply count against ``entries_per_layer`` of the
``oci.limits.Limits`` in use, and against ``entries_per_image`` through a ``Tally``.
"""
from __future__ import annotations

import posixpath
from dataclasses import replace
from typing import IO, Iterable, Iterator

from ...errors import LimitExceeded, UnsafeEntry
from ...fs.node import WHITEOUT_PREFIX, LayerDir, Node
from ..limits import Limits, Tally, current
from .reader import _NODE_KEYS, TarEntry, _can_build_fast, _parse, _shown, go_clean, node_dict

__all__ = ["read_layer", "checked", "layer_rows", "rows_layer"]


_MAX_SYMLINK_HOPS = 40             # the kernel's ELOOP limit


# --------------------------------------------------------------------------- read_layer

def _same_key(raw: str, path: str) -> bool:
    """Whether ``go_clean(raw) == path`` for the common unclean forms ``./a`` and ``a/``
    (Docker's and GNU tar's names), without cleaning: such an entry is its own key, as a
    clean name is."""
    if raw[:2] == "./":
        raw = raw[2:]
    if raw[-1:] == "/":
        raw = raw[:-1]
    return raw == path


class _Unpacker:
    """Docker's overlay2 unpack of one layer, into a dict instead of a directory."""

    def __init__(self, name: str, limits: Limits | None = None) -> None:
        self.name = name
        self.out: dict[str, Node] = {}
        self.kids: dict[str, set[str]] | None = None   # parent -> children, from the first remove on
        self.groups: dict[int, set[str]] = {}
        self.seen: set[str] = set()
        self.next_inode = 1
        self.implied = 0                                # directories created for missing parents
        self.max_entries = (limits if limits is not None else current()).entries_per_layer

    @property
    def count(self) -> int:
        """Entries so far (the keys seen) plus the directories they implied."""
        return len(self.seen) + self.implied

    # -- storage
    def put(self, path: str, node: Node) -> None:
        old = self.out.get(path)
        if old is not None and old.inode is not None and old.inode != node.inode:
            self.groups[old.inode].discard(path)
        self.out[path] = node
        if old is None and self.kids is not None:
            self._kid(path)
        if node.inode is not None:
            self.groups.setdefault(node.inode, set()).add(path)

    def _kid(self, path: str) -> None:
        par = path.rpartition("/")[0]
        kids = self.kids.get(par)  # type: ignore[union-attr]
        if kids is None:
            self.kids[par] = {path}  # type: ignore[index]
        else:
            kids.add(path)

    def remove(self, path: str) -> None:
        node = self.out.pop(path, None)
        if node is None:
            return
        if self.kids is None:      # most layers never remove anything: index only when needed
            self.kids = {}
            for p in self.out:
                self._kid(p)
        self.kids.get(path.rpartition("/")[0], set()).discard(path)
        if node.inode is not None:
            self.groups[node.inode].discard(path)
        stack = list(self.kids.pop(path, ()))
        while stack:
            p = stack.pop()
            n = self.out.pop(p, None)
            if n is not None and n.inode is not None:
                self.groups[n.inode].discard(p)
            stack.extend(self.kids.pop(p, ()))

    # -- lookups
    def resolve_dir(self, path: str, raw: str, *, create: bool) -> str:
        """The real directory ``path`` names in this layer, following this layer's symlinks
        and creating missing parents (``Node.dir(0o755)``) when ``create``."""
        if path == "":
            return ""
        n = self.out.get(path)
        if n is not None and n.kind == "dir":
            return path
        todo = [(c, False) for c in reversed(path.split("/"))]
        cur = ""
        hops = 0
        while todo:
            c, via_link = todo.pop()
            if c in ("", "."):
                continue
            if c == "..":
                cur = cur.rpartition("/")[0]
                continue
            p = f"{cur}/{c}" if cur else c
            n = self.out.get(p)
            if n is None:
                if via_link or not create:
                    raise UnsafeEntry(raw, f"{p!r} does not exist in this layer (in {self.name}); "
                                      "Docker fails with 'no such file or directory'",
                                      fix="add the directory (or the link's target) earlier in the layer")
                self.implied += 1
                if len(self.seen) + self.implied > self.max_entries:
                    raise LimitExceeded(f"{self.name}: entries and the directories they imply "
                                        f"(at {_shown(raw)})", "entries_per_layer",
                                        len(self.seen) + self.implied, self.max_entries)
                self.put(p, _IMPLIED_DIR)   # one shared value: Nodes are never changed
                cur = p
            elif n.kind == "dir":
                cur = p
            elif n.kind == "symlink":
                hops += 1
                if hops > _MAX_SYMLINK_HOPS:
                    raise UnsafeEntry(raw, f"too many levels of symbolic links at {p!r} (in {self.name})",
                                      fix="remove the symlink loop from the layer")
                if n.linkname.startswith("/"):
                    cur = ""
                todo.extend((x, True) for x in reversed(n.linkname.split("/")))
            else:
                raise UnsafeEntry(raw, f"{p!r} is a {n.kind}, not a directory (in {self.name}); "
                                  "Docker fails with 'not a directory'",
                                  fix="put the directory entry before its contents, or drop the whiteout")
        return cur

    def where(self, path: str, raw: str, *, create: bool = True) -> str:
        par, _, base = path.rpartition("/")
        real = self.resolve_dir(par, raw, create=create)
        return f"{real}/{base}" if real else base

    # -- entries
    def add_all(self, records: Iterator[tuple]) -> None:
        """``add`` each entry, given as ``(path, node, raw_name, hardlink, opaque)`` (see
        ``_parse``). The common case (a clean name not seen before, not a whiteout or a hard
        link, new in this layer, its parent a directory of this layer) is done inline: it is
        exactly what ``add`` -> ``entry`` -> ``put`` would do for it."""
        out, seen, add = self.out, self.seen, self.add
        for p, node, raw, hardlink, opaque in records:
            # A name that is its own key (whiteouts and opaque markers never are: their path
            # is not their name) and new, under a directory of this layer, with nothing ever
            # removed (kids is None): then ``p in seen`` would imply ``p in out`` (an entry of
            # a clean name under real directories is stored at that name), so one lookup does.
            if (raw == p or _same_key(raw, p)) and p and p not in out and not hardlink \
                    and self.kids is None:
                par = p.rpartition("/")[0]
                if not par:
                    seen.add(p)
                    out[p] = node
                    continue
                n = out.get(par)
                if n is not None and n.kind == "dir":
                    seen.add(p)
                    out[p] = node
                    continue
            add(TarEntry(p, node, raw, hardlink, opaque))

    def add(self, e: TarEntry) -> None:
        raw = e.raw_name
        key = raw if raw and raw == e.path else go_clean(raw)   # a clean name is its own key
        if key in self.seen:
            raise UnsafeEntry(raw, f"the same path appears twice in one layer (in {self.name}); "
                              "Docker refuses it: 'duplicates of file paths not supported'",
                              fix="keep only the last entry for this path")
        self.seen.add(key)
        if key == ".":
            return  # Docker skips the "." entry whatever its type
        if e.opaque:
            self.opaque(e)
        elif key.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
            self.whiteout(e)
        elif e.path == "":
            if e.node.kind != "dir":
                raise UnsafeEntry(raw, f"the layer root can only be a directory (in {self.name})",
                                  fix="drop this entry")
        elif e.hardlink:
            self.link(e)
        else:
            self.entry(e)

    def opaque(self, e: TarEntry) -> None:
        if e.path == "":
            return  # overlayfs ignores the opaque xattr on a layer's root
        where = self.where(e.path, e.raw_name)
        n = self.out.get(where)
        if n is None:
            self.put(where, Node.dir(0o755).with_opaque())
        elif n.kind == "dir":
            self.put(where, n.with_opaque())
        elif n.kind == "symlink":
            real = self.resolve_dir(where, e.raw_name, create=False)
            self.put(real, self.out[real].with_opaque()) if real else None
        # on a file, device or whiteout the xattr is set but means nothing to overlayfs

    def whiteout(self, e: TarEntry) -> None:
        where = self.where(e.path, e.raw_name)
        marker = where.rpartition("/")[0]
        own = f"{marker}/{posixpath.basename(go_clean(e.raw_name))}".lstrip("/")
        o = self.out.get(own)
        if o is not None and not (o.kind == "dir" and e.raw_name.endswith("/")):
            self.remove(own)  # Docker first removes an existing entry of the marker's own name
        if where in self.out:
            raise UnsafeEntry(e.raw_name, f"whiteout for {where!r}, which this layer already has "
                              f"(in {self.name}); Docker refuses it: mknod: file exists",
                              fix="a whiteout only deletes lower layers: drop the entry or the whiteout")
        self.put(where, Node.whiteout())

    def entry(self, e: TarEntry) -> None:
        where = e.path
        par = where.rpartition("/")[0]
        if par:
            n = self.out.get(par)
            if n is None or n.kind != "dir":    # missing, or reached through a symlink
                where = self.where(where, e.raw_name)
        old = self.out.get(where)
        node = e.node
        if old is not None:
            if old.kind == "dir" and node.kind == "dir":
                merged = dict(old.xattrs)
                merged.update(node.xattrs)
                node = replace(node, xattrs=tuple(sorted(merged.items())))
            else:
                self.remove(where)
        self.put(where, node)

    def link(self, e: TarEntry) -> None:
        where = self.where(e.path, e.raw_name)
        old = self.out.get(where)
        if old is not None and not (old.kind == "dir" and e.node.kind == "dir"):
            self.remove(where)
        try:
            target = self.where(e.hardlink, e.raw_name, create=False) if e.hardlink else ""
        except UnsafeEntry:
            target = None  # type: ignore[assignment]
        t = self.out.get(target) if target else None
        if t is None:
            raise UnsafeEntry(e.raw_name, f"hard link to {e.hardlink!r}, which is not an earlier "
                              f"entry of this layer (in {self.name}); Docker fails: no such file",
                              fix="a hard link must point to a file stored earlier in the same layer")
        if t.kind == "dir":
            raise UnsafeEntry(e.raw_name, f"hard link to the directory {e.hardlink!r} (in {self.name}); "
                              "Docker fails: operation not permitted",
                              fix="hard links can only point to non-directories")
        inode = t.inode
        if inode is None:
            inode = self.next_inode
            self.next_inode += 1
        h = e.node
        xattrs = dict(t.xattrs)
        xattrs.update(h.xattrs)
        if t.kind == "whiteout":
            shared = replace(t, inode=inode)
        elif t.kind == "symlink":   # no chmod/chtimes through a symlink; owner still changes
            shared = replace(t, inode=inode, uid=h.uid, gid=h.gid, xattrs=tuple(sorted(xattrs.items())))
        else:
            shared = replace(t, inode=inode, uid=h.uid, gid=h.gid, mode=h.mode, mtime=h.mtime,
                             xattrs=tuple(sorted(xattrs.items())))
        for p in list(self.groups.get(inode, ())) + [target]:
            self.put(p, shared)
        self.put(where, shared)


_IMPLIED_DIR = Node.dir(0o755)


def read_layer(fileobj: IO[bytes], *, with_data: bool = True, name: str = "layer",
               digest: bool = True, limits: Limits | None = None,
               tally: Tally | None = None) -> LayerDir:
    """Unpack a layer tar the way Docker's overlay2 does, into a ``LayerDir`` (sorted).

    Raises ``UnsafeEntry`` (naming the entry) for what Docker refuses, ``LayerError`` for
    a malformed stream, ``LimitExceeded`` past a budget of ``limits`` (default
    ``limits.current()``; see ``reader.iter_entries``). Content is kept only with
    ``with_data=True``. ``tally`` counts the layer's entries towards ``entries_per_image``.
    """
    return _read_layer(fileobj, with_data, name, digest, limits, tally)[0]


def _read_layer(fileobj: IO[bytes], with_data: bool, name: str, digest: bool,
                limits: Limits | None, tally: Tally | None) -> tuple[LayerDir, int]:
    """``read_layer``, and the count of entries (and implied directories) it had."""
    if limits is None:
        limits = current()
    u = _Unpacker(name, limits)
    u.add_all(_parse(fileobj, with_data, name, digest, 0, True, limits))
    count = u.count
    if tally is not None:
        tally.add_layer(count, name)
    out = u.out
    u.seen.clear()                  # not needed any more: freed before the sorted copy is made
    u.kids = None
    return {p: out[p] for p in sorted(out)}, count


# placeholders the rules need instead of each entry's Node: only the kind matters to them
# (and a symlink's target, so symlinks keep theirs)
_LIGHT = {kind: Node(kind) for kind in ("file", "dir", "char", "block", "fifo")}
_LIGHT["whiteout"] = Node.whiteout()


def checked(entries: Iterable[TarEntry], *, name: str = "layer", limits: Limits | None = None,
            tally: Tally | None = None) -> Iterator[TarEntry]:
    """``entries`` of one layer (from ``reader.iter_entries``) passed on unchanged, each after
    Docker's unpack rules accepted it: ``UnsafeEntry`` for what ``read_layer`` refuses (a
    duplicate name, a child of a file or whiteout, a hard link to nothing earlier ...),
    ``LimitExceeded`` when the entries and the directories they imply pass
    ``entries_per_layer``. Only each path's kind is kept, not the Nodes. ``tally`` counts
    the layer's entries towards ``entries_per_image`` once the stream ends."""
    u = _Unpacker(name, limits)
    out, seen, add, light = u.out, u.seen, u.add, _LIGHT
    indexed = False                 # u.kids is not None: no shortcut (see add_all)
    last_dir = None                 # the parent of the last shortcut entry, a directory of out
    for e in entries:
        p, raw = e.path, e.raw_name
        # add_all's common case (see there), in the fewest steps: this runs once per entry
        if not indexed and (raw == p or _same_key(raw, p)) and p and p not in out and not e.hardlink:
            par = p.rpartition("/")[0]
            if par == last_dir or not par:
                node = e.node
                seen.add(p)
                out[p] = light.get(node.kind, node)      # a symlink keeps its Node (its target)
                yield e
                continue
            n = out.get(par)
            if n is not None and n.kind == "dir":
                last_dir = par
                node = e.node
                seen.add(p)
                out[p] = light.get(node.kind, node)
                yield e
                continue
        node = e.node
        add(TarEntry(p, light.get(node.kind, node), raw, e.hardlink, e.opaque))
        indexed = u.kids is not None
        last_dir = None             # what add did may have changed any directory
        yield e
    if tally is not None:
        tally.add_layer(u.count, name)


def layer_rows(layer: LayerDir) -> list[tuple]:
    """``layer`` as plain tuples ``(path, kind, mode, uid, gid, mtime, size, sha256, data,
    linkname, rdev, xattrs, inode)``: cheap to pickle (to pass a layer between processes),
    unlike Nodes. ``rows_layer`` is the inverse."""
    if _can_build_fast():
        return [(p, *n.__dict__.values()) for p, n in layer.items()]
    return [(p, *(getattr(n, k) for k in _NODE_KEYS)) for p, n in layer.items()]


def rows_layer(rows: list[tuple]) -> LayerDir:
    """The ``LayerDir`` that ``layer_rows`` made ``rows`` from (equal Nodes, same order)."""
    out: dict[str, Node] = {}
    if not _can_build_fast():
        for row in rows:
            out[row[0]] = Node(**dict(zip(_NODE_KEYS, row[1:])))  # type: ignore[arg-type]
        return out
    new, setattr_ = object.__new__, object.__setattr__
    for p, kind, mode, uid, gid, mtime, size, sha, data, link, rdev, xattrs, inode in rows:
        obj = new(Node)
        d = node_dict()           # the keys of _NODE_KEYS, in that order (see reader.node_dict)
        d["kind"] = kind
        d["mode"] = mode
        d["uid"] = uid
        d["gid"] = gid
        d["mtime"] = mtime
        d["size"] = size
        d["sha256"] = sha
        d["data"] = data
        d["linkname"] = link
        d["rdev"] = rdev
        d["xattrs"] = xattrs
        d["inode"] = inode
        setattr_(obj, "__dict__", d)
        out[p] = obj
    return out
