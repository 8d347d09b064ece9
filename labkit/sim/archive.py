"""``ADD`` of a local archive on the simulator: what it unpacks, read within the memory budget.

An archive is read up to three times, so that its content is held only when it fits
``Limits.memory_bytes`` (``labkit.sim.budget``):

1. ``declared_files`` reads only the tar headers and charges each regular file's declared
   size *before* its content is decompressed or skipped: a 1 MB gzip of a GB of zeros fails
   at its first header, in milliseconds. It judges nothing: at a header it does not
   understand it stops, and leaves the verdict to the reader.
2. ``archive_size``: labkit's reader (``oci.tar.reader.iter_entries``) without content, the
   judge of what the file is (Docker's ``isArchivePath``: a first header that reads) and of
   every entry, and the exact charge.
3. ``archive_entries``: the reader again, with content, holding no more than step 2 counted.

Each pass keeps to the reader's budgets too (entries, path depth and length, bytes and ratio
of a compressed stream).
"""
from __future__ import annotations

import io
import itertools
import lzma
import zlib
from typing import IO, Callable, Iterator

from ..errors import BuildError, LayerError, UnsafeEntry, UnsupportedOperation
from ..oci.limits import Limits
from ..oci.tar.reader import MAX_META_SIZE, compression_of, decompressing, iter_entries
from .budget import Charge

__all__ = ["archive_entries", "archive_size", "declared_files"]

_FIX_DOCKER = "build this Dockerfile with the Docker engine (LABKIT_ENGINE=docker)"
_FIX_ARCHIVE = "fix the archive, or COPY it and unpack it with RUN tar"
_BLOCK = 512
_SKIP = 1 << 20                 # bytes of content skipped per read
_CHECK_EVERY = 16 << 20         # bytes of tar between two checks of the stream budgets
_STREAM_ERRORS = (EOFError, OSError, ValueError, zlib.error, lzma.LZMAError)

Opener = Callable[[], IO[bytes]]


# --------------------------------------------------------------------------- pass 1: headers

def _number(field: bytes) -> int | None:
    """A tar number field (octal, or GNU base-256); None when it is not one."""
    if field and field[0] & 0x80:
        n = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        return n - (1 << (8 * len(field) - 1)) if field[0] & 0x40 else n
    s = field.strip(b" \x00")
    if not s:
        return 0
    return int(s, 8) if not s.translate(None, b"01234567") else None


def _checksum_ok(blk: bytes) -> bool:
    want = _number(blk[148:156])
    rest = blk[:148] + b" " * 8 + blk[156:]
    return want is not None and want in (sum(rest), sum(b - 256 if b > 127 else b for b in rest))


def _pax(data: bytes) -> dict[bytes, bytes] | None:
    """The records of a pax header; None when they do not parse."""
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos]:
        sp = data.find(b" ", pos)
        if sp <= pos or not data[pos:sp].isdigit():
            return None
        end = pos + int(data[pos:sp])
        if end > len(data) or end <= sp + 1 or data[end - 1] != 0x0A:
            return None
        key, eq, value = data[sp + 1:end - 1].partition(b"=")
        if not eq:
            return None
        out[key] = value
        pos = end
    return out


class _Counted:
    """The (decompressed) tar stream, counted against the reader's stream budgets."""

    def __init__(self, f: IO[bytes], raw: IO[bytes] | None, limits: Limits, name: str) -> None:
        self.f, self.raw, self.limits, self.name = f, raw, limits, name
        self.total = 0
        self._next = _CHECK_EVERY

    def _count(self, n: int) -> None:
        self.total += n
        if self.total > self._next:
            self._next = self.total + _CHECK_EVERY
            compressed = max(self.raw.tell(), 1) if self.raw is not None else 0
            self.limits.check_stream(self.total, compressed, self.name)

    def read(self, n: int) -> bytes:
        data = self.f.read(n) or b""
        self._count(len(data))
        return data

    def skip(self, n: int) -> bool:
        """Consume ``n`` bytes (by seeking when the stream is a plain file); False at its end."""
        if self.raw is None:
            here = self.f.tell()
            if self.f.seek(0, io.SEEK_END) < here + n:
                return False
            self.f.seek(here + n)
            self._count(n)
            return True
        while n > 0:
            got = len(self.read(min(n, _SKIP)))
            if not got:
                return False
            n -= got
        return True


