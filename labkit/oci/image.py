"""Saved images: ``docker save`` tars (legacy and OCI layouts) and OCI layout directories.

``open_image(source)`` reads an image without ever extracting it: member offsets of the
outer tar are indexed once and each blob is streamed from its offset. Every digest is
checked (``verify=True``, the default): the config hashes to the image id, each blob hashes to
the digest the manifest names, each uncompressed layer hashes to ``rootfs.diff_ids[i]``.
A changed byte raises ``DigestMismatch`` ("layer 2 digest mismatch: expected ..., actual
..."); anything missing or malformed raises ``ImageError`` naming the file. There is never a
partial result.

``write_image_tar(...)`` is the inverse: it writes a tar ``docker load`` accepts (legacy
layout by default, or the OCI layout Docker 25+ writes) and returns its ``ImageRef``.
"""
from __future__ import annotations

import gzip as _gzip
import hashlib
import io
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Callable, Iterator, Literal, Mapping, Sequence

from ..errors import DigestMismatch, ImageError, LabkitError, LayerError
from ..fs.node import LayerDir
from ..values import HistoryEntry, ImageRef
from .parallel import cpu_count
from .tarlayer import iter_entries, read_layer

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_CHUNK = 1 << 20
_JSON_LIMIT = 64 << 20          # manifests and configs are small; refuse absurd ones


# --------------------------------------------------------------------------- values

@dataclass(frozen=True)
class Layer:
    """One layer of an image, bottom first (``index`` 0 is the base)."""

    index: int
    diff_id: str            # "sha256:..." of the uncompressed tar (config rootfs.diff_ids)
    digest: str             # "sha256:..." of the blob as stored (== diff_id when uncompressed)
    size: int               # bytes of content, as ``docker history`` counts them (-1 if unverified)
    blob_size: int          # bytes of the blob as stored
    media_type: str
    created_by: str         # the history instruction that made it ("" when unknown)
    tar_size: int = -1      # bytes of the uncompressed tar (-1 if unverified)


def chain_ids(diff_ids: Sequence[str]) -> list[str]:
    """ChainID(L0) = diffID(L0); ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + diffID(Ln))."""
    out: list[str] = []
    for d in diff_ids:
        out.append(d if not out else
                   "sha256:" + hashlib.sha256(f"{out[-1]} {d}".encode()).hexdigest())
    return out


# --------------------------------------------------------------------------- blob sources

class _Reader(io.RawIOBase):
    """Read ``size`` bytes at ``offset`` of a file descriptor with pread (no shared position)."""

    def __init__(self, fd: int, offset: int, size: int) -> None:
        self._fd, self._off, self._end, self._pos = fd, offset, offset + size, offset

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos - self._off

    def seek(self, pos: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: self._off, io.SEEK_CUR: self._pos, io.SEEK_END: self._end}[whence]
        self._pos = max(self._off, base + pos)
        return self._pos - self._off

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = min(len(view), self._end - self._pos)
        if n <= 0:
            return 0
        got = os.preadv(self._fd, [view[:n]], self._pos)
        if not got:
            raise ImageError(f"unexpected end of file at byte {self._pos}",
                             fix="the image file is truncated; save it again")
        self._pos += got
        return got


class _Store:
    """Named blobs of an image source: members of a tar file, or files under a directory."""

    def __init__(self, label: str) -> None:
        self.label = label

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def size(self, name: str) -> int:
        raise NotImplementedError

    def open(self, name: str) -> BinaryIO:
        raise NotImplementedError

    def span(self, name: str) -> tuple[int, int, int, bool]:
        """``(fd, offset, size, owned)`` of a blob for reading by offset; the caller closes
        ``fd`` when ``owned``."""
        raise NotImplementedError

    def read_json(self, name: str) -> tuple[Any, bytes]:
        if not self.has(name):
            raise ImageError(f"{self.label}: {name} is missing",
                             fix="this is not a complete docker-save tar or OCI layout; save it again")
        if self.size(name) > _JSON_LIMIT:
            raise ImageError(f"{self.label}: {name} is {self.size(name)} bytes, too big for JSON metadata")
        with self.open(name) as f:
            raw = f.read()
        try:
            return json.loads(raw), raw
        except ValueError as exc:
            raise ImageError(f"{self.label}: {name} is not valid JSON ({exc})",
                             fix="the file is corrupt; save the image again") from None

    def close(self) -> None:
        pass


