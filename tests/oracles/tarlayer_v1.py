"""Layer tars <-> layer directories, the way Docker's overlay2 driver unpacks them.

``iter_entries`` streams the entries of a (possibly compressed) layer tar without holding
the layer in memory; ``read_layer`` applies Docker's unpack rules to build a ``LayerDir``;
``write_layer`` is the inverse (deterministic bytes). Every refusal is a ``LayerError``
(``UnsafeEntry`` when one entry is to blame, naming it); malformed input never raises
anything else.

The rules below were checked against Docker 20.10 (``docker load`` of hand-made layers,
then ``docker create`` + ``docker export``; see tests/test_flatten_docker.py):

* Names: ``./x``, ``/x`` and ``x`` are the same path and ``..`` never climbs above the
  root. Docker unpacks each layer inside a chroot of the layer directory, so ``../x`` and
  ``/../x`` both land at ``x``: there is no breakout to refuse, and labkit does the same.
* Two entries whose names are equal after Go's ``filepath.Clean`` (``a``, ``./a``, ``a/``)
  are refused ("duplicates of file paths not supported", from Docker's tar-split).
  Names that differ only after that (``/a`` and ``a``) are applied in order: the later
  entry replaces the earlier one, except dir over dir which keeps the children.
* ``DIR/.wh.NAME`` deletes NAME of the lower layers (a ``whiteout`` Node); only the
  basename is special. ``.wh.``, ``.wh..`` and ``.wh...`` are refused, and so is a
  whiteout for a name already present in the same layer (``X`` then ``.wh.X``: Docker's
  ``mknod`` fails with "file exists"). ``.wh.X`` then ``X`` keeps the new X.
  ``DIR/.wh..wh..opq`` makes DIR opaque wherever it sits; at the root it does nothing (the
  kernel ignores the xattr on a layer's root); under a non-directory it does nothing.
  A plain char device 0/0 entry is a whiteout too (that is what overlayfs sees).
* Missing parents are created as ``Node.dir(0o755)``. A parent that is a whiteout or a
  file is refused ("not a directory"). A parent that is a symlink created earlier in the
  SAME layer is followed, within the layer (absolute targets start at the layer root);
  symlinks of lower layers are never seen, since every layer is unpacked on its own.
* Hard links must name an entry that exists earlier in the same layer (not a directory).
  The link's header sets owner, mode and mtime of the shared inode (unless it is a symlink).
* Char/block devices and fifos are kept as Nodes (Docker creates them when it runs as
  root). labkit never creates device nodes on the host from a tar.
* Types Docker does not handle (e.g. ``7`` contiguous, GNU volume headers) are refused;
  so are sparse files (which Go's reader would expand: a known labkit gap).
* A declared size beyond the end of the stream, a bad header checksum, a truncated
  header or a bad number field is a ``LayerError`` with the byte offset.
"""
from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import posixpath
import struct
import tarfile
import zlib
from dataclasses import dataclass, replace
from typing import IO, Callable, Iterator

from .errors import LayerError, UnsafeEntry
from .fs.node import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, LayerDir, Node

__all__ = ["TarEntry", "iter_entries", "read_layer", "write_layer", "layer_bytes", "clean_path",
           "go_clean", "MAX_DATA_IN_MEMORY", "MAX_META_SIZE"]

BLOCK = 512
_CHUNK = 1 << 20
MAX_META_SIZE = 1 << 20            # pax / GNU long-name records (Go's limit too)
MAX_DATA_IN_MEMORY = 1 << 30       # with_data=True refuses one file bigger than this
_MAX_SYMLINK_HOPS = 40             # the kernel's ELOOP limit
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
    """``head`` bytes already read, then the rest of ``f``."""

    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self._head, self._f = head, f

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        n = len(b)
        if self._head:
            k = min(n, len(self._head))
            b[:k] = self._head[:k]
            self._head = self._head[k:]
            return k
        data = self._f.read(n)
        b[:len(data)] = data
        return len(data)


