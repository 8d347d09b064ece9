"""A model of the Linux kernel's overlayfs, mounted the way Docker's overlay2 driver does.

``Mount(lowers, upper)`` stacks layer directories (``lowers`` TOP first, like
``lowerdir=``) under one writable ``upper`` directory and answers filesystem calls the
way the kernel does with ``redirect_dir=off,index=off,metacopy=off``:

* lookup: a non-directory or whiteout hides every lower entry of its name; directories
  of one name merge their contents; an opaque directory hides everything below it;
* a write or metadata change copies the WHOLE file (and its parent directories) up to
  the upper directory first; reads never copy up; hard links break on copy-up;
* deleting a name that exists below leaves a whiteout (char 0/0); ``mkdir`` over a
  whiteout makes an opaque directory; ``rmdir`` of a merged directory needs it empty;
* renaming a directory that exists in a lower layer fails with ``EXDEV`` (``mv`` then
  copies); renaming a file copies it up and whites out its old name.

Kernel details the model keeps (each checked on a real mount in the tests): a directory
that comes from one layer only is read as it is, so ``listdir`` shows whiteouts inside it
as names ``stat`` cannot find; moving an upper-only directory into a merged directory
marks it opaque (even when the rename then fails); ``truncate`` always stamps mtime; a
new entry in a set-group-ID directory takes its group; ``chown`` clears set-user-ID.

Failures raise ``OSError(errno, strerror, path)`` with the errno the kernel gives.
Every call appends ``OpEvent`` values to ``Mount.events`` so a lesson can show copy-ups,
whiteouts and opaque directories as they happen.

The lowers are indexed once (path -> topmost entry, with whiteout and opaque
cut-offs applied), so a lookup costs the same with 128 lowers as with one.
"""
from __future__ import annotations

import errno as _errno
import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterator, Literal, Sequence

from ..errors import LabkitError
from .node import LayerDir, Node, Tree

UPPER = "upper"
"""``Mount.layers_of`` names the upper directory with this string; lowers by index."""

_MAX_SYMLINKS = 40   # the kernel's MAXSYMLINKS

EventKind = Literal["copy_up", "whiteout", "opaque", "create", "write", "remove",
                    "rename", "attr", "link_broken"]


@dataclass(frozen=True)
class OpEvent:
    """One thing a filesystem call did to the upper directory."""

    kind: EventKind
    path: str
    size: int = 0          # bytes copied or written
    detail: str = ""       # rename target, changed attribute, other hard-link name ...

    def __str__(self) -> str:
        p, d = self.path, self.detail
        if self.kind == "copy_up":
            if d == "dir":
                return f"copied up directory {p}"
            if d == "symlink":
                return f"copied up symlink {p}"
            return f"copied up {p}, {self.size} bytes"
        if self.kind == "whiteout":
            return f"whiteout {p}"
        if self.kind == "opaque":
            return f"opaque dir {p}"
        if self.kind == "create":
            return f"created {p} ({d})" if d else f"created {p}"
        if self.kind == "write":
            return f"wrote {p}, {self.size} bytes"
        if self.kind == "remove":
            return f"removed {p} from upper"
        if self.kind == "rename":
            return f"renamed {p} -> {d}"
        if self.kind == "attr":
            return f"changed {d} of {p}"
        return f"hard link broken: {p} no longer shares data with {d}"


@dataclass(frozen=True)
class Cred:
    """Who makes the calls. Root (the default) passes every permission check; anyone else
    gets the kernel's checks: search on every directory of a path, read/write bits by
    owner, group (``gid`` and ``groups``) or other, owner-only chmod/chown/utime, the
    sticky bit, and ``fs.protected_hardlinks=1`` (the usual host setting)."""

    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()

    def in_group(self, gid: int) -> bool:
        return gid == self.gid or gid in self.groups


ROOT = Cred()
_R, _W, _X = 4, 2, 1


class _Lower:
    """The visible lower entry of one path: its node, its layer, and for a
    directory the layers whose directories merge into it (top first)."""

    __slots__ = ("node", "layer", "stack")

    def __init__(self, node: Node, layer: int) -> None:
        self.node, self.layer = node, layer
        self.stack: list[int] = [layer] if node.kind == "dir" else []


def _kill_privs(mode: int) -> int:
    """What a write by someone other than root does to a file's mode: set-user-ID goes, and
    set-group-ID too when group-execute is set (``file_remove_privs``)."""
    mode &= ~0o4000
    if mode & 0o2010 == 0o2010:
        mode &= ~0o2000
    return mode


def _err(code: int, path: str) -> OSError:
    return OSError(code, os.strerror(code), path)