class _TarStore(_Store):
    """Index of an outer (uncompressed) tar: name -> (offset, size); symlinks resolved."""

    def __init__(self, fd: int, label: str, owns_fd: bool) -> None:
        super().__init__(label)
        self._fd, self._owns = fd, owns_fd
        self._members: dict[str, tuple[int, int]] = {}
        self._finalizer = weakref.finalize(self, os.close, fd) if owns_fd else None
        total = os.fstat(fd).st_size
        os.lseek(fd, 0, os.SEEK_SET)          # the index is read from the start
        links: dict[str, str] = {}
        try:
            with os.fdopen(os.dup(fd), "rb") as fo, tarfile.open(fileobj=fo, mode="r:") as tf:
                for m in tf:
                    name = _clean(m.name)
                    if m.issym() or m.islnk():
                        base = _dirname(name) if m.issym() else ""
                        links[name] = _clean(_join(base, m.linkname))
                    elif m.isfile():
                        if m.sparse:
                            raise ImageError(f"{label}: member {m.name} is a sparse file",
                                             fix="docker save never writes sparse members; save it again")
                        if m.offset_data + m.size > total:
                            raise ImageError(f"{label}: truncated tar: member {m.name} needs "
                                             f"{m.offset_data + m.size} bytes, the file has {total}",
                                             fix="the download or copy was cut short; save the image again")
                        self._members[name] = (m.offset_data, m.size)
        except tarfile.TarError as exc:
            self.close()
            raise ImageError(f"{label}: not a readable tar archive ({exc})",
                             fix="pass a file written by `docker save` (gunzip it first if compressed)") from None
        except ImageError:
            self.close()
            raise
        for name in links:
            seen, cur = set(), name
            while cur in links and cur not in seen:
                seen.add(cur)
                cur = links[cur]
            if cur in self._members:
                self._members[name] = self._members[cur]

    def has(self, name: str) -> bool:
        return _clean(name) in self._members

    def size(self, name: str) -> int:
        return self._members[_clean(name)][1]

    def span(self, name: str) -> tuple[int, int, int, bool]:
        off, size = self._members[_clean(name)]
        return self._fd, off, size, False

    def open(self, name: str) -> BinaryIO:
        off, size = self._members[_clean(name)]
        return io.BufferedReader(_Reader(self._fd, off, size), _CHUNK)  # type: ignore[return-value]

    def close(self) -> None:
        if self._finalizer is not None:
            self._finalizer()


class _DirStore(_Store):
    def __init__(self, root: Path) -> None:
        super().__init__(str(root))
        self._root = root.resolve()

    def _path(self, name: str) -> Path:
        p = (self._root / _clean(name)).resolve()
        if self._root not in p.parents and p != self._root:
            raise ImageError(f"{self.label}: {name} points outside the layout directory")
        return p

    def has(self, name: str) -> bool:
        return self._path(name).is_file()

    def size(self, name: str) -> int:
        return self._path(name).stat().st_size

    def open(self, name: str) -> BinaryIO:
        return open(self._path(name), "rb")

    def span(self, name: str) -> tuple[int, int, int, bool]:
        fd = os.open(self._path(name), os.O_RDONLY)
        return fd, 0, os.fstat(fd).st_size, True


def _dirname(p: str) -> str:
    return p.rsplit("/", 1)[0] if "/" in p else ""


def _join(base: str, rel: str) -> str:
    return rel if rel.startswith("/") or not base else f"{base}/{rel}"


def _clean(name: str) -> str:
    parts: list[str] = []
    for c in name.split("/"):
        if c in ("", "."):
            continue
        if c == "..":
            if parts:
                parts.pop()
            continue
        parts.append(c)
    return "/".join(parts)


# --------------------------------------------------------------------------- layer streams

class _Hashing(io.RawIOBase):
    """Pass bytes through, hashing and counting them; ``on_eof`` runs once at the end.

    Once a read brings a big chunk, hashing moves to a helper thread (hashlib releases the
    GIL on big buffers), so the digest of a layer is computed while the caller parses it.
    The chunks are hashed in order; ``digest`` waits for the helper."""

    def __init__(self, inner: IO[bytes], on_eof: Callable[[str, int], None] | None = None) -> None:
        self._inner, self._h, self.count, self._cb, self.done = inner, hashlib.sha256(), 0, on_eof, False
        self._queue: Any = None
        self._worker: Any = None

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        view = memoryview(b).cast("B")
        n = self._inner.readinto(view)
        if not n:
            if not self.done:
                self.done = True
                if self._cb:
                    self._cb(self.digest, self.count)
            return 0
        if self._queue is None and n >= _THREAD_HASH_MIN:
            import queue  # noqa: PLC0415
            import threading  # noqa: PLC0415
            self._queue = queue.Queue(maxsize=4)
            self._worker = threading.Thread(target=_hash_chunks, args=(self._queue, self._h),
                                            name="labkit-layer-digest", daemon=True)
            self._worker.start()
        if self._queue is not None:
            self._queue.put(bytes(view[:n]))
        else:
            self._h.update(view[:n])
        self.count += n
        return n

    def _join(self) -> None:
        if self._queue is not None:
            self._queue.put(None)
            self._worker.join()
            self._queue = self._worker = None

    def close(self) -> None:
        self._join()
        super().close()

    @property
    def digest(self) -> str:
        self._join()
        return "sha256:" + self._h.hexdigest()


_THREAD_HASH_MIN = 256 << 10


def _hash_chunks(q: Any, h: Any) -> None:
    while True:
        chunk = q.get()
        if chunk is None:
            return
        h.update(chunk)


class LayerStream(io.BufferedReader):
    """An uncompressed layer tar as a stream. Reading it to the end verifies its digests
    (blob digest and diffID) and raises ``DigestMismatch`` on a difference; ``finish()``
    reads what is left and returns ``(diff_id, uncompressed_bytes)``."""

    def __init__(self, raw: _Hashing, blob: _Hashing, resources: Sequence[IO[bytes]]) -> None:
        super().__init__(raw, _CHUNK)
        self._outer, self._blob, self._res = raw, blob, resources

    def finish(self) -> tuple[str, int]:
        """Read to the end (verifying); returns ``(diff_id, uncompressed bytes)``."""
        while self.read(_CHUNK):
            pass
        while self._blob.read(_CHUNK):       # trailing bytes after the gzip stream, if any
            pass
        return self._outer.digest, self._outer.count

    @property
    def blob_digest(self) -> str:
        """Digest of the stored blob (complete once ``finish()`` returned)."""
        return self._blob.digest

    def close(self) -> None:
        try:
            super().close()
        finally:
            for r in self._res:
                r.close()


