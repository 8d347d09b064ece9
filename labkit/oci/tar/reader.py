"""Reading layer tars: ``iter_entries`` streams the ``TarEntry`` values of a layer tar.

The parser behind it: ustar/GNU headers and checksums, pax and GNU long-name records,
gzip/bzip2/xz detected by magic bytes, names normalised as Docker does (``clean_path``,
``go_clean``). The contract and Docker's rules are in the package docstring (``labkit.oci.tar``).
"""
from __future__ import annotations

import bz2
import contextlib
import gc
import gzip
import hashlib
import io
import lzma
import posixpath
import struct
import zlib
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

from ...errors import LayerError, LimitExceeded, UnsafeEntry
from ...fs.node import OPAQUE_MARKER, WHITEOUT_PREFIX, Node
from ..limits import Limits, current

__all__ = ["TarEntry", "gc_paused", "iter_entries", "clean_path", "go_clean", "MAX_DATA_IN_MEMORY",
           "MAX_META_SIZE"]

BLOCK = 512
_CHUNK = 1 << 20
MAX_META_SIZE = 1 << 20            # pax / GNU long-name records (Go's limit too)
MAX_DATA_IN_MEMORY = 1 << 30       # with_data=True refuses one file bigger than this
_ZERO = bytes(BLOCK)
_OCTAL = b"01234567"


@dataclass(frozen=True)
class TarEntry:
    """One tar entry. ``path`` is normalised (never climbs above the root).

    For ``DIR/.wh.NAME`` the node is a ``whiteout`` and ``path`` is the HIDDEN path
    ``DIR/NAME``. For ``DIR/.wh..wh..opq`` ``opaque`` is True, ``path`` is ``DIR`` and the
    node is an opaque dir Node (check ``opaque`` before using the node's metadata). A hard
    link has ``hardlink`` = the normalised path it points to and a file node with the link
    header's metadata (its content is the target's).
    """

    path: str
    node: Node
    raw_name: str
    hardlink: str = ""
    opaque: bool = False
    head: bytes | None = field(default=None, repr=False, compare=False)   # iter_entries(head=N)

    @property
    def whiteout(self) -> bool:
        """True for ``.wh.NAME`` and ``.wh..wh..opq`` entries (the name is special)."""
        return posixpath.basename(go_clean(self.raw_name)).startswith(WHITEOUT_PREFIX)


# --------------------------------------------------------------------------- paths

def _is_clean(name: str) -> bool:
    return bool(name) and "//" not in name and "/." not in "/" + name and name[0] != "/" \
        and name[-1] != "/"


def clean_path(name: str) -> str:
    """Where Docker (unpacking in a chroot of the layer directory) puts ``name``.

    ``./a/b/`` -> ``a/b``; ``/x``, ``../x`` and ``/../x`` -> ``x``; the root is ``""``.
    """
    if _is_clean(name):
        return name
    p = posixpath.normpath("/" + name)
    return p.lstrip("/")


def go_clean(name: str) -> str:
    """Go's ``filepath.Clean``: the key Docker's tar-split uses to find duplicate names."""
    if _is_clean(name):
        return name
    if name.startswith("//"):
        name = "/" + name.lstrip("/")
    return posixpath.normpath(name) if name else "."


# --------------------------------------------------------------------------- input

class _Chain(io.RawIOBase):
    """``head`` bytes already read, then the rest of ``f``; ``count`` is the bytes handed on
    (what a decompressor has consumed, for the ratio budget)."""

    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self._head, self._f, self.count = head, f, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = len(b)
        if self._head:
            k = min(n, len(self._head))
            b[:k] = self._head[:k]
            self._head = self._head[k:]
            self.count += k
            return k
        data = self._f.read(n) or b""
        b[:len(data)] = data
        self.count += len(data)
        return len(data)


_CHECK_EVERY = 16 << 20     # bytes of tar between two checks of the stream budgets