class _Source:
    """Buffered reading of the (decompressed) tar stream, counting bytes consumed."""

    __slots__ = ("_f", "_buf", "_pos", "offset", "_seekable", "_name", "_compressed")

    def __init__(self, f: IO[bytes], head: bytes, seekable: bool, name: str,
                 compressed: bool = False) -> None:
        self._f, self._buf, self._pos = f, head, 0
        self.offset = 0
        self._seekable = seekable
        self._name = name
        self._compressed = compressed

    def _raw(self, n: int) -> bytes:
        if not self._compressed:
            return self._f.read(n) or b""
        try:
            return self._f.read(n)
        except (EOFError, zlib.error, OSError, lzma.LZMAError, ValueError) as exc:
            raise LayerError(f"{self._name}: the compressed stream is corrupt or truncated "
                             f"after {self.offset} bytes of tar ({exc})",
                             fix="download or save the layer again") from None

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes (fewer only at the end of the stream)."""
        buf, pos = self._buf, self._pos
        end = pos + n
        if end <= len(buf):
            self._pos = end
            self.offset += n
            return buf[pos:end]
        parts = [buf[pos:]]
        have = len(buf) - pos
        self._buf, self._pos = b"", 0
        while have < n:
            chunk = self._raw(max(_CHUNK, n - have))
            if not chunk:
                break
            need = n - have
            if len(chunk) > need:
                self._buf = chunk
                self._pos = need
                chunk = chunk[:need]
            parts.append(chunk)
            have += len(chunk)
        self.offset += have
        return b"".join(parts)

    def feed(self, n: int, sink: Callable[[bytes], object] | None) -> int:
        """Consume ``n`` bytes, passing them to ``sink`` in pieces; returns bytes consumed."""
        done = 0
        while done < n:
            avail = len(self._buf) - self._pos
            if avail == 0:
                want = n - done
                if sink is None and self._seekable and want > _CHUNK:
                    # skip by seeking; read the last byte to notice a truncated stream
                    try:
                        self._f.seek(want - 1, io.SEEK_CUR)
                        last = self._f.read(1)
                    except (OSError, ValueError):
                        self._seekable = False
                        continue
                    if last:
                        self.offset += want
                        return n
                    self._seekable = False
                    return done  # truncated: exact count does not matter to callers
                self._buf = self._raw(_CHUNK)
                self._pos = 0
                if not self._buf:
                    return done
                avail = len(self._buf)
            k = min(avail, n - done)
            if sink is not None:
                sink(self._buf[self._pos:self._pos + k])
            self._pos += k
            done += k
            self.offset += k
        return done


def _open(fileobj: IO[bytes], name: str) -> _Source:
    head = fileobj.read(_CHUNK)
    if head is None:
        head = b""
    seekable = False
    try:
        seekable = bool(fileobj.seekable())
    except (AttributeError, ValueError, OSError):
        pass
    if head[:2] == b"\x1f\x8b":
        f: IO[bytes] = gzip.GzipFile(fileobj=_Chain(head, fileobj), mode="rb")  # type: ignore[assignment]
    elif head[:3] == b"BZh":
        f = bz2.BZ2File(_Chain(head, fileobj))  # type: ignore[assignment]
    elif head[:6] == b"\xfd7zXZ\x00":
        f = lzma.LZMAFile(_Chain(head, fileobj))  # type: ignore[assignment]
    elif head[:4] == b"\x28\xb5\x2f\xfd":
        raise LayerError(f"{name} is zstd-compressed, which labkit's core does not read",
                         fix="decompress it first: zstd -d layer.tar.zst")
    else:
        return _Source(fileobj, head, seekable, name)
    return _Source(f, b"", False, name, compressed=True)


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


_HEADER = struct.Struct("100s8s8s8s12s12s8s1s100s8s32s32s8s8s155s12x")
_META_TYPES = frozenset((b"x", b"g", b"L", b"K"))
_KIND = {b"0": "file", b"\x00": "file", b"2": "symlink", b"3": "char", b"4": "block",
         b"5": "dir", b"6": "fifo"}
_HEADER_ONLY = frozenset(b"12345")


def iter_entries(fileobj: IO[bytes], *, with_data: bool = False, name: str = "layer",
                 digest: bool = True) -> Iterator[TarEntry]:
    """Stream the entries of a layer tar (gzip, bzip2 and xz are detected by magic bytes).

    With ``with_data=False`` file content is never held: files carry ``size`` and, unless
    ``digest=False``, ``sha256`` (with ``digest=False`` content is skipped, by seeking when
    the stream allows it). Stops at the end-of-archive blocks; trailing bytes are not read.
    """
    src = _open(fileobj, name)
    pax: dict[bytes, bytes] = {}
    longname: bytes | None = None
    longlink: bytes | None = None
    while True:
        offset = src.offset
        blk = src.read(BLOCK)
        if len(blk) < BLOCK:
            if not blk and not pax and longname is None and longlink is None:
                return
            raise LayerError(f"{name}: the tar stream ends inside a header at byte {offset}",
                             fix="the layer is truncated: save or download it again")
        if blk == _ZERO:
            nxt = src.read(BLOCK)
            if not nxt or nxt == _ZERO:
                return
            raise LayerError(f"{name}: a zero block is followed by more data at byte {offset}",
                             fix="the layer is corrupt: rebuild or save it again")
        (f_name, f_mode, f_uid, f_gid, f_size, f_mtime, f_chk, typeflag, f_link, f_magic,
         _un, _gn, f_major, f_minor, f_prefix) = _HEADER.unpack(blk)
        nums = _NUMS
        stored = nums.get(f_chk)
        if stored is None:
            stored = _num(f_chk, "checksum", name, offset)
        unsigned = sum(blk) - sum(f_chk) + 256
        if stored != unsigned:
            signed = sum(b - 256 if b > 127 else b for b in blk[:148] + blk[156:]) + 256
            if stored != signed:
                raise LayerError(f"{name}: tar header at byte {offset} has a bad checksum",
                                 fix="this is not a tar, or it is corrupt: rebuild or save it again")
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
        linkraw = _cstr(f_link) if longlink is None else longlink
        if pax:
            if b"path" in pax:
                raw = pax[b"path"]
            if b"linkpath" in pax:
                linkraw = pax[b"linkpath"]
        raw_name = raw.decode("utf-8", "surrogateescape")
        mode = nums.get(f_mode)
        if mode is None:
            mode = _num(f_mode, "mode", name, offset)
        mode &= 0o7777
        uid = nums.get(f_uid)
        if uid is None:
            uid = _num(f_uid, "uid", name, offset)
        gid = nums.get(f_gid)
        if gid is None:
            gid = _num(f_gid, "gid", name, offset)
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
        if typeflag == b"\x00" and raw.endswith(b"/"):
            typeflag = b"5"
        if size < 0:
            raise UnsafeEntry(raw_name, f"negative size {size} (in {name})",
                              fix="the layer is corrupt or hostile: do not use it")
        if uid < 0 or gid < 0:
            raise UnsafeEntry(raw_name, f"negative owner {uid}:{gid} (in {name})",
                              fix="the layer is corrupt or hostile: do not use it")
        datasize = 0 if typeflag[0:1] and typeflag[0] in _HEADER_ONLY else size
        if _is_clean(raw_name):
            path = cleaned = raw_name
        else:
            path = clean_path(raw_name)
            cleaned = go_clean(raw_name)   # Docker cleans the name before looking at its basename
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
        sha = ""
        if kind == "file" and datasize:
            if with_data:
                if datasize > MAX_DATA_IN_MEMORY:
                    raise UnsafeEntry(raw_name, f"{datasize} bytes is too big to hold in memory (in {name})",
                                      fix="read the layer with with_data=False")
                chunks: list[bytes] = []
                got = src.feed(datasize, chunks.append)
                data_b = b"".join(chunks)
                sha = hashlib.sha256(data_b).hexdigest()
            elif digest:
                h = hashlib.sha256()
                got = src.feed(datasize, h.update)
                sha = h.hexdigest()
            else:
                got = src.feed(datasize, None)
            if got < datasize:
                raise UnsafeEntry(raw_name, f"declares {datasize} bytes but the stream ends after "
                                  f"{got} (in {name}, header at byte {offset})",
                                  fix="the layer is truncated or its size field is wrong: save it again")
        elif datasize:
            got = src.feed(datasize, None)
            if got < datasize:
                raise UnsafeEntry(raw_name, f"declares {datasize} bytes but the stream ends after "
                                  f"{got} (in {name}, header at byte {offset})",
                                  fix="the layer is truncated or its size field is wrong: save it again")
        elif kind == "file" and (with_data or digest):
            data_b = b"" if with_data else None
            sha = _EMPTY_SHA
        if datasize % BLOCK:
            src.feed(BLOCK - datasize % BLOCK, None)
        # entry
        if base.startswith(WHITEOUT_PREFIX):
            parent_path = clean_path(posixpath.dirname(cleaned))
            if base == OPAQUE_MARKER:
                yield TarEntry(parent_path, Node.dir(0o755).with_opaque(), raw_name, opaque=True)
                continue
            hidden = base[len(WHITEOUT_PREFIX):]
            if hidden in ("", ".", ".."):
                raise UnsafeEntry(raw_name, f"invalid whiteout name (in {name}): Docker refuses it "
                                  "(mknod of an existing directory: file exists)",
                                  fix="a whiteout is .wh.NAME with a real NAME")
            hp = f"{parent_path}/{hidden}" if parent_path else hidden
            yield TarEntry(hp, Node.whiteout(), raw_name)
            continue
        if typeflag == b"1":
            link = _text(linkraw)
            if not clean_path(link):
                raise UnsafeEntry(raw_name, f"hard link to the root directory {link!r} (in {name}); "
                                  "Docker fails: operation not permitted",
                                  fix="hard links can only point to non-directories")
            node = Node("file", mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs)
            yield TarEntry(path, node, raw_name, hardlink=clean_path(link))
            continue
        if kind == "file":
            node = Node("file", mode=mode, uid=uid, gid=gid, mtime=mtime, size=datasize,
                        sha256=sha, data=data_b, xattrs=xattrs)
        elif kind == "symlink":
            if not linkraw:
                raise UnsafeEntry(raw_name, f"a symlink with an empty target (in {name}); Docker "
                                  "fails: symlink: no such file or directory",
                                  fix="give the symlink a target")
            node = Node("symlink", mode=0o777, uid=uid, gid=gid, mtime=mtime,
                        linkname=_text(linkraw), xattrs=xattrs)
        elif kind == "dir":
            node = Node("dir", mode=mode, uid=uid, gid=gid, mtime=mtime, xattrs=xattrs)
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
        yield TarEntry(path, node, raw_name)


_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


# --------------------------------------------------------------------------- read_layer

class _Unpacker:
    """Docker's overlay2 unpack of one layer, into a dict instead of a directory."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.out: dict[str, Node] = {}
        self.kids: dict[str, set[str]] = {}
        self.groups: dict[int, set[str]] = {}
        self.seen: set[str] = set()
        self.next_inode = 1

    # -- storage
    def put(self, path: str, node: Node) -> None:
        old = self.out.get(path)
        if old is not None and old.inode is not None and old.inode != node.inode:
            self.groups[old.inode].discard(path)
        self.out[path] = node
        if old is None:
            par = path.rpartition("/")[0]
            kids = self.kids.get(par)
            if kids is None:
                self.kids[par] = {path}
            else:
                kids.add(path)
        if node.inode is not None:
            self.groups.setdefault(node.inode, set()).add(path)

    def remove(self, path: str) -> None:
        node = self.out.pop(path, None)
        if node is None:
            return
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
                self.put(p, Node.dir(0o755))
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
    def add(self, e: TarEntry) -> None:
        raw = e.raw_name
        key = go_clean(raw)
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
        where = self.where(e.path, e.raw_name)
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