def _decompressor(blob: IO[bytes], head: bytes, what: str) -> IO[bytes]:
    if head.startswith(_GZIP_MAGIC):
        return _gzip.GzipFile(fileobj=blob, mode="rb")  # type: ignore[return-value]
    if head.startswith(_ZSTD_MAGIC):
        try:
            import zstandard  # noqa: PLC0415 - optional
        except ImportError:
            raise ImageError(f"{what} is zstd-compressed and the `zstandard` package is not installed",
                             fix="pip install zstandard") from None
        return zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True)  # type: ignore[return-value]
    return blob


class LayerChecks:
    """The digests of an image's plain (uncompressed) layer blobs, checked in background
    threads while the caller parses the layers with ``open_layer(i, verify=False)``.

    Each worker reads a blob by offset (``os.preadv`` into one reused 16 MiB buffer) and
    hashes it; both release the GIL, so the hashing runs on other cores while the caller's
    thread parses. There is one worker per spare core (at least one), biggest blob first, and
    a caller waiting for a result hashes the blobs still queued itself. A compressed blob is
    not covered (``covers(i)`` is False): its uncompressed digest needs
    the decompressed stream, which ``open_layer(i)`` verifies as it is read.

    ``result(i)`` waits for layer ``i`` and returns ``(digest, bytes)`` or raises
    ``DigestMismatch``; ``check_through(i)`` checks every covered layer up to ``i`` in
    index order, so the lowest bad layer is the one named. Close it (or use ``with``)."""

    def __init__(self, image: "Image", workers: int | None = None) -> None:
        import threading  # noqa: PLC0415
        self._image = image
        self._done: dict[int, tuple[str, int] | BaseException] = {}
        self._cond = threading.Condition()
        self._stop = False
        store = image._store
        plain: list[tuple[int, int]] = []
        if store is not None:
            for i, b in enumerate(image._blobs):
                fd, off, size, owned = store.span(b.name)
                try:
                    head = os.pread(fd, 4, off) if size else b""
                finally:
                    if owned:
                        os.close(fd)
                if not (head.startswith(_GZIP_MAGIC) or head.startswith(_ZSTD_MAGIC)):
                    plain.append((size, i))
        plain.sort(key=lambda x: (-x[0], x[1]))        # biggest first: the shortest makespan
        self._covered = frozenset(i for _, i in plain)
        self._todo = [i for _, i in plain]
        # one core is left to the caller, who parses meanwhile and joins the hashing when it waits
        n = workers if workers is not None else max(1, cpu_count() - 1)
        self._threads = [threading.Thread(target=self._work, name="labkit-layer-digest", daemon=True)
                         for _ in range(max(0, min(n, len(self._todo))))]
        # A worker coming back from a system call or a hash waits for the GIL until the parsing
        # thread yields it: at most the switch interval (5 ms by default), twice per chunk.
        # A shorter interval while the checks run keeps the hashing going (restored on close).
        self._switch = sys.getswitchinterval()
        if self._threads and self._switch > _SWITCH:
            sys.setswitchinterval(_SWITCH)
        for t in self._threads:
            t.start()

    def covers(self, i: int) -> bool:
        return i in self._covered

    def _work(self) -> None:
        buf = memoryview(bytearray(_HASH_CHUNK))
        while self._step(buf):
            pass

    def _step(self, buf: memoryview) -> bool:
        """Hash the next layer waiting for a thread; False when none is left."""
        with self._cond:
            if self._stop or not self._todo:
                return False
            i = self._todo.pop(0)
        try:
            out: tuple[str, int] | BaseException = self._hash(i, buf)
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            out = exc
        with self._cond:
            self._done[i] = out
            self._cond.notify_all()
        return True

    def _hash(self, i: int, buf: memoryview) -> tuple[str, int]:
        store = self._image._store
        assert store is not None
        b = self._image._blobs[i]
        fd, off, size, owned = store.span(b.name)
        try:
            h = hashlib.sha256()
            pos, end = off, off + size
            while pos < end:
                if self._stop:
                    raise ImageError("layer check cancelled")
                view = buf[:min(len(buf), end - pos)]
                n = os.preadv(fd, [view], pos)
                if not n:
                    raise ImageError(f"{self._image.source}: layer {i} ({b.name}) ends after "
                                     f"{pos - off} of {size} bytes",
                                     fix="the image file is truncated; save it again")
                h.update(view[:n])
                pos += n
        finally:
            if owned:
                os.close(fd)
        actual = "sha256:" + h.hexdigest()
        if b.digest and actual != b.digest:
            raise DigestMismatch(f"layer {i}", b.digest, actual)
        if actual != b.diff_id:
            raise DigestMismatch(f"layer {i}", b.diff_id, actual)
        return actual, size

    def result(self, i: int) -> tuple[str, int]:
        """``(digest, bytes)`` of covered layer ``i`` once hashed; raises ``DigestMismatch``."""
        if i not in self._covered:
            raise ImageError(f"layer {i} is not checked in the background (it is compressed)")
        buf: memoryview | None = None
        while True:
            with self._cond:
                if i in self._done:
                    out = self._done[i]
                    break
                idle = not self._todo or self._stop
                if idle:
                    self._cond.wait()
                    continue
            if buf is None:                 # a waiting caller hashes the layers still queued
                buf = memoryview(bytearray(_HASH_CHUNK))
            self._step(buf)
        if isinstance(out, BaseException):
            raise out
        return out

    def check_through(self, last: int) -> None:
        """Raise the error of the lowest covered layer ``<= last`` that fails its check."""
        for i in sorted(self._covered):
            if i <= last:
                self.result(i)

    def check_all(self) -> None:
        self.check_through(len(self._image._blobs))

    def close(self) -> None:
        with self._cond:
            self._stop = True
        for t in self._threads:
            t.join()
        if self._threads and sys.getswitchinterval() == _SWITCH != self._switch:
            sys.setswitchinterval(self._switch)
        with self._cond:
            for i in self._covered - self._done.keys():
                self._done[i] = ImageError(f"layer {i} was not checked: the checks were closed")
            self._cond.notify_all()

    def __enter__(self) -> "LayerChecks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_SWITCH = 0.0005            # seconds: the GIL switch interval while layer checks run
