"""The blobs of a saved image and the streams that verify them.

A blob store reads named blobs without extracting anything: ``_TarStore`` indexes the member
offsets of a ``docker save`` tar once and reads each blob by offset (pread), ``_DirStore``
reads the files of an OCI layout directory. ``LayerStream`` is a layer as an uncompressed
tar stream whose digests (blob digest, diffID) are checked as it is read; ``LayerChecks``
checks the plain layer blobs in background threads while the caller parses them.
"""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import struct
import sys
import tarfile
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, Callable, Sequence

from ..errors import DigestMismatch, ImageError, LabkitError, LimitExceeded
from .limits import Limits, current
from .parallel import cpu_count
from .tar.reader import MAGIC_BYTES, compression_of, decompressing

if TYPE_CHECKING:  # pragma: no cover
    from .image import Image

_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class _Blob:
    name: str               # member/file name in the store
    digest: str             # expected digest of the stored blob
    diff_id: str            # expected digest of the uncompressed tar


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

    def read_json(self, name: str, limits: Limits | None = None) -> tuple[Any, bytes]:
        """``(value, bytes)`` of the JSON document ``name``, within the ``json_bytes`` and
        ``json_depth`` budgets of ``limits`` (default ``limits.current()``)."""
        if not self.has(name):
            raise ImageError(f"{self.label}: {name} is missing",
                             fix="this is not a complete docker-save tar or OCI layout; save it again")
        if limits is None:
            limits = current()
        limits.check("json_bytes", self.size(name), f"{self.label}: {name}: bytes")
        with self.open(name) as f:
            raw = f.read(limits.json_bytes + 1)
        limits.check("json_bytes", len(raw), f"{self.label}: {name}: bytes")
        return parse_json(raw, f"{self.label}: {name}", limits), raw

    def close(self) -> None:
        pass


def parse_json(raw: bytes, what: str, limits: Limits) -> Any:
    """``json.loads(raw)`` with ``LimitExceeded`` past ``limits.json_depth`` (measured before
    parsing: deep nesting would otherwise end in a RecursionError) and ``ImageError`` for
    anything that is not JSON."""
    depth = json_depth(raw)
    if depth > limits.json_depth:
        raise LimitExceeded(f"{what}: levels of nesting", "json_depth", depth, limits.json_depth)
    try:
        return json.loads(raw)
    except RecursionError:      # json_depth was raised past what Python's parser follows
        raise ImageError(f"{what} nests deeper than Python's JSON parser can follow ({depth} levels)",
                         fix="no image Docker writes nests this deep: save the image again") from None
    except ValueError as exc:
        raise ImageError(f"{what} is not valid JSON ({str(exc)[:200]})",
                         fix="the file is corrupt; save the image again") from None


