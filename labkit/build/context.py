"""A build context as the Docker daemon sees it, and the COPY/ADD checksums it keys its cache on.

``list_context(root)`` walks a context directory the way the docker SDK packs it
(``docker.utils.build.tar``: sorted paths, .dockerignore applied, an excluded directory
entered only when an ``!exception`` may re-include something inside it) and returns a
frozen ``BuildContext`` of ``ContextEntry`` values.

``BuildContext.copy_source(sources)`` computes the string the classic builder (Docker
20.10) puts into a COPY/ADD cache key — ``file:<hex>``, ``dir:<hex>`` or
``multi:<hex>`` — exactly as the daemon computes it (checked against ``docker history``
in the tests):

* every tar entry gets a *tarsum v1* hash: sha256 over ``name mode uid gid size typeflag
  linkname uname gname devmajor devminor`` (uname/gname blanked, **no mtime**) followed by
  the file content; so content, names, permission bits, owners and link targets matter
  and the modification time does not;
* a single file source is ``file:`` + its hash; a directory is ``dir:`` + sha256 of the
  sorted hashes of everything below it (the directory itself included) joined by ``,``;
  several sources are ``multi:`` + sha256 of their keys joined by ``,``.
"""
from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

from ..errors import BuildError
from ..fs.node import resolve_in_scope
from .dockerignore import DockerIgnore

_TYPEFLAG = {"file": "0", "hardlink": "1", "symlink": "2", "char": "3", "block": "4",
             "dir": "5", "fifo": "6"}


@dataclass(frozen=True)
class ContextEntry:
    """One path of the context as sent to the daemon."""

    path: str                 # relative, "/"-separated, no trailing slash
    kind: str                 # file | dir | symlink | hardlink | char | block | fifo
    mode: int                 # permission bits (0o7777)
    uid: int
    gid: int
    size: int = 0
    sha256: str = ""          # content digest (regular files)
    linkname: str = ""        # symlink target, or the first name of a hard-linked file
    rdev: tuple[int, int] = (0, 0)
    tarsum: str = ""          # the daemon's per-entry hash (hex)
    implied: bool = False     # not sent itself (an excluded dir re-entered for an exception)

    @property
    def fingerprint(self) -> tuple:
        """What the cache key sees of this entry (everything but the modification time)."""
        return (self.kind, self.mode, self.uid, self.gid, self.sha256, self.linkname, self.rdev)


@dataclass(frozen=True)
class CopySource:
    """The cache-key part of one COPY/ADD: the daemon's checksum and the entries behind it."""

    key: str                                  # "file:<hex>" | "dir:<hex>" | "multi:<hex>"
    entries: tuple[ContextEntry, ...] = ()    # every context entry the checksum covers