_HASH_CHUNK = 16 << 20      # bytes per read + hash: the GIL is taken back once per chunk, so few and big



# --------------------------------------------------------------------------- the image

@dataclass(frozen=True)
class _Blob:
    name: str               # member/file name in the store
    digest: str             # expected digest of the stored blob
    diff_id: str            # expected digest of the uncompressed tar


@dataclass(frozen=True, eq=False)
class Image:
    """A saved image: config, manifest, layers (bottom first) and history (oldest first).

    ``history`` follows the config's order (oldest first); ``docker history`` prints it
    newest first. Close it (or use ``with``) to release the source file early.
    """

    ref: ImageRef
    config: Mapping[str, Any]
    manifest: Mapping[str, Any]
    layers: tuple[Layer, ...]
    history: tuple[HistoryEntry, ...]
    source: str = ""
    layout: str = ""                            # "docker-save", "docker-save+oci", "oci-dir"
    _store: _Store | None = field(default=None, repr=False, compare=False)
    _blobs: tuple[_Blob, ...] = field(default=(), repr=False, compare=False)

    # -- streams
    def open_layer(self, i: int, *, verify: bool = True) -> LayerStream | IO[bytes]:
        """Layer ``i`` as an uncompressed tar stream; reading to the end verifies it.

        ``verify=False`` gives a plain stream with no digest checks, seekable when the blob
        is stored uncompressed (for a second look at a layer that is verified elsewhere)."""
        if self._store is None:
            raise ImageError("this Image has no source to read layers from")
        if not 0 <= i < len(self._blobs):
            raise ImageError(f"layer {i} does not exist: the image has {len(self._blobs)} layers")
        b = self._blobs[i]
        label = f"layer {i}"
        if not verify:
            raw = self._store.open(b.name)
            head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
            inner = _decompressor(raw, head, f"{label} ({b.name})")
            return raw if inner is raw else io.BufferedReader(  # type: ignore[return-value]
                _GuardedRead(inner, f"{label} ({b.name}) of {self.source}", lambda: None), _CHUNK)

        def check_blob(actual: str, _n: int) -> None:
            if b.digest and actual != b.digest:
                raise DigestMismatch(label, b.digest, actual)

        def check_diff(actual: str, _n: int) -> None:
            if actual != b.diff_id:
                raise DigestMismatch(label, b.diff_id, actual)

        raw = self._store.open(b.name)
        blob = _Hashing(raw, check_blob)
        head = raw.peek(4)[:4] if hasattr(raw, "peek") else b""
        if not head and hasattr(raw, "seek"):
            pos = raw.tell()
            head = raw.read(4)
            raw.seek(pos)
        blob_buf = io.BufferedReader(blob, _CHUNK)
        try:
            inner = _decompressor(blob_buf, head, f"{label} ({b.name})")
        except Exception:
            raw.close()
            raise
        if inner is blob_buf:      # stored uncompressed: one hash serves both digests
            blob_buf.detach()

            def check_both(actual: str, n: int) -> None:
                check_blob(actual, n)
                check_diff(actual, n)
            blob = _Hashing(raw, check_both)
            return LayerStream(blob, blob, (raw,))

        def blame() -> None:  # a decompression error: was the blob changed?
            while blob.read(_CHUNK):
                pass

        outer = _Hashing(_GuardedRead(inner, f"{label} ({b.name}) of {self.source}", blame), check_diff)
        return LayerStream(outer, blob, (inner, blob_buf, raw))

    def layer_checks(self, workers: int | None = None) -> LayerChecks:
        """Start checking the digests of the plain layer blobs in background threads (see
        ``LayerChecks``); parse those layers with ``open_layer(i, verify=False)`` meanwhile."""
        if self._store is None:
            raise ImageError("this Image has no source to read layers from")
        return LayerChecks(self, workers)

    def iter_entries(self, i: int, *, with_data: bool = False, digest: bool = True,
                     head: int = 0) -> Iterator[Any]:
        """Stream ``tarlayer.TarEntry`` values of layer ``i``; verifies the layer at the end
        (the digest check raises from the last step of the iteration)."""
        with self.open_layer(i) as f:
            try:
                yield from iter_entries(f, with_data=with_data, name=f"layer {i}", digest=digest,
                                        head=head)
            except LayerError:
                f.finish()        # a changed blob is named as a digest mismatch first
                raise
            f.finish()

    def layer_dir(self, i: int, with_data: bool = False) -> LayerDir:
        """Layer ``i`` as an overlay2 layer directory (whiteouts, opaque dirs)."""
        with self.open_layer(i) as f:
            try:
                layer = read_layer(f, with_data=with_data, name=f"layer {i}")
            except LayerError:
                f.finish()
                raise
            f.finish()
        return layer

    # -- derived values
    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    @property
    def chain_ids(self) -> tuple[str, ...]:
        return tuple(chain_ids(self.diff_ids))

    @property
    def size(self) -> int:
        """Sum of the layers' content sizes (what ``docker images`` calls SIZE)."""
        return sum(max(layer.size, 0) for layer in self.layers)

    def verify(self) -> None:
        """Read every layer to its end; raises ``DigestMismatch`` on the first bad one."""
        with self.layer_checks() as checks:
            for i in range(len(self.layers)):
                if checks.covers(i):
                    checks.result(i)
                    continue
                try:
                    with self.open_layer(i) as f:
                        f.finish()
                except ImageError:
                    checks.check_through(i)     # a lower bad layer is named first
                    raise

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> "Image":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _GuardedRead(io.RawIOBase):
    """Turn decompression errors into an ImageError naming the layer."""

    def __init__(self, inner: IO[bytes], what: str, blame: Callable[[], None]) -> None:
        self._inner, self._what, self._blame = inner, what, blame

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            if hasattr(self._inner, "readinto"):
                return self._inner.readinto(b) or 0
            data = self._inner.read(len(b))
        except ImageError:
            raise
        except Exception as exc:  # gzip.BadGzipFile, EOFError, zstandard.ZstdError ...
            self._blame()          # raises DigestMismatch when the blob's digest is wrong
            raise ImageError(f"{self._what} cannot be decompressed: {exc}",
                             fix="the blob is corrupt or truncated; save the image again") from None
        n = len(data)
        b[:n] = data
        return n