_BRACKETS = bytes(range(256)).translate(None, b"[]{}")   # every byte but the brackets
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in the JSON text ``raw``, strings skipped (exact
    for valid JSON; for other text an estimate, and ``json.loads`` says what is wrong).

    Done with bytes operations, no loop per character: escaped backslashes and quotes are
    dropped, then the text between quotes (the strings), then every byte but the brackets."""
    if b"\\" in raw:
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(raw.split(b'"')[::2]) if b'"' in raw else raw
    brackets = outside.translate(None, _BRACKETS)
    opening = brackets.count(b"[") + brackets.count(b"{")
    if opening <= 1:
        return opening
    depth = deepest = 0
    if len(brackets) < 4096:
        for c in brackets:
            depth += _STEP[c]
            if depth > deepest:
                deepest = depth
        return deepest
    return max(itertools.accumulate(map(_STEP.__getitem__, brackets)))


def _check_end(f: IO[bytes], offset: int, label: str) -> None:
    """``tarfile`` ends an archive quietly at the first header it cannot parse after the
    first one (a bad GNU sparse map, a bad number ...), where Go's reader, and so ``docker
    load``, fails: what follows the last member must be the end (zero blocks) or nothing."""
    f.seek(offset)
    block = f.read(512)
    if block and block.count(0) != len(block):
        raise ImageError(f"{label}: a malformed tar header at byte {offset} of the image tar",
                         fix="the file is corrupt or not written by `docker save`; save the image again")


class _TarStore(_Store):
    """Index of an outer (uncompressed) tar: name -> (offset, size); symlinks resolved.

    The tar is read with the standard library's ``tarfile``; its members are not kept (only
    each blob's offset and size), and a tar with more than ``entries_per_image`` members is
    refused (a saved image has a few per layer)."""

    def __init__(self, fd: int, label: str, owns_fd: bool, limits: Limits | None = None) -> None:
        super().__init__(label)
        self._fd, self._owns = fd, owns_fd
        self._members: dict[str, tuple[int, int]] = {}
        self._finalizer = weakref.finalize(self, os.close, fd) if owns_fd else None
        limits = limits if limits is not None else current()
        total = os.fstat(fd).st_size
        os.lseek(fd, 0, os.SEEK_SET)          # the index is read from the start
        links: dict[str, str] = {}
        count = 0
        try:
            with os.fdopen(os.dup(fd), "rb") as fo, tarfile.open(fileobj=fo, mode="r:") as tf:
                while True:
                    m = tf.next()
                    if m is None:
                        _check_end(fo, tf.offset, label)
                        break
                    tf.members.clear()        # tarfile keeps every member it read: not needed
                    count += 1
                    limits.check("entries_per_image", count, f"{label}: members of the image tar")
                    limits.check("path_bytes", len(m.name), f"{label}: member {m.name[:80]!r}: bytes in its name")
                    name = _clean(m.name)
                    if m.type == tarfile.GNUTYPE_SPARSE or m.sparse is not None or any(
                            k.startswith("GNU.sparse.") for k in m.pax_headers):
                        # Go's reader (docker load) fails on a bad sparse map, tarfile may not
                        raise ImageError(f"{label}: member {m.name[:80]!r} is a sparse file",
                                         fix="docker save never writes sparse members; save it again")
                    if m.issym() or m.islnk():
                        base = _dirname(name) if m.issym() else ""
                        links[name] = _clean(_join(base, m.linkname))
                    elif m.isfile():
                        if m.offset_data + m.size > total:
                            raise ImageError(f"{label}: truncated tar: member {m.name} needs "
                                             f"{m.offset_data + m.size} bytes, the file has {total}",
                                             fix="the download or copy was cut short; save the image again")
                        self._members[name] = (m.offset_data, m.size)
        except tarfile.TarError as exc:
            self.close()
            raise ImageError(f"{label}: not a readable tar archive ({exc})",
                             fix="pass a file written by `docker save` (gunzip it first if compressed)") from None
        except LabkitError:
            self.close()
            raise
        except (ValueError, OverflowError, struct.error, UnicodeError, EOFError, OSError, IndexError) as exc:
            # tarfile's own checks miss some malformed headers: bad GNU sparse maps or pax
            # sparse records, huge numbers ...
            self.close()
            raise ImageError(f"{label}: a malformed header in the image tar "
                             f"({type(exc).__name__}: {str(exc)[:200]})",
                             fix="the file is corrupt or not written by `docker save`; save the image again") from None
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
    """``blob`` decompressed when ``head`` (its first bytes) shows gzip, bzip2, xz or zstd,
    as Docker's ``DecompressStream`` does; else ``blob`` itself. The diffID is the digest of
    what this returns."""
    kind = compression_of(head)
    if not kind:
        return blob
    try:
        return decompressing(blob, kind)
    except LabkitError as exc:
        raise ImageError(f"{what}: {exc.message}", fix=exc.fix) from None


class LayerChecks:
    """The digests of an image's plain (uncompressed) layer blobs, checked in background
    threads while the caller parses the layers with ``open_layer(i, verify=False)``.

    Each worker reads a blob by offset (``os.preadv`` into one reused 16 MiB buffer) and
    hashes it; both release the GIL, so the hashing runs on other cores while the caller's
    thread parses. There is one worker per spare core (at least one), biggest blob first, and
    a caller waiting for a result hashes the blobs still queued itself. A compressed blob is
    not covered (``covers(i)`` is False): its diffID (the digest of the uncompressed tar) needs
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
                    head = os.pread(fd, MAGIC_BYTES, off) if size else b""
                finally:
                    if owned:
                        os.close(fd)
                if not compression_of(head):
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


class _GuardedRead(io.RawIOBase):
    """A decompressed stream: decompression errors become an ImageError naming the layer,
    and the bytes that come out are held to the stream budgets of ``limits`` (bytes of tar,
    and the ratio to ``compressed()``, the bytes of the blob read so far)."""

    def __init__(self, inner: IO[bytes], what: str, blame: Callable[[], None],
                 limits: Limits | None = None, compressed: Callable[[], int] | None = None) -> None:
        self._inner, self._what, self._blame = inner, what, blame
        self._limits = limits if limits is not None else current()
        self._compressed = compressed
        self._total = 0
        self._next = min(self._limits.ratio_floor, self._limits.unpacked_bytes)
        self._ended = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            if hasattr(self._inner, "readinto"):
                n = self._inner.readinto(b) or 0
            else:
                data = self._inner.read(len(b))
                n = len(data)
                b[:n] = data
        except LabkitError:
            raise
        except Exception as exc:  # gzip.BadGzipFile, EOFError, zstandard.ZstdError ...
            self._blame()          # raises DigestMismatch when the blob's digest is wrong
            raise ImageError(f"{self._what} cannot be decompressed: {exc}",
                             fix="the blob is corrupt or truncated; save the image again") from None
        self._total += n
        if self._total > self._next or (not n and not self._ended):
            self._ended = not n          # the end: the ratio of the whole stream, once
            self._limits.check_stream(self._total, max(1, self._compressed()) if self._compressed else 0,
                                      self._what)
            self._next = min(self._total + _CHECK_EVERY, self._limits.unpacked_bytes)
        return n


_CHECK_EVERY = 16 << 20     # bytes between two checks of the stream budgets
