"""Values shared by every filesystem view in labkit: one node, one path rule.

A *layer directory* is what Docker's overlay2 keeps for each layer: a mapping
``path -> Node`` where a deletion is a ``whiteout`` node (a char device 0/0)
and an opaque directory is a ``dir`` node carrying the xattr
``trusted.overlay.opaque=y``.  The overlay mount model, the layer-tar code and
the analysis all speak in these values.  Paths are relative, with no leading
or trailing slash; the root is ``""``.
"""
from __future__ import annotations

import hashlib
import posixpath
import stat as _stat
from dataclasses import dataclass, field, replace
from typing import Callable, Literal

Kind = Literal["file", "dir", "symlink", "whiteout", "char", "block", "fifo"]
KINDS: tuple[str, ...] = ("file", "dir", "symlink", "whiteout", "char", "block", "fifo")
OPAQUE_XATTR = "trusted.overlay.opaque"
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

_IFMT = {"file": _stat.S_IFREG, "dir": _stat.S_IFDIR, "symlink": _stat.S_IFLNK,
         "whiteout": _stat.S_IFCHR, "char": _stat.S_IFCHR, "block": _stat.S_IFBLK,
         "fifo": _stat.S_IFIFO}


@dataclass(frozen=True)
class Node:
    """One filesystem entry. Immutable: every change makes a new Node."""

    kind: Kind
    mode: int = 0o644                 # permission bits only (mask 0o7777)
    uid: int = 0
    gid: int = 0
    mtime: int = 0                    # seconds since the epoch
    size: int = 0                     # bytes of content (files)
    sha256: str = ""                  # hex digest of content (files)
    data: bytes | None = field(default=None, repr=False)  # content, when held in memory
    linkname: str = ""                # symlink target
    rdev: tuple[int, int] = (0, 0)    # (major, minor) for char/block devices
    xattrs: tuple[tuple[str, bytes], ...] = ()
    inode: int | None = None          # hard-link group within one layer directory

    @classmethod
    def file(cls, data: bytes = b"", mode: int = 0o644, **kw: object) -> "Node":
        return cls("file", mode=mode, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   data=data, **kw)  # type: ignore[arg-type]

    @classmethod
    def dir(cls, mode: int = 0o755, **kw: object) -> "Node":
        return cls("dir", mode=mode, **kw)  # type: ignore[arg-type]

    @classmethod
    def symlink(cls, target: str, **kw: object) -> "Node":
        return cls("symlink", mode=0o777, linkname=target, size=0, **kw)  # type: ignore[arg-type]

    @classmethod
    def whiteout(cls) -> "Node":
        return cls("whiteout", mode=0o000)

    @property
    def opaque(self) -> bool:
        return self.kind == "dir" and dict(self.xattrs).get(OPAQUE_XATTR) == b"y"

    def with_opaque(self, on: bool = True) -> "Node":
        rest = tuple(x for x in self.xattrs if x[0] != OPAQUE_XATTR)
        return replace(self, xattrs=rest + (((OPAQUE_XATTR, b"y"),) if on else ()))

    @property
    def st_mode(self) -> int:
        """Type and permission bits, as ``os.stat().st_mode``."""
        return _IFMT[self.kind] | (self.mode & 0o7777)


LayerDir = dict[str, Node]   # one layer as overlay2 keeps it (whiteouts, opaque dirs)
Tree = dict[str, Node]       # a merged view: no whiteouts, no opaque xattrs


def norm_path(name: str) -> str:
    """Normalise a path given to labkit's API: ``./a/b/`` -> ``a/b``.

    Leading ``/`` and ``./`` are dropped; ``.`` and ``..`` components are resolved
    lexically; ``/../x`` is ``x``. A relative path that climbs above the root raises
    ``ValueError``: labkit's own callers never mean that. (Layer tar NAMES follow Docker's
    rules instead, where every ``..`` is clamped at the root: see ``oci.tar.reader.clean_path``.)
    """
    absolute = name.startswith("/")
    rel = posixpath.normpath(name.lstrip("/") or ".")
    if rel == ".." or rel.startswith("../"):
        if not absolute:  # like Docker: "/../x" is "/x", but "../x" is a breakout
            raise ValueError(f"path {name!r} climbs above the root")
        rel = posixpath.normpath("/" + rel).lstrip("/") or "."
    return "" if rel == "." else rel


def parent(path: str) -> str:
    return posixpath.dirname(path)


def basename(path: str) -> str:
    return posixpath.basename(path)


def join(*parts: str) -> str:
    return norm_path(posixpath.join(*parts))


def is_under(path: str, top: str) -> bool:
    """True when ``path`` is ``top`` or inside it (root ``""`` holds everything)."""
    return top == "" or path == top or path.startswith(top + "/")


def resolve_in_scope(path: str, link_of: Callable[[str], str | None], *, max_hops: int = 255,
                     on_loop: Callable[[str], Exception] | None = None) -> str:
    """Follow symlinks lexically while staying inside a root (Docker's FollowSymlinkInScope).

    ``link_of(p)`` gives the target of ``p`` when it is a symlink, else None. Absolute targets
    restart at the root and ``..`` never climbs above it; after ``max_hops`` links the rest of
    the path is taken literally, or, with ``on_loop``, ``on_loop("/" + p)`` is raised at the
    next link (realpath's ELOOP). Returns the resolved relative path ("" for the root).
    """
    parts = [x for x in path.split("/") if x not in ("", ".")]
    done: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        target = link_of("/".join(done + [part])) if hops < max_hops or on_loop else None
        if target is not None:
            if hops >= max_hops:
                raise on_loop("/" + "/".join(done + [part]))  # type: ignore[misc]
            hops += 1
            if target.startswith("/"):
                done = []
            parts = [x for x in target.split("/") if x not in ("", ".")] + parts
            continue
        done.append(part)
    return "/".join(done)