# --------------------------------------------------------------------------- opening

def open_image(source: str | Path | BinaryIO, *, tag: str | None = None, verify: bool = True) -> Image:
    """Open a docker-save tar (legacy or OCI layout), an OCI layout directory, or a file
    object streaming a docker-save tar.

    A file object that cannot seek (e.g. ``docker save`` piped from the engine) is spooled to
    an anonymous temporary file first, since blobs are read by offset; a seekable real file
    is used in place. ``tag`` picks one image when the source holds several. With
    ``verify=True`` (default) every layer is read once now: digests are checked and the
    content sizes of ``Layer.size`` / ``HistoryEntry.size`` are computed.
    """
    store = _make_store(source)
    try:
        image = _load(store, tag)
        if verify:
            image = _verified(image)
        return image
    except BaseException:
        store.close()
        raise


def _make_store(source: str | Path | BinaryIO) -> _Store:
    if isinstance(source, (str, Path)):
        p = Path(source)
        if p.is_dir():
            return _DirStore(p)
        if not p.exists():
            if isinstance(source, str) and ":" in source or "/" not in str(source):
                raise ImageError(f"{source}: no such file or directory",
                                 fix="pass a docker-save tar or an OCI layout directory; to inspect an "
                                     "image by name use `labkit inspect NAME` with the Docker engine")
            raise ImageError(f"{source}: no such file or directory")
        fd = os.open(p, os.O_RDONLY)
        head = os.pread(fd, 4, 0)
        if head.startswith(_GZIP_MAGIC):
            os.close(fd)
            raise ImageError(f"{p} is gzip-compressed", fix=f"gunzip it first: gunzip -k {p}")
        return _TarStore(fd, str(p), owns_fd=True)
    name = getattr(source, "name", "<stream>")
    label = str(name) if isinstance(name, (str, Path)) else "<stream>"
    try:
        fd = source.fileno()
        if source.seekable() and os.fstat(fd).st_size > 0 and os.lseek(fd, 0, os.SEEK_CUR) == 0:
            return _TarStore(os.dup(fd), label, owns_fd=True)
    except (AttributeError, OSError, io.UnsupportedOperation):
        pass
    spool = tempfile.TemporaryFile(prefix="labkit-image-")
    shutil.copyfileobj(source, spool, _CHUNK)
    spool.flush()
    fd = os.dup(spool.fileno())
    spool.close()
    return _TarStore(fd, label, owns_fd=True)


def _load(store: _Store, tag: str | None) -> Image:
    if store.has("index.json") and store.has("oci-layout"):
        return _load_oci(store, tag)
    if store.has("manifest.json"):
        return _load_legacy(store, tag)
    what = "directory" if isinstance(store, _DirStore) else "tar"
    raise ImageError(f"{store.label}: this {what} is not a saved image: it has neither manifest.json "
                     "(docker save) nor index.json + oci-layout (OCI layout)",
                     fix="create it with `docker save IMAGE -o image.tar`")


def _pick(entries: list[Any], tag: str | None, tags_of: Callable[[Any], list[str]], label: str) -> Any:
    if not entries:
        raise ImageError(f"{label}: the manifest lists no image")
    if tag is not None:
        for e in entries:
            if tag in tags_of(e) or any(t.endswith("/" + tag) or t.split(":")[0] == tag for t in tags_of(e)):
                return e
        raise ImageError(f"{label}: no image tagged {tag!r}; it holds "
                         + ", ".join(sorted({t for e in entries for t in tags_of(e)}) or ["untagged images"]))
    if len(entries) > 1:
        raise ImageError(f"{label} holds {len(entries)} images",
                         fix="pick one with tag=... (tags: "
                         + ", ".join(t for e in entries for t in tags_of(e)) + ")")
    return entries[0]