class _Source:
    """The (decompressed) tar stream as a window ``buf[pos:]`` over big reads.

    ``base`` is the stream offset of ``buf[0]``. The parser works on ``buf``/``pos``
    directly and calls ``fill`` when it needs more than the window holds. Every byte of the
    stream is read by ``_raw`` or skipped by a seek in ``feed``; both count it against the
    budgets (``Limits.check_stream``: bytes of tar, and the ratio for a compressed stream).
    """

    __slots__ = ("_f", "buf", "pos", "base", "_seekable", "_name", "_compressed", "eof",
                 "_limits", "_chain", "_total", "_next")

    def __init__(self, f: IO[bytes], head: bytes, seekable: bool, name: str,
                 compressed: bool = False, limits: Limits | None = None,
                 chain: _Chain | None = None) -> None:
        self._f, self.buf, self.pos, self.base = f, head, 0, 0
        self._seekable = seekable
        self._name = name
        self._compressed = compressed
        self.eof = False
        self._limits = limits if limits is not None else current()
        self._chain = chain
        self._total = len(head)
        lim = self._limits      # first check: past ratio_floor (compressed) or the budget
        self._next = min(lim.ratio_floor, lim.unpacked_bytes) if compressed else lim.unpacked_bytes
        if self._total > self._next:
            self._check()

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def _check(self) -> None:
        compressed = self._chain.count if self._chain is not None else 0
        self._limits.check_stream(self._total, max(compressed, 1) if self._compressed else 0,
                                  self._name)
        self._next = min(self._total + _CHECK_EVERY, self._limits.unpacked_bytes) \
            if self._compressed else self._limits.unpacked_bytes

    def _raw(self, n: int) -> bytes:
        if self.eof:
            return b""
        if not self._compressed:
            data = self._f.read(n) or b""
        else:
            try:
                data = self._f.read(n)
            except (EOFError, zlib.error, OSError, lzma.LZMAError, ValueError) as exc:
                raise LayerError(f"{self._name}: the compressed stream is corrupt or truncated "
                                 f"after {self.offset} bytes of tar ({exc})",
                                 fix="download or save the layer again") from None
        if not data:
            self.eof = True
            if self._compressed:
                self._check()     # the ratio of the whole stream
        else:
            self._total += len(data)
            if self._total > self._next:
                self._check()
        return data

    def fill(self, need: int) -> bool:
        """Make ``buf[pos:]`` hold at least ``need`` bytes; False when the stream ends first
        (the window then holds what is left)."""
        have = len(self.buf) - self.pos
        if have >= need:
            return True
        parts = [self.buf[self.pos:]]
        self.base += self.pos
        self.pos = 0
        while have < need:
            chunk = self._raw(max(_CHUNK, need - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self.buf = b"".join(parts) if len(parts) > 1 else parts[0]
        return have >= need

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        if len(self.buf) - self.pos < n:
            self.fill(n)
        pos = self.pos
        out = self.buf[pos:pos + n]
        self.pos = pos + len(out)
        return out

    def feed(self, n: int, sink: Callable[[bytes], object] | None) -> int:
        """Consume ``n`` bytes, passing them to ``sink`` in pieces; returns bytes consumed."""
        done = 0
        while done < n:
            avail = len(self.buf) - self.pos
            if avail == 0:
                want = n - done
                self.base += self.pos
                self.buf, self.pos = b"", 0
                if sink is None and self._seekable and want > _CHUNK:
                    # skip by seeking; read the last byte to notice a truncated stream
                    try:
                        self._f.seek(want - 1, io.SEEK_CUR)
                        last = self._f.read(1)
                    except (OSError, ValueError):
                        self._seekable = False
                        continue
                    if last:
                        self.base += want
                        self._total += want
                        if self._total > self._next:
                            self._check()
                        return n
                    self._seekable = False
                    self.eof = True
                    return done  # truncated: exact count does not matter to callers
                self.buf = self._raw(_CHUNK)
                if not self.buf:
                    return done
                avail = len(self.buf)
            k = min(avail, n - done)
            if sink is not None:
                sink(memoryview(self.buf)[self.pos:self.pos + k])
            self.pos += k
            done += k
        return done


_GZIP, _BZIP2, _XZ, _ZSTD = b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd"
MAGIC_BYTES = 6          # enough of a stream's start to tell its compression


def compression_of(head: bytes) -> str:
    """``"gzip"``, ``"bzip2"``, ``"xz"``, ``"zstd"`` or ``""`` (a plain tar), by magic bytes:
    what Docker's ``archive.DecompressStream`` detects (a diffID is the sha256 of the tar
    after this decompression, whichever it is)."""
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_BZIP2):
        return "bzip2"
    if head.startswith(_XZ):
        return "xz"
    if head.startswith(_ZSTD):
        return "zstd"
    return ""


def decompressing(f: IO[bytes], kind: str) -> IO[bytes]:
    """``f`` decompressed (``kind`` from ``compression_of``). zstd needs Python 3.14's
    ``compression.zstd`` or the optional ``zstandard`` package; without either it is a
    ``LayerError`` that says so."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=f, mode="rb")  # type: ignore[return-value]
    if kind == "bzip2":
        return bz2.BZ2File(f)  # type: ignore[return-value]
    if kind == "xz":
        return lzma.LZMAFile(f)  # type: ignore[return-value]
    if kind == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]  # noqa: PLC0415 - 3.14+
            return zstd.ZstdFile(f)  # type: ignore[no-any-return]
        except ImportError:
            pass
        try:
            import zstandard  # noqa: PLC0415 - optional
        except ImportError:
            raise LayerError("the layer is zstd-compressed, and this Python reads zstd only with "
                             "the `zstandard` package (or Python 3.14+)",
                             fix="pip install zstandard, or decompress it first: zstd -d layer.tar.zst") from None
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)  # type: ignore[no-any-return]
    return f


def read_head(fileobj: IO[bytes], n: int = _CHUNK) -> bytes:
    """One read of up to ``n`` bytes from the start of ``fileobj``, then more only until
    ``MAGIC_BYTES`` are there (a pipe may return less than asked for); fewer at its end."""
    head = fileobj.read(n) or b""
    while len(head) < MAGIC_BYTES:
        more = fileobj.read(n - len(head))
        if not more:
            break
        head += more
    return head


def _open(fileobj: IO[bytes], name: str, limits: Limits | None = None) -> _Source:
    head = read_head(fileobj, _CHUNK)
    seekable = False
    try:
        seekable = bool(fileobj.seekable())
    except (AttributeError, ValueError, OSError):
        pass
    kind = compression_of(head)
    if not kind:
        return _Source(fileobj, head, seekable, name, limits=limits)
    if kind == "zstd":      # an image's zstd blobs are decompressed by ``blobs`` (optional codec)
        raise LayerError(f"{name} is zstd-compressed, which labkit's core does not read",
                         fix="decompress it first: zstd -d layer.tar.zst")
    chain = _Chain(head, fileobj)
    return _Source(decompressing(chain, kind), b"", False, name, compressed=True,  # type: ignore[arg-type]
                   limits=limits, chain=chain)


# --------------------------------------------------------------------------- headers

_NUMS: dict[bytes, int] = {}   # header number fields repeat a lot (modes, owners, times)


def _num(field: bytes, what: str, name: str, offset: int) -> int:
    n = _NUMS.get(field)
    if n is not None:
        return n
    n = _parse_num(field, what, name, offset)
    if len(_NUMS) < 65536:
        _NUMS[field] = n
    return n


def _parse_num(field: bytes, what: str, name: str, offset: int) -> int:
    if field and field[0] & 0x80:  # GNU base-256
        n = int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
        if field[0] & 0x40:
            n -= 1 << (8 * len(field) - 1)
        return n
    s = field.strip(b" \x00")
    if not s:
        return 0
    if s.translate(None, _OCTAL):
        raise LayerError(f"{name}: tar header at byte {offset} has an invalid {what} field {field!r}",
                         fix="the layer is corrupt: rebuild or save it again")
    return int(s, 8)


def _text(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _cstr(b: bytes) -> bytes:
    i = b.find(b"\x00")
    return b if i < 0 else b[:i]


def _parse_pax(data: bytes, name: str, offset: int) -> dict[bytes, bytes]:
    out: dict[bytes, bytes] = {}
    pos = 0
    while pos < len(data):
        if data[pos] == 0:   # NUL padding after the records
            break
        sp = data.find(b" ", pos)
        try:
            length = int(data[pos:sp]) if sp > pos and data[pos:sp].isdigit() else -1
        except ValueError:
            length = -1
        end = pos + length
        if length <= 0 or sp < 0 or end > len(data) or end <= sp + 1 or data[end - 1] != 0x0A:
            raise LayerError(f"{name}: malformed pax header at byte {offset}",
                             fix="the layer is corrupt: rebuild or save it again")
        rec = data[sp + 1:end - 1]
        key, eq, value = rec.partition(b"=")
        if not eq or not key:
            raise LayerError(f"{name}: malformed pax record {rec[:60]!r} at byte {offset}",
                             fix="the layer is corrupt: rebuild or save it again")
        out[key] = value
        pos = end
    return out


def _pax_int(v: bytes, what: str, name: str, offset: int, *, real: bool = False) -> int:
    s = v.decode("ascii", "replace")
    try:
        if real:
            whole, _, frac = s.partition(".")
            if not whole.lstrip("-").isdigit() or (frac and not frac.isdigit()):
                raise ValueError(s)
            n = int(whole)
            if whole.startswith("-") and frac.strip("0"):
                n -= 1
            return n
        if not s.isdigit():
            raise ValueError(s)
        return int(s)
    except ValueError:
        raise LayerError(f"{name}: pax header at byte {offset} has an invalid {what} {s[:40]!r}",
                         fix="the layer is corrupt: rebuild or save it again") from None


# name, mode+uid+gid (3 x 8), size, mtime, checksum, type, linkname, magic+version, uname,
# gname, devmajor, devminor, prefix
_HEADER = struct.Struct("100s24s12s12s8s1s100s8s32s32s8s8s155s12x")
_ZERO8 = bytes(8)
_META_TYPES = frozenset((b"x", b"g", b"L", b"K"))
_KIND = {b"0": "file", b"\x00": "file", b"2": "symlink", b"3": "char", b"4": "block",
         b"5": "dir", b"6": "fifo"}
_HEADER_ONLY = frozenset(b"12345")


def _header_sum(blk: bytes) -> int:
    """The sum of the 512 header bytes, without a Python loop over them.

    zlib's Adler-32 starts at 1 and keeps the byte sum modulo 65521 in its low 16 bits; the
    bytes of half a header sum to at most 256 * 255 = 65280, so for each half that is the
    exact sum.
    """
    return (zlib.adler32(blk[:256]) & 0xFFFF) + (zlib.adler32(blk[256:]) & 0xFFFF) - 2


_CHK: dict[bytes, int] = {}
_MUG: dict[bytes, tuple[int, int, int]] = {}


def _mode_uid_gid(f: bytes, name: str, offset: int) -> tuple[int, int, int]:
    """The permission bits, uid and gid of the three 8-byte fields (cached: they repeat)."""
    out = (_num(f[:8], "mode", name, offset) & 0o7777, _num(f[8:16], "uid", name, offset),
           _num(f[16:], "gid", name, offset))
    if len(_MUG) < 65536:
        _MUG[f] = out
    return out



def _chk_want(f_chk: bytes, name: str, offset: int) -> int:
    """For a checksum field: the sum of the header bytes it declares, with the field counted
    as 8 spaces (as the format says) but as stored instead, plus 2 (the two Adler-32 seeds):
    ``_header_sum(blk) + 2`` of a correct header."""
    want = _num(f_chk, "checksum", name, offset) - 8 * 32 + sum(f_chk) + 2
    if len(_CHK) < 65536:
        _CHK[f_chk] = want
    return want


def _bad_checksum(blk: bytes, f_chk: bytes, name: str, offset: int) -> None:
    stored = _num(f_chk, "checksum", name, offset)
    unsigned = sum(blk) - sum(f_chk) + 256
    if stored == unsigned:
        return
    signed = sum(b - 256 if b > 127 else b for b in blk[:148] + blk[156:]) + 256
    if stored != signed:
        raise LayerError(f"{name}: tar header at byte {offset} has a bad checksum",
                         fix="this is not a tar, or it is corrupt: rebuild or save it again")


def _truncated(raw_name: str, datasize: int, got: int, name: str, offset: int) -> UnsafeEntry:
    return UnsafeEntry(raw_name, f"declares {datasize} bytes but the stream ends after "
                       f"{got} (in {name}, header at byte {offset})",
                       fix="the layer is truncated or its size field is wrong: save it again")


_NODE_KEYS = ("kind", "mode", "uid", "gid", "mtime", "size", "sha256", "data", "linkname", "rdev",
              "xattrs", "inode")
_ENTRY_KEYS = ("path", "node", "raw_name", "hardlink", "opaque", "head")
_fast_ok: bool | None = None
_DICTS: list[dict] = []     # [the __dict__ of a template Node] (see _can_build_fast)


def _can_build_fast() -> bool:
    """Whether Node and TarEntry keep exactly these fields in ``__dict__`` (then ``_node``
    and ``_entry`` may fill it directly, skipping the frozen dataclass's per-field
    ``object.__setattr__`` calls: a third of the cost of an entry).

    A Node's dict is a copy of a template Node's ``__dict__`` (``node_dict()``): such a copy
    shares the class's key table, like the dict of an instance built by ``__init__``, and
    takes half the memory of a dict literal with the same twelve keys (about 280 bytes less
    per Node: what a million-entry image held in ``Node`` dicts). TarEntries live briefly:
    a literal is quicker to build."""
    global _fast_ok
    if _fast_ok is None:
        n = Node("file")
        _fast_ok = (tuple(getattr(n, "__dict__", ())) == _NODE_KEYS
                    and tuple(getattr(TarEntry("", n, ""), "__dict__", ())) == _ENTRY_KEYS)
        if _fast_ok:
            _DICTS[:] = [n.__dict__]
    return _fast_ok


def node_dict() -> dict:
    """A fresh ``__dict__`` for a Node (the keys of ``_NODE_KEYS``, a file's values) to fill
    and set with ``object.__setattr__(obj, "__dict__", d)``; only when ``_can_build_fast()``."""
    return _DICTS[0].copy()


def _node(kind: str, mode: int, uid: int, gid: int, mtime: int, size: int = 0, sha256: str = "",
          data: bytes | None = None, linkname: str = "", xattrs: tuple = ()) -> Node:
    """The same value as ``Node(kind, mode=..., ...)``, built faster."""
    if not _can_build_fast():
        return Node(kind, mode=mode, uid=uid, gid=gid, mtime=mtime, size=size,  # type: ignore[arg-type]
                    sha256=sha256, data=data, linkname=linkname, xattrs=xattrs)
    obj = object.__new__(Node)
    d = _DICTS[0].copy()
    d["kind"] = kind
    d["mode"] = mode
    d["uid"] = uid
    d["gid"] = gid
    d["mtime"] = mtime
    d["size"] = size
    d["sha256"] = sha256
    d["data"] = data
    d["linkname"] = linkname
    d["xattrs"] = xattrs
    object.__setattr__(obj, "__dict__", d)
    return obj


def _entry(path: str, node: Node, raw_name: str, head: bytes | None = None) -> "TarEntry":
    """The same value as ``TarEntry(path, node, raw_name, head=head)``, built faster."""
    if not _can_build_fast():
        return TarEntry(path, node, raw_name, head=head)
    obj = object.__new__(TarEntry)
    object.__setattr__(obj, "__dict__", {"path": path, "node": node, "raw_name": raw_name,
                                         "hardlink": "", "opaque": False, "head": head})
    return obj


def iter_entries(fileobj: IO[bytes], *, with_data: bool = False, name: str = "layer",
                 digest: bool = True, head: int = 0, limits: Limits | None = None) -> Iterator[TarEntry]:
    """Stream the entries of a layer tar (gzip, bzip2 and xz are detected by magic bytes).

    With ``with_data=False`` file content is never held: files carry ``size`` and, unless
    ``digest=False``, ``sha256`` (with ``digest=False`` content is skipped, by seeking when
    the stream allows it). ``head=N`` puts the first N bytes of each regular file (not
    hard links) in ``TarEntry.head``, in the same pass (for secret scanning).
    Stops at the end-of-archive blocks; trailing bytes are not read.

    ``limits`` (default ``limits.current()``) bounds the stream: entries (``entries_per_layer``),
    the length and depth of each name and link target (``path_bytes``, ``path_depth``), bytes
    of tar (``unpacked_bytes``) and, for a compressed stream, the ratio; going over raises
    ``LimitExceeded`` naming the layer (``name``) and the entry. The names and order are those
    of the tar: Docker's unpack rules (duplicates, parents ...) are ``unpack``'s.
    """
    return _parse(fileobj, with_data, name, digest, head, False, limits)


def _shown(raw: bytes | str) -> str:
    """An entry name for a message: at most 80 characters of it, quoted."""
    text = raw.decode("utf-8", "backslashreplace") if isinstance(raw, bytes) else raw
    return repr(text if len(text) <= 80 else text[:60] + "..." + text[-17:])


def _over_path(raw: bytes, linkraw: bytes, limits: Limits, name: str) -> LimitExceeded:
    what, n = ("name", len(raw)) if len(raw) > limits.path_bytes else ("link target", len(linkraw))
    return LimitExceeded(f"{name}: entry {_shown(raw)}: bytes in its {what}", "path_bytes", n,
                         limits.path_bytes)


def _over_depth(raw_name: str, path: str, limits: Limits, name: str, what: str = "name") -> LimitExceeded:
    return LimitExceeded(f"{name}: entry {_shown(raw_name)}: components of its {what}", "path_depth",
                         path.count("/") + 1, limits.path_depth)


def _parse(fileobj: IO[bytes], with_data: bool, name: str, digest: bool, head: int,
           records: bool, limits: Limits | None = None) -> Iterator:
    """``iter_entries``; with ``records`` each entry comes as a plain tuple ``(path, node,
    raw_name, hardlink, opaque)`` instead of a ``TarEntry`` (what ``read_layer`` needs, made
    faster) and ``head`` is ignored."""
    if limits is None:
        limits = current()
    src = _open(fileobj, name, limits)
    pax: dict[bytes, bytes] = {}
    longname: bytes | None = None
    longlink: bytes | None = None
    nums, chk, owners = _NUMS, _CHK, _MUG
    unpack_from = _HEADER.unpack_from
    sha256 = hashlib.sha256
    adler32 = zlib.adler32
    fast = _can_build_fast()      # build Nodes and TarEntries by filling __dict__ (see _node)
    new, set_dict = object.__new__, object.__setattr__
    if fast:
        node_copy = _DICTS[0].copy
    max_entries, max_bytes, max_depth = limits.entries_per_layer, limits.path_bytes, limits.path_depth
    depth_len = 2 * max_depth     # a shorter path cannot have more than max_depth components
    count = 0
    vbuf: bytes | None = None
    view = memoryview(b"")
    while True:
        pos = src.pos
        buf = src.buf
        if len(buf) - pos < BLOCK:
            src.fill(BLOCK)
            pos, buf = src.pos, src.buf
        offset = src.base + pos
        if len(buf) - pos < BLOCK:
            src.pos = len(buf)
            if len(buf) == pos and not pax and longname is None and longlink is None:
                return
            raise LayerError(f"{name}: the tar stream ends inside a header at byte {offset}",
                             fix="the layer is truncated: save or download it again")
        src.pos = pos + BLOCK
        (f_name, f_mug, f_size, f_mtime, f_chk, typeflag, f_link, f_magic,
         _un, _gn, f_major, f_minor, f_prefix) = unpack_from(buf, pos)
        if f_chk == _ZERO8 and buf[pos:pos + BLOCK] == _ZERO:   # no real header sums to 0
            nxt = src.read(BLOCK)
            if not nxt or nxt == _ZERO:
                return
            raise LayerError(f"{name}: a zero block is followed by more data at byte {offset}",
                             fix="the layer is corrupt: rebuild or save it again")
        want = chk.get(f_chk)      # what the two half-block Adler sums must add up to
        if want is None:
            want = _chk_want(f_chk, name, offset)
        if (adler32(buf[pos:pos + 256]) & 0xFFFF) + (adler32(buf[pos + 256:pos + BLOCK]) & 0xFFFF) != want:
            _bad_checksum(buf[pos:pos + BLOCK], f_chk, name, offset)   # (_header_sum, inlined)
        size = nums.get(f_size)
        if size is None:
            size = _num(f_size, "size", name, offset)
        if typeflag in _META_TYPES:
            if size < 0 or size > MAX_META_SIZE:
                raise LayerError(f"{name}: metadata header at byte {offset} declares {size} bytes",
                                 fix="the layer is corrupt or hostile: do not use it")
            data = src.read(size)
            if len(data) < size:
                raise LayerError(f"{name}: the tar stream ends inside a metadata header at byte {offset}",
                                 fix="the layer is truncated: save or download it again")
            src.feed(-size % BLOCK, None)
            if typeflag == b"x":
                pax.update(_parse_pax(data, name, offset))
            elif typeflag == b"L":
                longname = _cstr(data)
            elif typeflag == b"K":
                longlink = _cstr(data)
            continue  # 'g' (global pax) is ignored, as Go's reader and Docker do
        i = f_name.find(b"\x00")
        raw = f_name if i < 0 else f_name[:i]
        if f_magic == b"ustar\x0000" and f_prefix[0]:
            raw = _cstr(f_prefix) + b"/" + raw
        if longname is not None:
            raw = longname
        linkraw = longlink if longlink is not None else _cstr(f_link) if f_link[0] else b""
        if pax:
            if b"path" in pax:
                raw = pax[b"path"]
            if b"linkpath" in pax:
                linkraw = pax[b"linkpath"]
        count += 1
        if count > max_entries:
            raise LimitExceeded(f"{name}: tar entries (at {_shown(raw)})", "entries_per_layer",
                                count, max_entries)
        if len(raw) > max_bytes or len(linkraw) > max_bytes:
            raise _over_path(raw, linkraw, limits, name)
        raw_name = raw.decode("utf-8", "surrogateescape")
        mug = owners.get(f_mug)
        if mug is None:
            mug = _mode_uid_gid(f_mug, name, offset)
        mode, uid, gid = mug
        mtime = nums.get(f_mtime)
        if mtime is None:
            mtime = _num(f_mtime, "mtime", name, offset)
        xattrs: tuple[tuple[str, bytes], ...] = ()
        if pax:
            if b"size" in pax:
                size = _pax_int(pax[b"size"], "size", name, offset)
            if b"uid" in pax:
                uid = _pax_int(pax[b"uid"], "uid", name, offset)
            if b"gid" in pax:
                gid = _pax_int(pax[b"gid"], "gid", name, offset)
            if b"mtime" in pax:
                mtime = _pax_int(pax[b"mtime"], "mtime", name, offset, real=True)
            if any(k.startswith(b"GNU.sparse.") for k in pax):
                raise UnsafeEntry(raw_name, f"a sparse file (in {name}); labkit does not read sparse tars",
                                  fix="re-create the tar without --sparse")
            xattrs = tuple(sorted((_text(k[13:]), v) for k, v in pax.items()
                                  if k.startswith(b"SCHILY.xattr.") and len(k) > 13))
            pax, longname, longlink = {}, None, None
        else:
            longname = longlink = None
        if typeflag == b"\x00" and raw.endswith(b"/"):
            typeflag = b"5"
        if size < 0:
            raise UnsafeEntry(raw_name, f"negative size {size} (in {name})",
                              fix="the layer is corrupt or hostile: do not use it")
        if uid < 0 or gid < 0:
            raise UnsafeEntry(raw_name, f"negative owner {uid}:{gid} (in {name})",
                              fix="the layer is corrupt or hostile: do not use it")
        datasize = 0 if typeflag[0:1] and typeflag[0] in _HEADER_ONLY else size
        if raw_name and "//" not in raw_name and "/." not in "/" + raw_name \
                and raw_name[0] != "/" and raw_name[-1] != "/":   # _is_clean, inlined
            path = cleaned = raw_name
        else:
            path = clean_path(raw_name)
            cleaned = go_clean(raw_name)   # Docker cleans the name before looking at its basename
        if len(path) > depth_len and path.count("/") >= max_depth:
            raise _over_depth(raw_name, path, limits, name)
        base = cleaned.rpartition("/")[2]
        if typeflag == b"1":
            kind = "file"
        else:
            kind = _KIND.get(typeflag)  # type: ignore[assignment]
            if kind is None:
                if typeflag == b"S":
                    raise UnsafeEntry(raw_name, f"a GNU sparse file (in {name}); labkit does not read sparse tars",
                                      fix="re-create the tar without --sparse")
                raise UnsafeEntry(raw_name, f"tar entry type {typeflag!r} is not one Docker unpacks (in {name})",
                                  fix="use regular files, directories, links and devices only")
        # content
        data_b: bytes | None = None
        first: bytes | None = None
        sha = ""
        if datasize:
            pos = src.pos
            buf = src.buf
            end = pos + datasize
            padded = (datasize + BLOCK - 1) & ~(BLOCK - 1)
            is_file = kind == "file"
            if pos + padded <= len(buf):       # the whole entry is in the window: no copies
                if is_file:
                    if with_data:
                        if datasize > MAX_DATA_IN_MEMORY:
                            raise UnsafeEntry(raw_name, f"{datasize} bytes is too big to hold in memory "
                                              f"(in {name})", fix="read the layer with with_data=False")
                        data_b = buf[pos:end]
                        sha = sha256(data_b).hexdigest()
                    elif digest:
                        if vbuf is not buf:       # one memoryview per window, not per file
                            vbuf, view = buf, memoryview(buf)
                        sha = sha256(view[pos:end]).hexdigest()
                    if head and typeflag != b"1":
                        first = buf[pos:min(end, pos + head)]
                src.pos = pos + padded
            else:
                if is_file and with_data:
                    if datasize > MAX_DATA_IN_MEMORY:
                        raise UnsafeEntry(raw_name, f"{datasize} bytes is too big to hold in memory (in {name})",
                                          fix="read the layer with with_data=False")
                    chunks: list[bytes] = []
                    got = src.feed(datasize, chunks.append)
                    data_b = b"".join(chunks)
                    sha = sha256(data_b).hexdigest()
                    if head and typeflag != b"1":
                        first = data_b[:head]
                elif is_file and (digest or (head and typeflag != b"1")):
                    h = sha256() if digest else None
                    got = 0
                    if head and typeflag != b"1":
                        # the head is consumed piece by piece (no join of the window with
                        # the next read); the rest is hashed or skipped (seeking) as usual
                        want = min(head, datasize)
                        parts: list[bytes] = []
                        got = src.feed(want, parts.append if h is None else
                                       lambda mv, parts=parts, h=h: (parts.append(bytes(mv)), h.update(mv)))
                        first = b"".join(bytes(x) for x in parts)
                    if got == min(head, datasize) if head and typeflag != b"1" else True:
                        got += src.feed(datasize - got, None if h is None else h.update)
                    if h is not None:
                        sha = h.hexdigest()
                else:
                    got = src.feed(datasize, None)
                if got < datasize:
                    raise _truncated(raw_name, datasize, got, name, offset)
                if datasize % BLOCK:
                    src.feed(BLOCK - datasize % BLOCK, None)
        elif kind == "file":
            if with_data or digest:
                data_b = b"" if with_data else None
                sha = _EMPTY_SHA
            if head and typeflag != b"1":
                first = b""
        # entry
        if base.startswith(WHITEOUT_PREFIX):
            parent_path = clean_path(posixpath.dirname(cleaned))
            if base == OPAQUE_MARKER:
                node = Node.dir(0o755).with_opaque()
                yield (parent_path, node, raw_name, "", True) if records else \
                    TarEntry(parent_path, node, raw_name, opaque=True)
                continue
            hidden = base[len(WHITEOUT_PREFIX):]
            if hidden in ("", ".", ".."):
                raise UnsafeEntry(raw_name, f"invalid whiteout name (in {name}): Docker refuses it "
                                  "(mknod of an existing directory: file exists)",
                                  fix="a whiteout is .wh.NAME with a real NAME")
            hp = f"{parent_path}/{hidden}" if parent_path else hidden
            yield (hp, _WHITEOUT, raw_name, "", False) if records else _entry(hp, _WHITEOUT, raw_name)
            continue
        if typeflag == b"1":
            link = _text(linkraw)
            target = clean_path(link)
            if not target:
                raise UnsafeEntry(raw_name, f"hard link to the root directory {link!r} (in {name}); "
                                  "Docker fails: operation not permitted",
                                  fix="hard links can only point to non-directories")
            if len(target) > depth_len and target.count("/") >= max_depth:
                raise _over_depth(raw_name, target, limits, name, "link target")
            node = Node("file", mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs)
            yield (path, node, raw_name, target, False) if records else \
                TarEntry(path, node, raw_name, hardlink=target)
            continue
        if kind == "file":
            if fast:
                node = new(Node)
                d = node_copy()          # a file's values: fill in the rest (see node_dict)
                d["mode"] = mode
                d["uid"] = uid
                d["gid"] = gid
                d["mtime"] = mtime
                d["size"] = datasize
                if sha:
                    d["sha256"] = sha
                if data_b is not None:
                    d["data"] = data_b
                if xattrs:
                    d["xattrs"] = xattrs
                set_dict(node, "__dict__", d)
                if records:
                    yield (path, node, raw_name, "", False)
                    continue
                ent = new(TarEntry)      # (entries are short-lived: a dict literal is quicker)
                set_dict(ent, "__dict__", {"path": path, "node": node, "raw_name": raw_name,
                                           "hardlink": "", "opaque": False, "head": first})
                yield ent
            else:
                node = _node("file", mode, uid, gid, mtime, datasize, sha, data_b, "", xattrs)
                yield (path, node, raw_name, "", False) if records else _entry(path, node, raw_name, first)
            continue
        if kind == "symlink":
            if not linkraw:
                raise UnsafeEntry(raw_name, f"a symlink with an empty target (in {name}); Docker "
                                  "fails: symlink: no such file or directory",
                                  fix="give the symlink a target")
            node = _node("symlink", 0o777, uid, gid, mtime, linkname=_text(linkraw), xattrs=xattrs)
        elif kind == "dir":
            node = _node("dir", mode, uid, gid, mtime, xattrs=xattrs)
        else:
            major = _num(f_major, "devmajor", name, offset)
            minor = _num(f_minor, "devminor", name, offset)
            if kind == "char" and major == 0 and minor == 0:
                node = Node.whiteout()   # overlayfs reads a char 0/0 as a whiteout
            elif kind == "fifo":
                node = Node("fifo", mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs)
            else:
                node = Node(kind, mode=mode, uid=uid, gid=gid, mtime=mtime, rdev=(major, minor),
                            xattrs=xattrs)
        yield (path, node, raw_name, "", False) if records else _entry(path, node, raw_name)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while many entries are read (restored after):
    reading, unpacking and analysing make a few small objects per entry and no reference
    cycles, so the collector's passes over the growing heap cost time and free nothing."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


_EMPTY_SHA = hashlib.sha256(b"").hexdigest()
_WHITEOUT = Node.whiteout()