def read_layer(fileobj: IO[bytes], *, with_data: bool = True, name: str = "layer",
               digest: bool = True) -> LayerDir:
    """Unpack a layer tar the way Docker's overlay2 does, into a ``LayerDir`` (sorted).

    Raises ``UnsafeEntry`` (naming the entry) for what Docker refuses, ``LayerError`` for
    a malformed stream. Content is kept only with ``with_data=True``.
    """
    u = _Unpacker(name)
    for e in iter_entries(fileobj, with_data=with_data, name=name, digest=digest):
        u.add(e)
    return dict(sorted(u.out.items()))


# --------------------------------------------------------------------------- write_layer

def _emit_key(path: str, node: Node) -> tuple:
    """Sort by the name written (``.wh.NAME`` for a whiteout), whiteouts before a real
    directory of the same name, so that reading the tar back gives the same layer."""
    parts = path.split("/")
    if node.kind == "whiteout":
        parts[-1] = WHITEOUT_PREFIX + parts[-1]
    return (tuple(parts), node.kind != "whiteout")


def write_layer(layer: LayerDir, fileobj: IO[bytes], *, gzip: bool = False) -> None:
    """Write ``layer`` as a tar: sorted by written name, parents first, whiteouts as ``.wh.NAME``, opaque
    dirs followed by ``.wh..wh..opq``, hard-link groups as one file plus links. Owners,
    modes and mtimes are those of the Nodes, so equal layers give equal bytes."""
    if gzip:
        gz = _gzip_module.GzipFile(fileobj=fileobj, mode="wb", mtime=0, compresslevel=6)
        try:
            write_layer(layer, gz)  # type: ignore[arg-type]
        finally:
            gz.close()
        return
    first_of: dict[int, str] = {}
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        for path in sorted(layer, key=lambda p: _emit_key(p, layer[p])):
            node = layer[path]
            if not path or path != clean_path(path):
                raise LayerError(f"cannot write path {path!r}: layer paths are relative and normalised",
                                 fix="use fsmodel.norm_path for keys")
            par, _, base = path.rpartition("/")
            ti = tarfile.TarInfo(path)
            ti.uid, ti.gid, ti.mtime = node.uid, node.gid, node.mtime
            ti.uname = ti.gname = ""
            ti.mode = node.mode & 0o7777
            xattrs = [(k, v) for k, v in node.xattrs if k != OPAQUE_XATTR]
            if xattrs:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                                  for k, v in xattrs}
            data: bytes | None = None
            if base.startswith(WHITEOUT_PREFIX) and node.kind != "whiteout":
                # a real entry named .wh.* reads back as a whiteout: only a plain directory
                # can be kept, implied by its children (as Docker's unpacker creates it)
                if node.kind != "dir" or replace(node.with_opaque(False), mtime=0) != Node.dir(0o755):
                    raise LayerError(f"cannot write {path!r} as a layer tar: a {node.kind} named "
                                     f"{WHITEOUT_PREFIX}* would be read back as a whiteout",
                                     fix="rename it; only the whiteout convention may use that prefix")
                if node.opaque:
                    m = tarfile.TarInfo(f"{path}/{OPAQUE_MARKER}")
                    m.mode, m.uname, m.gname = 0o755, "", ""
                    tar.addfile(m)
                continue
            if node.kind == "whiteout":
                ti = tarfile.TarInfo(f"{par}/{WHITEOUT_PREFIX}{base}" if par else WHITEOUT_PREFIX + base)
                ti.mode, ti.uname, ti.gname = 0o600, "", ""
                tar.addfile(ti)
                continue
            if node.inode is not None and node.inode in first_of:
                ti.type = tarfile.LNKTYPE
                ti.linkname = first_of[node.inode]
            elif node.kind == "file":
                if node.data is None and node.size:
                    raise LayerError(f"cannot write {path!r}: its content is not in memory",
                                     fix="read the layer with with_data=True")
                data = node.data or b""
                ti.size = len(data)
            elif node.kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif node.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, node.linkname
            elif node.kind in ("char", "block"):
                ti.type = tarfile.CHRTYPE if node.kind == "char" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = node.rdev
            elif node.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            if node.inode is not None and node.inode not in first_of:
                first_of[node.inode] = path
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
            if node.opaque:
                m = tarfile.TarInfo(f"{path}/{OPAQUE_MARKER}")
                m.mode, m.uid, m.gid, m.uname, m.gname = node.mode & 0o777, node.uid, node.gid, "", ""
                tar.addfile(m)


_gzip_module = gzip


def layer_bytes(layer: LayerDir, *, gzip: bool = False) -> bytes:
    """``write_layer`` into bytes (uncompressed unless ``gzip``)."""
    buf = io.BytesIO()
    write_layer(layer, buf, gzip=gzip)
    return buf.getvalue()