def _digest_of(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _load_legacy(store: _Store, tag: str | None) -> Image:
    manifest_list, _ = store.read_json("manifest.json")
    if not isinstance(manifest_list, list) or not all(isinstance(e, dict) for e in manifest_list):
        raise ImageError(f"{store.label}: manifest.json is not a list of image entries")
    entry = _pick(manifest_list, tag, lambda e: list(e.get("RepoTags") or []), store.label)
    cfg_name = entry.get("Config")
    layer_names = entry.get("Layers")
    if not isinstance(cfg_name, str) or not isinstance(layer_names, list):
        raise ImageError(f"{store.label}: manifest.json entry lacks Config or Layers")
    config, raw = store.read_json(cfg_name)
    image_id = _digest_of(raw)
    named = _clean(cfg_name).rsplit("/", 1)[-1].removesuffix(".json")
    if len(named) == 64 and f"sha256:{named}" != image_id:
        raise DigestMismatch(f"config {cfg_name}", f"sha256:{named}", image_id)
    diff_ids = _diff_ids(config, len(layer_names), store.label)
    blobs: list[_Blob] = []
    metas: list[tuple[str, int, str]] = []
    for i, name in enumerate(layer_names):
        if not isinstance(name, str) or not store.has(name):
            raise ImageError(f"{store.label}: layer {i} ({name}) is listed in manifest.json but absent",
                             fix="the tar is incomplete; save the image again")
        expected = ""
        n = _clean(name)
        if n.startswith("blobs/sha256/"):          # Docker 25+: manifest.json points at blobs
            expected = "sha256:" + n.rsplit("/", 1)[-1]
        blobs.append(_Blob(name, expected, diff_ids[i]))
        metas.append((expected or diff_ids[i], store.size(name), DOCKER_LAYER))
    layout = "docker-save+oci" if store.has("oci-layout") else "docker-save"
    return _assemble(store, config, dict(entry), image_id, tuple(entry.get("RepoTags") or ()),
                     blobs, metas, layout)


def _load_oci(store: _Store, tag: str | None) -> Image:
    layout, _ = store.read_json("oci-layout")
    if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
        raise ImageError(f"{store.label}: oci-layout lacks imageLayoutVersion")
    index, _ = store.read_json("index.json")
    if not isinstance(index, dict) or not isinstance(index.get("manifests"), list):
        raise ImageError(f"{store.label}: index.json has no manifests list")

    def tags_of(d: Mapping[str, Any]) -> list[str]:
        ann = d.get("annotations") or {}
        return [t for t in (ann.get("io.containerd.image.name"), ann.get("org.opencontainers.image.ref.name")) if t]

    desc = _pick(index["manifests"], tag, tags_of, store.label)
    tags = tuple(t for t in tags_of(desc) if ":" in t or "/" in t) or tuple(tags_of(desc))
    manifest = _read_blob_json(store, desc, "image manifest")
    for _depth in range(4):                        # follow nested indexes to one platform
        if manifest.get("mediaType") in (OCI_INDEX, DOCKER_LIST) or (
                "manifests" in manifest and "layers" not in manifest):
            desc = _platform(manifest.get("manifests") or [], store.label)
            manifest = _read_blob_json(store, desc, "image manifest")
        else:
            break
    cdesc = manifest.get("config")
    if not isinstance(cdesc, dict) or not isinstance(manifest.get("layers"), list):
        raise ImageError(f"{store.label}: image manifest {desc.get('digest')} lacks config or layers")
    config, raw = _read_blob(store, cdesc, "config")
    image_id = _digest_of(raw)
    ldescs = manifest["layers"]
    diff_ids = _diff_ids(config, len(ldescs), store.label)
    blobs, metas = [], []
    for i, ld in enumerate(ldescs):
        name = _blob_name(ld, store.label)
        if not store.has(name):
            raise ImageError(f"{store.label}: layer {i} ({name}) is listed in the manifest but absent",
                             fix="the layout is incomplete; save the image again")
        size = store.size(name)
        if isinstance(ld.get("size"), int) and ld["size"] != size:
            raise ImageError(f"{store.label}: layer {i} blob {name} is {size} bytes, the manifest says {ld['size']}",
                             fix="the blob was truncated or replaced; save the image again")
        blobs.append(_Blob(name, ld["digest"], diff_ids[i]))
        metas.append((ld["digest"], size, str(ld.get("mediaType", OCI_LAYER))))
    return _assemble(store, config, manifest, image_id, tags, blobs, metas,
                     "docker-save+oci" if isinstance(store, _TarStore) else "oci-dir")


def _blob_name(desc: Mapping[str, Any], label: str) -> str:
    digest = desc.get("digest")
    if not isinstance(digest, str) or ":" not in digest:
        raise ImageError(f"{label}: descriptor without a digest: {dict(desc)}")
    algo, hexd = digest.split(":", 1)
    if algo != "sha256":
        raise ImageError(f"{label}: digest algorithm {algo} is not supported (only sha256)")
    return f"blobs/sha256/{hexd}"


def _read_blob(store: _Store, desc: Mapping[str, Any], what: str) -> tuple[Any, bytes]:
    name = _blob_name(desc, store.label)
    data, raw = store.read_json(name)
    actual = _digest_of(raw)
    if actual != desc["digest"]:
        raise DigestMismatch(f"{what} {name}", desc["digest"], actual)
    if not isinstance(data, dict):
        raise ImageError(f"{store.label}: {what} {name} is not a JSON object")
    return data, raw


def _read_blob_json(store: _Store, desc: Mapping[str, Any], what: str) -> dict[str, Any]:
    return _read_blob(store, desc, what)[0]


def _platform(descs: list[Any], label: str) -> Mapping[str, Any]:
    if len(descs) == 1:
        return descs[0]
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    for d in descs:
        p = d.get("platform") or {}
        if p.get("os") == "linux" and p.get("architecture") == arch:
            return d
    raise ImageError(f"{label}: the index lists {len(descs)} platforms and none is linux/{arch}")


def _diff_ids(config: Any, n_layers: int, label: str) -> list[str]:
    if not isinstance(config, dict):
        raise ImageError(f"{label}: the image config is not a JSON object")
    ids = (config.get("rootfs") or {}).get("diff_ids")
    if not isinstance(ids, list) or not all(isinstance(x, str) for x in ids):
        raise ImageError(f"{label}: the image config has no rootfs.diff_ids list")
    if len(ids) != n_layers:
        raise ImageError(f"{label}: the config lists {len(ids)} diff_ids but the manifest {n_layers} layers",
                         fix="the manifest and config do not belong together; save the image again")
    return ids


def _assemble(store: _Store, config: dict[str, Any], manifest: Mapping[str, Any], image_id: str,
              tags: tuple[str, ...], blobs: list[_Blob], metas: list[tuple[str, int, str]],
              layout: str, sizes: Sequence[tuple[int, int]] | None = None) -> Image:
    history = map_history(config.get("history") or [], len(blobs),
                          [s[0] for s in sizes] if sizes else None)
    by_layer = {h.layer_index: h.created_by for h in history if h.layer_index is not None}
    layers = tuple(
        Layer(index=i, diff_id=b.diff_id, digest=m[0], size=sizes[i][0] if sizes else -1,
              blob_size=m[1], media_type=m[2], created_by=by_layer.get(i, ""),
              tar_size=sizes[i][1] if sizes else -1)
        for i, (b, m) in enumerate(zip(blobs, metas)))
    return Image(ref=ImageRef(id=image_id, tags=tags, engine=""), config=config, manifest=manifest,
                 layers=layers, history=tuple(history), source=store.label, layout=layout,
                 _store=store, _blobs=tuple(blobs))


def map_history(history: Sequence[Mapping[str, Any]], n_layers: int,
                sizes: Sequence[int] | None = None) -> list[HistoryEntry]:
    """Config history (oldest first) -> HistoryEntry values: entries with ``empty_layer`` map
    to no layer, the others map in order to layers 0, 1, ...; layers without a history entry
    get a synthetic ``(no history)`` entry so every layer is accounted for."""
    out: list[HistoryEntry] = []
    nxt = 0
    for h in history:
        empty = bool(h.get("empty_layer", False))
        idx = None
        if not empty and nxt < n_layers:
            idx, nxt = nxt, nxt + 1
        out.append(HistoryEntry(created_by=str(h.get("created_by", "")), empty_layer=empty or idx is None,
                                size=(sizes[idx] if sizes and idx is not None else 0),
                                layer_index=idx, created=str(h.get("created", ""))))
    while nxt < n_layers:
        out.append(HistoryEntry(created_by="(no history)", empty_layer=False,
                                size=sizes[nxt] if sizes else 0, layer_index=nxt))
        nxt += 1
    return out


def content_size(entries: Iterator[Any]) -> int:
    """Bytes of a layer as Docker's overlay2 counts them (``docker history`` SIZE): regular
    files (hard links once) plus symlink target lengths; directories and whiteouts are 0."""
    total = 0
    for e in entries:
        node = e.node
        if node.kind == "file" and not e.hardlink:
            total += node.size
        elif node.kind == "symlink":
            total += len(node.linkname.encode("utf-8", "surrogateescape"))
    return total


def _verified(image: Image) -> Image:
    """Read each layer once: digests checked, content and tar sizes measured.

    Plain blobs are hashed by ``LayerChecks`` threads while this thread reads the headers
    (skipping file data by seeking); compressed ones are verified as they stream."""
    sizes: list[tuple[int, int]] = []
    metas = []
    with image.layer_checks() as checks:
        for i, la in enumerate(image.layers):
            try:
                if checks.covers(i):
                    with image.open_layer(i, verify=False) as f:
                        csize = content_size(iter_entries(f, with_data=False, name=f"layer {i}",
                                                          digest=False))
                    blob_digest, tar_bytes = checks.result(i)
                else:
                    with image.open_layer(i) as f:
                        try:
                            csize = content_size(iter_entries(f, with_data=False, name=f"layer {i}",
                                                              digest=False))
                        except LayerError:
                            f.finish()    # a changed blob is named as a digest mismatch first
                            raise
                        _, tar_bytes = f.finish()
                        blob_digest = f.blob_digest
            except LabkitError:
                checks.check_through(i)   # the lowest bad layer is named first
                raise
            metas.append((blob_digest, la.blob_size, la.media_type))
            sizes.append((csize, tar_bytes))
    store = image._store
    assert store is not None
    return _assemble(store, dict(image.config), image.manifest, image.ref.id, image.ref.tags,
                     list(image._blobs), metas, image.layout, sizes)


# --------------------------------------------------------------------------- writing

def write_image_tar(layers: Sequence[bytes], config: Mapping[str, Any], dest: str | Path | BinaryIO, *,
                    repo_tags: Sequence[str] = (), layout: Literal["docker", "oci"] = "docker",
                    gzip: bool = False) -> ImageRef:
    """Write a tar that ``docker load`` accepts; returns its ``ImageRef``.

    ``layers`` are uncompressed layer tars, bottom first. ``config`` is copied and its
    ``rootfs.diff_ids`` filled in (``architecture``/``os`` default to amd64/linux); the image
    id is the sha256 of the config JSON bytes written. ``layout="docker"`` writes the legacy
    ``docker save`` layout (manifest.json, <id>/layer.tar, <id>.json, repositories);
    ``layout="oci"`` writes what Docker 25+ saves (oci-layout, index.json, blobs/sha256/*,
    plus manifest.json). ``gzip`` compresses the layer blobs (deterministically).
    """
    if layout not in ("docker", "oci"):
        raise ImageError(f"unknown layout {layout!r}", fix='use layout="docker" or layout="oci"')
    cfg = json.loads(json.dumps(dict(config)))
    cfg.setdefault("architecture", "amd64")
    cfg.setdefault("os", "linux")
    diff_ids = [_digest_of(bytes(data)) for data in layers]
    cfg["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
    cfg_raw = json.dumps(cfg, separators=(",", ":"), sort_keys=True).encode()
    image_id = _digest_of(cfg_raw)
    blobs = [_gzip.compress(bytes(d), mtime=0) if gzip else bytes(d) for d in layers]
    files: list[tuple[str, bytes]] = []
    tags = list(repo_tags)
    if layout == "docker":
        chain = chain_ids(diff_ids)
        layer_paths, seen, parent = [], set(), ""
        for i, blob in enumerate(blobs):
            v1 = hashlib.sha256(f"{chain[i]} {parent}".encode()).hexdigest()
            path = f"{v1}/layer.tar"
            if path not in seen:
                seen.add(path)
                files += [(f"{v1}/VERSION", b"1.0"),
                          (f"{v1}/json", json.dumps({"id": v1, **({"parent": parent} if parent else {})},
                                                    separators=(",", ":")).encode()),
                          (path, blob)]
            layer_paths.append(path)
            parent = v1
        files.append((f"{image_id.split(':', 1)[1]}.json", cfg_raw))
        manifest = [{"Config": f"{image_id.split(':', 1)[1]}.json", "RepoTags": tags or None,
                     "Layers": layer_paths}]
        files.append(("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
        repos: dict[str, dict[str, str]] = {}
        for t in tags:
            repo, _, tg = t.rpartition(":") if ":" in t.rsplit("/", 1)[-1] else (t, "", "latest")
            repos.setdefault(repo, {})[tg] = parent
        if repos:
            files.append(("repositories", json.dumps(repos, separators=(",", ":")).encode()))
    else:
        mt = OCI_LAYER + ("+gzip" if gzip else "")
        blob_files: dict[str, bytes] = {}
        ldescs = []
        for blob in blobs:
            d = _digest_of(blob)
            blob_files[f"blobs/sha256/{d.split(':', 1)[1]}"] = blob
            ldescs.append({"mediaType": mt, "digest": d, "size": len(blob)})
        blob_files[f"blobs/sha256/{image_id.split(':', 1)[1]}"] = cfg_raw
        man = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
               "config": {"mediaType": OCI_CONFIG, "digest": image_id, "size": len(cfg_raw)},
               "layers": ldescs}
        man_raw = json.dumps(man, separators=(",", ":")).encode()
        man_digest = _digest_of(man_raw)
        blob_files[f"blobs/sha256/{man_digest.split(':', 1)[1]}"] = man_raw
        descs = []
        for t in tags or [None]:
            d: dict[str, Any] = {"mediaType": OCI_MANIFEST, "digest": man_digest, "size": len(man_raw)}
            if t:
                full = t if "/" in t else f"docker.io/library/{t}"
                d["annotations"] = {"io.containerd.image.name": full,
                                    "org.opencontainers.image.ref.name": t.rsplit(":", 1)[-1]}
            descs.append(d)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descs}
        files += [("blobs", b""), ("blobs/sha256", b"")]
        files += sorted(blob_files.items())
        files.append(("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'))
        files.append(("index.json", json.dumps(index, separators=(",", ":")).encode()))
        manifest = [{"Config": f"blobs/sha256/{image_id.split(':', 1)[1]}", "RepoTags": tags or None,
                     "Layers": [f"blobs/sha256/{x['digest'].split(':', 1)[1]}" for x in ldescs]}]
        files.append(("manifest.json", json.dumps(manifest, separators=(",", ":")).encode()))
    _write_tar(files, dest)
    return ImageRef(id=image_id, tags=tuple(tags), engine="")


def _write_tar(files: list[tuple[str, bytes]], dest: str | Path | BinaryIO) -> None:
    def emit(f: BinaryIO) -> None:
        with tarfile.open(fileobj=f, mode="w", format=tarfile.PAX_FORMAT) as tf:
            dirs = set()
            for name, data in files:
                parts = name.split("/")
                for k in range(1, len(parts)):
                    d = "/".join(parts[:k])
                    if d not in dirs:
                        dirs.add(d)
                        ti = tarfile.TarInfo(d)
                        ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                        tf.addfile(ti)
                if name in ("blobs", "blobs/sha256"):
                    continue
                ti = tarfile.TarInfo(name)
                ti.size, ti.mode = len(data), 0o644
                tf.addfile(ti, io.BytesIO(data))

    if isinstance(dest, (str, Path)):
        tmp = Path(f"{dest}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as f:
                emit(f)  # type: ignore[arg-type]
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        emit(dest)