def _ancestors(path: str) -> Iterator[str]:
    """Strict ancestors of a key, root excluded, outermost first."""
    i = path.find("/")
    while i != -1:
        yield path[:i]
        i = path.find("/", i + 1)


def _parent(path: str) -> str:
    i = path.rfind("/")
    return path[:i] if i != -1 else ""


def _join(d: str, name: str) -> str:
    return f"{d}/{name}" if d else name


def _with_implied_parents(layer: LayerDir) -> LayerDir:
    missing: set[str] = set()
    for path in layer:
        head = path.rpartition("/")[0]
        while head and head not in layer and head not in missing:
            missing.add(head)
            head = head.rpartition("/")[0]
    if not missing:
        return layer
    out = dict(layer)
    for a in missing:
        out[a] = Node.dir(0o755)
    return out


def _cuts(node: Node) -> int:
    return 1 if node.kind != "dir" or node.opaque else 0


def _sort_key(path: str) -> tuple[str, ...]:
    return tuple(path.split("/"))


class Mount:
    """An overlay mount: ``lowers`` TOP first, ``upper`` writable (``None``: read-only).

    The ``upper`` mapping passed in is copied; ``Mount.upper`` is the live upper layer
    directory. ``clock`` gives "now" in seconds for new timestamps (default: real time).
    """

    def __init__(self, lowers: Sequence[LayerDir], upper: LayerDir | None = None, *,
                 clock: Callable[[], int] | None = None, cred: Cred | None = None) -> None:
        self.lowers: tuple[LayerDir, ...] = tuple(lowers)
        self.cred: Cred = cred or ROOT     # who calls: settable (a shell switching USER)
        self.read_only = upper is None
        self.events: list[OpEvent] = []
        self.root: Node = Node.dir(0o755)   # the mount root: in no layer directory
        self._clock = clock or (lambda: int(time.time()))
        self._lo: dict[str, _Lower] = {}
        self._lo_children: dict[str, list[str]] = {}
        self._lo_groups: dict[tuple[int, int], list[str]] = {}
        self._lo_whiteouts: dict[tuple[str, int], list[str]] = {}
        self._index_lowers()
        self._upper: dict[str, Node] = {}
        self._uchildren: dict[str, set[str]] = {}
        self._ugroups: dict[int, set[str]] = {}
        self._ucuts = 0    # upper entries that cut lower layers off (non-dirs, opaque dirs)
        for path in sorted(_with_implied_parents(dict(upper or {})), key=_sort_key):
            self._uset(path, (upper or {}).get(path) or Node.dir(0o755))

    # ------------------------------------------------------------------ index
    def _index_lowers(self) -> None:
        """One pass over the lowers, top first, as the kernel's lookup would go."""
        stopped: set[str] = set()   # names whose stack is complete (non-dir, whiteout, opaque)
        for i, raw in enumerate(self.lowers):
            layer = _with_implied_parents(raw)
            live = {""}             # this layer's directories that merge into the view
            for path in sorted(layer):          # a parent sorts before its children
                head, _, name = path.rpartition("/")
                if head not in live:
                    continue
                node = layer[path]
                kind = node.kind
                if kind == "whiteout":
                    self._lo_whiteouts.setdefault((head, i), []).append(name)
                if path in stopped:
                    continue
                entry = self._lo.get(path)
                if entry is None:
                    if kind != "whiteout":
                        self._lo[path] = _Lower(node, i)
                elif kind == "dir":             # merges into the directory above
                    entry.stack.append(i)
                if kind == "dir":
                    live.add(path)
                if kind != "dir" or node.opaque:
                    stopped.add(path)
        for path, entry in self._lo.items():
            self._lo_children.setdefault(_parent(path), []).append(path.rsplit("/", 1)[-1])
            if entry.node.kind != "dir" and entry.node.inode is not None:
                self._lo_groups.setdefault((entry.layer, entry.node.inode), []).append(path)

    # ------------------------------------------------------------ upper state
    @property
    def upper(self) -> LayerDir:
        """The live upper layer directory (do not modify it directly)."""
        return self._upper

    def _uset(self, path: str, node: Node) -> None:
        old = self._upper.get(path)
        if old is not None:
            if old.inode is not None:
                self._ugroups.get(old.inode, set()).discard(path)
            self._ucuts -= _cuts(old)
        self._ucuts += _cuts(node)
        self._upper[path] = node
        self._uchildren.setdefault(_parent(path), set()).add(path.rsplit("/", 1)[-1])
        if node.inode is not None and node.kind != "dir":
            self._ugroups.setdefault(node.inode, set()).add(path)

    def _udel(self, path: str) -> None:
        """Remove ``path`` and everything under it from the upper directory."""
        for child in list(self._uchildren.get(path, ())):
            self._udel(_join(path, child))
        self._uchildren.pop(path, None)
        old = self._upper.pop(path, None)
        if old is None:
            return
        self._uchildren.get(_parent(path), set()).discard(path.rsplit("/", 1)[-1])
        self._ucuts -= _cuts(old)
        if old.inode is not None:
            self._ugroups.get(old.inode, set()).discard(path)

    def _umodify(self, path: str, **changes: object) -> Node:
        """Change an upper file; every upper hard link of it changes too."""
        node = replace(self._upper[path], **changes)  # type: ignore[arg-type]
        names = {path}
        if node.inode is not None:
            names |= self._ugroups.get(node.inode, set())
        for name in names:
            self._uset(name, node)
        return node

    def _new_inode(self) -> int:
        return max((i for i, names in self._ugroups.items() if names), default=0) + 1

    # ----------------------------------------------------------- merged view
    def _lower_visible(self, path: str) -> bool:
        """True when no upper ancestor of ``path`` cuts off the lower layers."""
        if not self._ucuts:
            return True
        for a in _ancestors(path):
            u = self._upper.get(a)
            if u is not None and (u.kind != "dir" or u.opaque):
                return False
        return True

    def _get(self, path: str) -> tuple[Node, object] | None:
        """The merged entry at a resolved key (no symlink following): (node, source)."""
        if path == "":
            return self.root, UPPER
        u = self._upper.get(path)
        if u is not None:
            return None if u.kind == "whiteout" else (u, UPPER)
        if self._lower_visible(path):
            e = self._lo.get(path)
            if e is not None:
                return e.node, e.layer
        return None

    def _lower_positive(self, path: str) -> bool:
        """Would removing this name need a whiteout (does it exist below)?"""
        return path in self._lo and self._lower_visible(path)

    def _lower_dir_visible(self, path: str) -> bool:
        """Do lower directories merge into the directory at ``path``?"""
        if path == "":
            return bool(self.lowers)
        u = self._upper.get(path)
        if u is not None and (u.kind != "dir" or u.opaque):
            return False
        e = self._lo.get(path)
        return e is not None and e.node.kind == "dir" and self._lower_visible(path)

    def _is_merge(self, path: str) -> bool:
        """A directory present in upper that also has lower directories (kernel: merge)."""
        return (path == "" or path in self._upper) and self._lower_dir_visible(path)

    def _children(self, path: str, *, readdir: bool = False) -> list[str]:
        """Names in a merged directory. ``readdir=True`` answers like the kernel's
        readdir: a directory that comes from ONE layer only is read as it is, so
        whiteouts inside it show up as names (that ``stat`` cannot find)."""
        up = self._uchildren.get(path, set())
        if self._lower_dir_visible(path):
            names = {n for n in up if self._upper[_join(path, n)].kind != "whiteout"}
            names.update(n for n in self._lo_children.get(path, ()) if n not in up)
            if readdir and path and path not in self._upper:
                e = self._lo[path]
                if len(e.stack) == 1:
                    names.update(self._lo_whiteouts.get((path, e.layer), ()))
            return sorted(names)
        if readdir:
            return sorted(up)
        return sorted(n for n in up if self._upper[_join(path, n)].kind != "whiteout")

    # ----------------------------------------------------------- permissions
    def _may(self, node: Node, want: int) -> bool:
        """The kernel's generic_permission for ``self.cred`` (root: always, except that
        executing needs some x bit, which the model does not use)."""
        c = self.cred
        if c.uid == 0:
            return True
        if node.uid == c.uid:
            bits = node.mode >> 6
        elif c.in_group(node.gid):
            bits = node.mode >> 3
        else:
            bits = node.mode
        return bits & want == want

    def _need(self, key: str, want: int, path: str) -> None:
        """EACCES unless the caller may ``want`` on the entry at ``key`` (it exists)."""
        if self.cred.uid == 0:
            return
        got = self._get(key)
        if got is not None and not self._may(got[0], want):
            raise _err(_errno.EACCES, path)

    def _owner_or_root(self, node: Node, path: str) -> None:
        if self.cred.uid != 0 and node.uid != self.cred.uid:
            raise _err(_errno.EPERM, path)

    def _may_delete(self, pdir: str, real: str, path: str) -> None:
        """``may_delete``: write+search on the parent, and the sticky bit's owner rule."""
        c = self.cred
        if c.uid == 0:
            return
        self._need(pdir, _W | _X, path)
        parent = self._get(pdir)
        victim = self._get(real)
        if parent is not None and victim is not None and parent[0].mode & 0o1000 \
                and victim[0].uid != c.uid and parent[0].uid != c.uid:
            raise _err(_errno.EPERM, path)

    def _may_link(self, node: Node, path: str) -> None:
        """``fs.protected_hardlinks=1``: only the owner, or someone who may read and write a
        plain regular file (not set-user-ID, not set-group-ID and group-executable)."""
        c = self.cred
        if c.uid == 0 or node.uid == c.uid:
            return
        safe = (node.kind == "file" and not node.mode & 0o4000 and node.mode & 0o2010 != 0o2010
                and self._may(node, _R | _W))
        if not safe:
            raise _err(_errno.EPERM, path)

    # -------------------------------------------------------- path resolution
    def _walk(self, cur: str, comps: list[str], follow: bool, hops: list[int], shown: str) -> str:
        n = len(comps)
        check = self.cred.uid != 0
        for idx, comp in enumerate(comps):
            last = idx == n - 1
            if comp == "":
                continue
            if check:     # may_lookup: search permission on every directory walked through
                here = self._get(cur)
                if here is not None and not self._may(here[0], _X):
                    raise _err(_errno.EACCES, shown)
            if comp == ".":
                continue
            if comp == "..":
                cur = _parent(cur)
                continue
            nxt = _join(cur, comp)
            ent = self._get(nxt)
            if ent is None:
                if last:
                    return nxt
                raise _err(_errno.ENOENT, shown)
            node = ent[0]
            if node.kind == "symlink" and (follow or not last):
                hops[0] += 1
                if hops[0] > _MAX_SYMLINKS:
                    raise _err(_errno.ELOOP, shown)
                target = node.linkname
                if not target:
                    raise _err(_errno.ENOENT, shown)
                base = "" if target.startswith("/") else cur
                cur = self._walk(base, target.split("/"), True, hops, shown)
                if not last:
                    got = self._get(cur)
                    if got is None:
                        raise _err(_errno.ENOENT, shown)
                    if got[0].kind != "dir":
                        raise _err(_errno.ENOTDIR, shown)
                continue
            if not last and node.kind != "dir":
                raise _err(_errno.ENOTDIR, shown)
            cur = nxt
        return cur

    def _resolve(self, path: str, follow: bool = True) -> str:
        """The key ``path`` names (symlinks in it followed); it may not exist."""
        trailing = path.endswith("/") and bool(path.strip("/"))
        if trailing:   # "name/" follows a final symlink and must be a directory
            path_, follow = path.rstrip("/"), True
        else:
            path_ = path
        real = self._walk("", path_.split("/"), follow, [0], path)
        if trailing:
            got = self._get(real)
            if got is not None and got[0].kind != "dir":
                raise _err(_errno.ENOTDIR, path)
        return real

    def _existing(self, path: str, follow: bool = True) -> tuple[str, Node]:
        real = self._resolve(path, follow)
        got = self._get(real)
        if got is None:
            raise _err(_errno.ENOENT, path)
        return real, got[0]

    def _parent_and_name(self, path: str) -> tuple[str, str]:
        """Resolve all but the last component (it must be a directory).

        Returns (parent key, last name); the name is "" for the root and may be
        "." or ".." (each call answers those with the kernel's errno).
        """
        stripped = path.rstrip("/")
        if not stripped:
            return "", ""
        head, _, name = stripped.rpartition("/")
        if "/" not in stripped:
            head = ""
        elif not head:
            head = "/"
        pdir = self._walk("", head.split("/"), True, [0], path) if head else ""
        got = self._get(pdir)
        if got is None:
            raise _err(_errno.ENOENT, path)
        if got[0].kind != "dir":
            raise _err(_errno.ENOTDIR, path)
        if name and self.cred.uid != 0 and not self._may(got[0], _X):
            raise _err(_errno.EACCES, path)      # any last name (".", ".." too) needs search
        return pdir, name

    def _writable(self, path: str) -> None:
        if self.read_only:
            raise _err(_errno.EROFS, path)

    # ------------------------------------------------------------ upper writes
    def _emit(self, kind: EventKind, path: str, size: int = 0, detail: str = "") -> None:
        self.events.append(OpEvent(kind, path, size, detail))

    def _copy_up(self, path: str) -> None:
        """Copy an entry (and its parents) to upper, whole, with its attributes."""
        if path == "" or path in self._upper:
            return
        self._copy_up(_parent(path))
        got = self._get(path)
        assert got is not None, path
        node = got[0]
        xattrs = tuple(x for x in node.xattrs if not x[0].startswith("trusted.overlay."))
        self._uset(path, replace(node, inode=None, xattrs=xattrs))
        kind = node.kind
        self._emit("copy_up", path, node.size if kind == "file" else 0,
                   kind if kind in ("dir", "symlink") else "")
        if node.inode is not None and kind != "dir":
            others = [p for p in self._lo_groups.get((got[1], node.inode), ())  # type: ignore[arg-type]
                      if p != path and self._get(p) is not None and p not in self._upper]
            for other in others:
                self._emit("link_broken", path, detail=other)

    def _touch_dir(self, path: str) -> None:
        if path:
            self._umodify(path, mtime=self._clock())
        else:
            self.root = replace(self.root, mtime=self._clock())

    def _owner_for_new(self, pdir: str, mode: int, is_dir: bool) -> tuple[int, int, int]:
        """(mode, uid, gid) for a new entry made by the caller in ``pdir`` (a set-group-ID
        parent passes its group on, and its set-group-ID bit to directories)."""
        parent_node = self._get(pdir)
        gid = self.cred.gid
        if parent_node is not None and parent_node[0].mode & 0o2000:
            gid = parent_node[0].gid
            if is_dir:
                mode |= 0o2000
        return mode, self.cred.uid, gid

    def _create(self, path: str, node: Node) -> None:
        pdir = _parent(path)
        self._copy_up(pdir)
        over_whiteout = path in self._upper   # only a whiteout can be there
        if over_whiteout and node.kind == "dir":
            node = node.with_opaque()
        self._uset(path, node)
        self._touch_dir(pdir)
        self._emit("create", path, node.size, node.kind if node.kind != "file" else "")
        if over_whiteout and node.kind == "dir":
            self._emit("opaque", path)

    def _remove(self, path: str) -> None:
        """Remove a name from the merged view: a whiteout when it exists below."""
        pdir = _parent(path)
        self._copy_up(pdir)
        positive = self._lower_positive(path)
        had_upper = path in self._upper
        self._udel(path)
        if positive:
            self._uset(path, Node.whiteout())
            self._emit("whiteout", path)
        elif had_upper:
            self._emit("remove", path)
        self._touch_dir(pdir)

    # -------------------------------------------------------------- reading
    def stat(self, path: str, follow: bool = True) -> Node:
        """The merged entry at ``path`` (``follow=False``: like ``lstat``)."""
        real, node = self._existing(path, follow)
        if node.opaque:
            node = node.with_opaque(False)
        return node

    def exists(self, path: str, follow: bool = True) -> bool:
        try:
            self._existing(path, follow)
        except OSError:
            return False
        return True

    def listdir(self, path: str = "/") -> list[str]:
        """Names in a merged directory, sorted (whiteouts and hidden names left out)."""
        real, node = self._existing(path)
        if node.kind != "dir":
            raise _err(_errno.ENOTDIR, path)
        self._need(real, _R, path)
        return self._children(real, readdir=True)

    def read(self, path: str) -> bytes:
        """File content; never copies up."""
        real, node = self._existing(path)
        self._need(real, _R, path)
        if node.kind == "dir":
            raise _err(_errno.EISDIR, path)
        if node.kind != "file":
            return b""
        if node.data is None:
            raise LabkitError(f"the content of {path!r} is not held in memory ({node.size} bytes)",
                              fix="load the layer with with_data=True")
        return node.data

    def readlink(self, path: str) -> str:
        real, node = self._existing(path, follow=False)
        if node.kind != "symlink":
            raise _err(_errno.EINVAL, path)
        return node.linkname

    def layers_of(self, path: str) -> tuple[object, ...]:
        """Where the entry at ``path`` comes from, top first: ``"upper"`` and/or lower
        indexes (a directory lists every layer whose directory merges into it)."""
        real = self._resolve(path, follow=False)
        if real == "":
            return ((UPPER,) if not self.read_only else ()) + tuple(range(len(self.lowers)))
        if self._get(real) is None:
            raise _err(_errno.ENOENT, path)
        out: list[object] = []
        u = self._upper.get(real)
        if u is not None:
            out.append(UPPER)
            if u.kind != "dir":
                return tuple(out)
            if self._lower_dir_visible(real):
                out.extend(self._lo[real].stack)
            return tuple(out)
        e = self._lo[real]
        out.extend(e.stack if e.node.kind == "dir" else [e.layer])
        return tuple(out)

    def origin(self, path: str) -> object:
        """The layer the entry at ``path`` is taken from: ``"upper"`` or a lower index."""
        return self.layers_of(path)[0]

    def tree(self) -> Tree:
        """The merged view: no whiteouts, no opaque xattrs, hard links as inode groups."""
        out: dict[str, Node] = {}
        sources: dict[str, tuple[object, int]] = {}
        stack = [""]
        while stack:
            d = stack.pop()
            for name in self._children(d):
                p = _join(d, name)
                got = self._get(p)
                assert got is not None
                node, src = got
                if node.opaque:
                    node = node.with_opaque(False)
                out[p] = node
                if node.inode is not None and node.kind != "dir":
                    sources[p] = (src, node.inode)
                if node.kind == "dir":
                    stack.append(p)
        counts: dict[tuple[object, int], int] = {}
        for key in sources.values():
            counts[key] = counts.get(key, 0) + 1
        ids: dict[tuple[object, int], int] = {}
        result: Tree = {}
        for p in sorted(out, key=_sort_key):
            node = out[p]
            key = sources.get(p)
            if key is not None and counts[key] > 1:
                node = replace(node, inode=ids.setdefault(key, len(ids) + 1))
            elif node.inode is not None:
                node = replace(node, inode=None)
            result[p] = node
        return result

    def take_events(self) -> list[OpEvent]:
        events, self.events = self.events, []
        return events

    # -------------------------------------------------------------- writing
    def write(self, path: str, data: bytes, append: bool = False, *, mode: int = 0o644) -> None:
        """``open(O_WRONLY|O_CREAT|O_TRUNC or O_APPEND)`` then write ``data``."""
        if path.endswith("/") and path.strip("/"):
            self._parent_and_name(path)
            raise _err(_errno.EISDIR, path)   # O_CREAT with a trailing slash
        real = self._resolve(path, follow=True)
        got = self._get(real)
        if got is not None and got[0].kind == "dir":
            raise _err(_errno.EISDIR, path)
        if got is None and path.endswith("/"):
            raise _err(_errno.EISDIR, path)
        self._writable(path)
        now = self._clock()
        if got is None:
            self._need(_parent(real), _W | _X, path)
            m, uid, gid = self._owner_for_new(_parent(real), mode & 0o7777, False)
            self._create(real, Node.file(bytes(data), mode=m, uid=uid, gid=gid, mtime=now))
            return
        node = got[0]
        self._need(real, _W, path)
        if node.kind != "file":
            return
        if append and node.data is None and data:
            raise LabkitError(f"cannot append to {path!r}: its content is not held in memory",
                              fix="load the layer with with_data=True")
        self._copy_up(real)
        content = (node.data or b"") + bytes(data) if append else bytes(data)
        changes: dict[str, object] = dict(
            data=content, size=len(content), sha256=Node.file(content).sha256)
        if data or not append:
            changes["mtime"] = now
        if self.cred.uid != 0:
            changes["mode"] = _kill_privs(node.mode)
        self._umodify(real, **changes)
        self._emit("write", real, len(data))

    def truncate(self, path: str, size: int) -> None:
        real, node = self._existing(path)
        if node.kind == "dir":
            raise _err(_errno.EISDIR, path)
        if node.kind != "file" or size < 0:
            raise _err(_errno.EINVAL, path)
        self._writable(path)
        self._need(real, _W, path)
        if node.data is None and size != 0:
            raise LabkitError(f"cannot truncate {path!r}: its content is not held in memory",
                              fix="load the layer with with_data=True")
        self._copy_up(real)
        old = node.data or b""
        content = old[:size] + b"\0" * max(0, size - len(old))
        # truncate(2) marks the file modified even when the size stays (POSIX, ext4)
        self._umodify(real, data=content, size=size, sha256=Node.file(content).sha256,
                      mtime=self._clock(),
                      mode=node.mode if self.cred.uid == 0 else _kill_privs(node.mode))
        self._emit("write", real, 0, "truncate")

    def _set_attr(self, path: str, follow: bool, what: str, **changes: object) -> None:
        real, node = self._existing(path, follow)
        self._writable(path)
        if real == "":
            self.root = replace(self.root, **changes)  # type: ignore[arg-type]
            self._emit("attr", real, detail=what)
            return
        self._copy_up(real)
        self._umodify(real, **changes)
        self._emit("attr", real, detail=what)

    def chmod(self, path: str, mode: int) -> None:
        real, node = self._existing(path, True)
        self._writable(path)
        self._owner_or_root(node, path)
        mode &= 0o7777
        if self.cred.uid != 0 and not self.cred.in_group(node.gid):
            mode &= ~0o2000    # the kernel drops set-group-ID for a group the caller is not in
        self._set_attr(path, True, "mode", mode=mode)

    def chown(self, path: str, uid: int, gid: int, *, follow: bool = True) -> None:
        """Change owner (-1 keeps one); like the kernel, this clears set-user-ID on
        non-directories (and set-group-ID when group-execute is set)."""
        real, node = self._existing(path, follow)
        self._writable(path)
        c = self.cred
        if c.uid != 0 and ((uid != -1 and (uid != node.uid or c.uid != node.uid))
                           or (gid != -1 and (c.uid != node.uid
                                              or not (gid == node.gid or c.in_group(gid))))):
            raise _err(_errno.EPERM, path)
        mode = node.mode
        if node.kind != "dir" and node.kind != "symlink":
            mode &= ~0o4000
            if mode & 0o2010 == 0o2010:
                mode &= ~0o2000
        self._set_attr(path, follow, "owner", uid=node.uid if uid == -1 else uid,
                       gid=node.gid if gid == -1 else gid, mode=mode)

    def utime(self, path: str, mtime: int, *, follow: bool = True, current: bool = False) -> None:
        """Set the modification time. An explicit time needs the owner (or root: EPERM);
        ``current=True`` is ``touch``'s "now" (``utimensat(NULL)``), which write permission
        allows too (else EACCES)."""
        real, node = self._existing(path, follow)
        self._writable(path)
        if not current:
            self._owner_or_root(node, path)
        elif self.cred.uid != 0 and node.uid != self.cred.uid and not self._may(node, _W):
            raise _err(_errno.EACCES, path)
        self._set_attr(path, follow, "mtime", mtime=int(mtime))

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        pdir, name = self._parent_and_name(path)
        if name in ("", ".", ".."):
            raise _err(_errno.EEXIST, path)
        real = _join(pdir, name)
        if self._get(real) is not None:
            raise _err(_errno.EEXIST, path)
        self._writable(path)
        self._need(pdir, _W | _X, path)
        m, uid, gid = self._owner_for_new(pdir, mode & 0o1777, True)
        self._create(real, Node.dir(m, uid=uid, gid=gid, mtime=self._clock()))

    def symlink(self, target: str, path: str) -> None:
        if not target:
            raise _err(_errno.ENOENT, path)
        pdir, name = self._parent_and_name(path)
        if name in ("", ".", ".."):
            raise _err(_errno.EEXIST, path)
        real = _join(pdir, name)
        if self._get(real) is not None:
            raise _err(_errno.EEXIST, path)
        if path.endswith("/"):
            raise _err(_errno.ENOENT, path)   # "x/" asks for a directory
        self._writable(path)
        self._need(pdir, _W | _X, path)
        _, uid, gid = self._owner_for_new(pdir, 0o777, False)
        self._create(real, Node.symlink(target, uid=uid, gid=gid, mtime=self._clock()))

    def link(self, src: str, dst: str) -> None:
        """A hard link (the source is not followed); copies the source up first."""
        sreal, snode = self._existing(src, follow=False)
        pdir, name = self._parent_and_name(dst)
        if name in ("", ".", ".."):
            raise _err(_errno.EEXIST, dst)
        dreal = _join(pdir, name)
        if self._get(dreal) is not None:
            raise _err(_errno.EEXIST, dst)
        if dst.endswith("/"):
            raise _err(_errno.ENOENT, dst)    # "x/" asks for a directory
        self._writable(dst)
        self._may_link(snode, src)
        self._need(pdir, _W | _X, dst)
        if snode.kind == "dir":
            raise _err(_errno.EPERM, src)
        self._copy_up(sreal)
        node = self._upper[sreal]
        if node.inode is None:
            node = self._umodify(sreal, inode=self._new_inode())
        self._copy_up(pdir)
        over_whiteout = dreal in self._upper
        self._uset(dreal, node)
        self._touch_dir(pdir)
        self._emit("create", dreal, 0, f"hard link to {sreal}" if not over_whiteout
                   else f"hard link to {sreal} (over a whiteout)")

    def unlink(self, path: str) -> None:
        pdir, name = self._parent_and_name(path)
        if name in ("", ".", ".."):
            raise _err(_errno.EISDIR, path)
        self._writable(path)
        real = _join(pdir, name)
        got = self._get(real)
        if got is None:
            raise _err(_errno.ENOENT, path)
        if path.endswith("/"):
            raise _err(_errno.EISDIR if got[0].kind == "dir" else _errno.ENOTDIR, path)
        self._may_delete(pdir, real, path)
        if got[0].kind == "dir":
            raise _err(_errno.EISDIR, path)
        self._remove(real)

    def rmdir(self, path: str) -> None:
        pdir, name = self._parent_and_name(path)
        if name == "":
            raise _err(_errno.EBUSY, path)
        if name == ".":
            raise _err(_errno.EINVAL, path)
        if name == "..":
            raise _err(_errno.ENOTEMPTY, path)
        self._writable(path)
        real = _join(pdir, name)
        got = self._get(real)
        if got is None:
            raise _err(_errno.ENOENT, path)
        self._may_delete(pdir, real, path)
        if got[0].kind != "dir":
            raise _err(_errno.ENOTDIR, path)
        if real in self._upper and not self._is_merge(real):
            if self._uchildren.get(real):   # the upper fs's own rmdir: whiteouts count too
                raise _err(_errno.ENOTEMPTY, path)
        elif self._children(real):          # overlayfs checks the merged dir (whiteouts don't)
            raise _err(_errno.ENOTEMPTY, path)
        self._remove(real)

    def rename(self, src: str, dst: str) -> None:
        """``rename(2)``: files are copied up (the old name whited out when it exists
        below); a directory that exists in a lower layer gives ``EXDEV``."""
        spdir, sname = self._parent_and_name(src)
        dpdir, dname = self._parent_and_name(dst)
        if sname in ("", ".", "..") or dname in ("", ".", ".."):
            raise _err(_errno.EBUSY, src)
        self._writable(src)
        sreal, dreal = _join(spdir, sname), _join(dpdir, dname)
        sgot = self._get(sreal)
        if sgot is None:
            raise _err(_errno.ENOENT, src)
        snode = sgot[0]
        is_dir = snode.kind == "dir"
        if not is_dir and (src.endswith("/") or dst.endswith("/")):
            raise _err(_errno.ENOTDIR, src)
        if sreal == dreal:
            return
        if dreal.startswith(sreal + "/"):
            raise _err(_errno.EINVAL, src)
        if sreal.startswith(dreal + "/"):
            raise _err(_errno.ENOTEMPTY, dst)
        dgot = self._get(dreal)
        dnode = dgot[0] if dgot else None
        if dnode is not None and (snode.kind != "dir" and snode.inode is not None
                                  and sgot[1] == UPPER and dgot[1] == UPPER
                                  and dnode.inode == snode.inode):
            return    # two names of one upper file: rename does nothing
        self._may_delete(spdir, sreal, src)
        if dnode is None:
            self._need(dpdir, _W | _X, dst)
        else:
            self._may_delete(dpdir, dreal, dst)
        if dnode is not None:
            if is_dir and dnode.kind != "dir":
                raise _err(_errno.ENOTDIR, dst)
            if not is_dir and dnode.kind == "dir":
                raise _err(_errno.EISDIR, dst)
        if is_dir and spdir != dpdir:
            self._need(sreal, _W, src)      # its ".." changes
        if is_dir and (sreal not in self._upper or self._is_merge(sreal)):
            raise _err(_errno.EXDEV, src)
        if dnode is not None and dnode.kind == "dir":
            if dreal not in self._upper or self._is_merge(dreal):
                if self._children(dreal):       # overlayfs checks the merged directory
                    raise _err(_errno.ENOTEMPTY, dst)
            elif self._uchildren.get(dreal):    # a pure upper dir: the upper fs refuses
                # ... but only after overlayfs marked the moving dir opaque
                snow = self._upper[sreal]
                if is_dir and not snow.opaque and self._is_merge(dpdir):
                    self._uset(sreal, snow.with_opaque())
                    self._emit("opaque", sreal)
                if self._lower_positive(sreal):
                    # ext4 (the usual upper fs) restores the source entry after a failed
                    # rename-with-whiteout, which stamps the source directory's mtime
                    self._touch_dir(spdir)
                raise _err(_errno.ENOTEMPTY, dst)
        self._do_rename(sreal, dreal, snode)

    def _do_rename(self, sreal: str, dreal: str, snode: Node) -> None:
        spdir, dpdir = _parent(sreal), _parent(dreal)
        positive = self._lower_positive(sreal)
        self._copy_up(sreal)
        self._copy_up(dpdir)
        moved = {p: n for p, n in self._upper.items() if p == sreal or p.startswith(sreal + "/")}
        self._udel(dreal)
        self._udel(sreal)
        for p in sorted(moved, key=_sort_key):
            self._uset(dreal + p[len(sreal):], moved[p])
        if snode.kind == "dir" and not moved[sreal].opaque and self._is_merge(dpdir):
            self._uset(dreal, moved[sreal].with_opaque())
            self._emit("opaque", dreal)
        if positive:
            self._uset(sreal, Node.whiteout())
        self._touch_dir(spdir)
        self._touch_dir(dpdir)
        self._emit("rename", sreal, detail=dreal)
        if positive:
            self._emit("whiteout", sreal)