@dataclass(frozen=True)
class BuildContext:
    root: str
    entries: tuple[ContextEntry, ...]
    ignore: DockerIgnore = field(default_factory=DockerIgnore)
    excluded: tuple[str, ...] = ()            # top-most paths .dockerignore left out
    _by_path: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_path.update((e.path, e) for e in self.entries)

    def entry(self, path: str) -> ContextEntry | None:
        return self._by_path.get(path.strip("/"))

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(e.path for e in self.entries)

    def copy_source(self, sources: Iterable[str], *, instruction: str = "COPY",
                    line: int | None = None) -> CopySource:
        """The checksum the classic builder puts in the cache key of ``COPY sources... dest``."""
        infos: list[CopySource] = []
        for src in sources:
            infos.extend(self._infos(src, instruction, line))
        if not infos:
            raise BuildError(f"{instruction} failed: no source files were specified", line=line,
                             fix="name at least one source that exists in the build context")
        if len(infos) == 1:
            return infos[0]
        entries = tuple({e.path: e for i in infos for e in i.entries}.values())
        return CopySource(_hash_slice("multi", [i.key for i in infos]), entries)

    # -- internals ---------------------------------------------------------
    def _index(self) -> dict[str, ContextEntry]:
        return self._by_path

    def _resolve(self, rel: str) -> str:
        """Follow symlinks inside the context, scoped to it (FollowSymlinkInScope)."""
        index = self._index()

        def link_of(p: str) -> str | None:
            ent = index.get(p)
            return ent.linkname if ent is not None and ent.kind == "symlink" else None
        return resolve_in_scope(rel, link_of)

    def _hash(self, rel: str) -> tuple[str, ContextEntry | None]:
        resolved = self._resolve(rel)
        ent = self._index().get(resolved)
        if ent is None or ent.implied:
            return rel, ent
        return ent.tarsum, ent

    def _infos(self, src: str, instruction: str, line: int | None) -> list[CopySource]:
        orig = src.lstrip("/")
        if orig.startswith("./"):
            orig = orig[2:]
        orig = orig.rstrip("/") if orig not in ("", ".") else orig
        if re.search(r"(?<!\\)[*?\[]", orig):
            out = []
            for e in self.entries:
                if _go_match(orig, e.path):
                    out.extend(self._infos_plain(e.path, instruction, line))
            return out
        return self._infos_plain(orig, instruction, line)

    def _infos_plain(self, orig: str, instruction: str, line: int | None) -> list[CopySource]:
        if orig in ("", "."):
            target = ""
        else:
            target = self._resolve(orig)
            if self._index().get(target) is None:
                raise BuildError(
                    f"{instruction} failed: file not found in build context or excluded by "
                    f".dockerignore: stat {orig}: file does not exist", line=line,
                    fix=f"create {orig} in the build context, or remove it from .dockerignore")
        ent = self._index().get(target)
        if ent is not None and ent.kind != "dir":
            h, _ = self._hash(orig)
            return [CopySource("file:" + h, (ent,))]
        prefix = target + "/" if target else ""
        hashes: list[str] = []
        covered: list[ContextEntry] = []
        for e in self.entries:
            if e.path == target or e.path.startswith(prefix):
                if not e.path:
                    continue
                h, real = self._hash(e.path)
                hashes.append(h)
                covered.append(e)
                if real is not None and real.path != e.path:
                    covered.append(real)  # a symlink is hashed as the file it points to
        return [CopySource(_hash_slice("dir", sorted(hashes)), tuple(covered))]


def _hash_slice(prefix: str, items: list[str]) -> str:
    return prefix + ":" + hashlib.sha256(",".join(items).encode()).hexdigest()


def _go_match(pattern: str, name: str) -> bool:
    """Go's filepath.Match: ``*`` and ``?`` stop at ``/``."""
    if pattern.count("/") != name.count("/"):
        return False
    return all(fnmatch.fnmatchcase(n, p) for p, n in zip(pattern.split("/"), name.split("/")))


def _tarsum_start(name: str, *, kind: str, mode: int, uid: int, gid: int, size: int = 0,
                  linkname: str = "", rdev: tuple[int, int] = (0, 0)) -> "hashlib._Hash":
    header = (("name", name + ("/" if kind == "dir" and not name.endswith("/") else "")),
              ("mode", str(mode & 0o7777)), ("uid", str(uid)), ("gid", str(gid)),
              ("size", str(size if kind == "file" else 0)), ("typeflag", _TYPEFLAG[kind]),
              ("linkname", linkname), ("uname", ""), ("gname", ""),
              ("devmajor", str(rdev[0])), ("devminor", str(rdev[1])))
    return hashlib.sha256("".join(k + v for k, v in header).encode("utf-8", "surrogateescape"))


def tarsum_v1(name: str, *, kind: str, mode: int, uid: int, gid: int, size: int = 0,
              linkname: str = "", rdev: tuple[int, int] = (0, 0), data: bytes = b"") -> str:
    """The daemon's tarsum v1 hash of one tar entry (uname/gname blanked, no mtime)."""
    h = _tarsum_start(name, kind=kind, mode=mode, uid=uid, gid=gid, size=size,
                      linkname=linkname, rdev=rdev)
    h.update(data)
    return h.hexdigest()