def declared_files(f: IO[bytes], name: str, limits: Limits) -> Iterator[tuple[str, int]]:
    """``(name, size)`` of each regular file of the tar ``f`` (plain, gzip, bzip2 or xz,
    seekable), from its headers (pax ``size`` included), each *before* its content is read
    or skipped. Stops at the end of the archive and at anything it does not understand."""
    head = f.read(6)
    f.seek(0)
    kind = compression_of(head)
    if kind not in ("", "gzip", "bzip2", "xz"):
        return
    src = _Counted(decompressing(f, kind) if kind else f, f if kind else None, limits, name)
    pax: dict[bytes, bytes] = {}
    longname: bytes | None = None
    try:
        for _ in range(limits.entries_per_layer * 2):       # each entry, or a metadata header
            blk = src.read(_BLOCK)
            if len(blk) < _BLOCK or blk == bytes(_BLOCK) or not _checksum_ok(blk):
                return
            size, typeflag = _number(blk[124:136]), blk[156:157]
            if size is None or size < 0:
                return
            if typeflag in (b"x", b"g", b"L", b"K"):
                if size > MAX_META_SIZE:
                    return
                data = src.read(size)
                if len(data) < size or not src.skip(-size % _BLOCK):
                    return
                if typeflag == b"x":
                    records = _pax(data)
                    if records is None:
                        return
                    pax.update(records)
                elif typeflag == b"L":
                    longname = data.split(b"\x00", 1)[0]
                continue
            raw = blk[:100].split(b"\x00", 1)[0]
            if blk[257:265] == b"ustar\x0000" and blk[345]:
                raw = blk[345:500].split(b"\x00", 1)[0] + b"/" + raw
            raw = pax.get(b"path", longname if longname is not None else raw)
            if b"size" in pax:
                if not pax[b"size"].isdigit():
                    return
                size = int(pax[b"size"])
            pax, longname = {}, None
            if typeflag == b"0" or typeflag == b"\x00" and not raw.endswith(b"/"):
                yield raw.decode("utf-8", "surrogateescape"), size
            if typeflag not in (b"1", b"2", b"3", b"4", b"5") and \
                    not src.skip(size + (-size % _BLOCK)):
                return
    except _STREAM_ERRORS:
        return


# --------------------------------------------------------------------------- passes 2 and 3

def archive_size(name: str, open_: Opener, ins, charge: Charge, limits: Limits) -> int | None:
    """None when ``ADD`` copies the file ``name`` as it is: Docker's test is that a first tar
    header reads (moby ``isArchivePath``), so an empty tar or a non-tar named ``*.tar`` is
    copied. Else the bytes of file content the archive unpacks to, added to ``charge`` entry
    by entry before any content is held (``LimitExceeded`` when they do not fit)."""
    with open_() as f:
        if f.read(4) == b"\x28\xb5\x2f\xfd":
            raise UnsupportedOperation(f"ADD {name}: a zstd archive; the simulator reads plain, "
                                       "gzip, bzip2 and xz tars", fix=_FIX_DOCKER)
        f.seek(0)
        declared = Charge(charge.total, charge.limits, charge.where)
        for raw, size in declared_files(f, name, limits):
            declared.add(size, f"{name} up to its entry {raw!r}")
        f.seek(0)
        stream = iter_entries(f, digest=False, name=name, limits=limits)
        try:
            first = next(stream, None)
        except UnsafeEntry as exc:
            raise BuildError(f"ADD {name}: {exc}", line=ins.line, instruction=ins.original,
                             fix=_FIX_ARCHIVE) from None
        except LayerError:
            return None
        if first is None:
            return None
        total = 0
        try:
            for e in itertools.chain((first,), stream):
                if e.whiteout:       # refused now: its content would be read, then dropped
                    raise UnsupportedOperation(
                        f"ADD {name}: the archive holds the whiteout name {e.raw_name!r}; Docker's "
                        "result for that is not a plain unpack, and the simulator does not model it",
                        fix=_FIX_DOCKER)
                if e.node.kind == "file" and e.node.size:     # a hard link has no content
                    total += e.node.size
                    charge.add(e.node.size, f"{name} up to its entry {e.raw_name!r}")
        except LayerError as exc:
            raise BuildError(f"ADD {name}: the archive cannot be unpacked: {exc}", line=ins.line,
                             instruction=ins.original, fix=_FIX_ARCHIVE) from None
    return total


def archive_entries(name: str, open_: Opener, ins, size: int, limits: Limits) -> Iterator:
    """The entries of the archive with their content, holding no more than the ``size``
    bytes ``archive_size`` counted."""
    with open_() as f:
        got = 0
        try:
            for e in iter_entries(f, with_data=True, name=name, limits=limits):
                got += len(e.node.data or b"")
                if got > size:
                    raise BuildError(f"ADD {name}: the archive changed while the build read it",
                                     line=ins.line, instruction=ins.original,
                                     fix="leave the build context alone during a build")
                yield e
        except LayerError as exc:
            raise BuildError(f"ADD {name}: the archive cannot be unpacked: {exc}", line=ins.line,
                             instruction=ins.original, fix=_FIX_ARCHIVE) from None