def _hashed_file(full: Path, common: dict) -> ContextEntry:
    """A regular file's entry, content streamed through both hashes (no whole-file reads)."""
    size = os.stat(full).st_size
    tsum = _tarsum_start(common["path"], kind="file", mode=common["mode"], uid=common["uid"],
                         gid=common["gid"], size=size)
    plain = hashlib.sha256()
    with open(full, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            tsum.update(block)
            plain.update(block)
    return ContextEntry(kind="file", size=size, sha256=plain.hexdigest(),
                        tarsum=tsum.hexdigest(), **common)


def _walk(root: Path, ignore: DockerIgnore) -> tuple[list[tuple[str, bool]], list[str]]:
    """[(relative path, implied)] in the docker SDK's order, and the excluded top paths."""
    found: list[tuple[str, bool]] = []
    excluded: list[str] = []

    def rec(cur: Path, rel: str) -> None:
        for name in sorted(os.listdir(cur)):
            path = f"{rel}/{name}" if rel else name
            full = cur / name
            out = ignore.excludes(path)
            if out:
                excluded.append(path)
            is_dir = full.is_dir() and not full.is_symlink()
            if not out:
                found.append((path, False))
            if not is_dir:
                continue
            if out:
                if not ignore.may_reinclude_under(path):
                    continue
                found.append((path, True))
            rec(full, path)

    rec(root, "")
    return found, excluded


def list_context(root: str | Path, ignore: DockerIgnore | None = None) -> BuildContext:
    """The context as the daemon receives it from the docker SDK (.dockerignore applied)."""
    root = Path(root)
    if not root.is_dir():
        raise BuildError(f"build context {root} is not a directory",
                         fix="pass the folder that holds the Dockerfile and its files")
    ignore = DockerIgnore.for_context(root) if ignore is None else ignore
    walked, excluded = _walk(root, ignore)
    entries: list[ContextEntry] = []
    inodes: dict[tuple[int, int], str] = {}
    for rel, implied in sorted(walked):
        full = root / rel
        st = os.lstat(full)
        mode = st.st_mode
        common = {"path": rel, "mode": stat.S_IMODE(mode), "uid": st.st_uid, "gid": st.st_gid}
        if implied:
            entries.append(ContextEntry(kind="dir", implied=True, **common))
            continue
        if stat.S_ISREG(mode):
            key = (st.st_ino, st.st_dev)
            if st.st_nlink > 1 and key in inodes and inodes[key] != rel:
                first = inodes[key]
                e = ContextEntry(kind="hardlink", linkname=first, **common)
            else:
                if st.st_nlink > 1:
                    inodes[key] = rel
                entries.append(_hashed_file(full, common))
                continue
        elif stat.S_ISDIR(mode):
            e = ContextEntry(kind="dir", **common)
        elif stat.S_ISLNK(mode):
            e = ContextEntry(kind="symlink", linkname=os.readlink(full), **common)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            e = ContextEntry(kind="char" if stat.S_ISCHR(mode) else "block",
                             rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)), **common)
        elif stat.S_ISFIFO(mode):
            e = ContextEntry(kind="fifo", **common)
        else:  # sockets are skipped by the SDK
            continue
        entries.append(_with_sum(e, b""))
    return BuildContext(root=str(root), entries=tuple(entries), ignore=ignore,
                        excluded=tuple(excluded))


def _with_sum(e: ContextEntry, data: bytes) -> ContextEntry:
    return replace(e, tarsum=tarsum_v1(e.path, kind=e.kind, mode=e.mode, uid=e.uid, gid=e.gid,
                                        size=e.size, linkname=e.linkname, rdev=e.rdev, data=data))
