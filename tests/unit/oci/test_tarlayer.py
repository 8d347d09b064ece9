"""Unit tests of every unpack rule of labkit.oci.tar (tars built here with tarfile).

The expected values are Docker 20.10's behaviour as tests/test_flatten_docker.py checks it on
the real daemon; here they run without one.
"""
from __future__ import annotations

import bz2
import dataclasses
import gzip
import hashlib
import io
import lzma
import tarfile
import tracemalloc

import pytest

from labkit.errors import LayerError, UnsafeEntry
from labkit.fs.node import OPAQUE_XATTR, Node
from labkit.oci.tar.reader import TarEntry, iter_entries
from labkit.oci.tar.unpack import read_layer
from labkit.oci.tar.writer import layer_bytes, write_layer

REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
CHR, BLK, FIFO = tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE


def E(name, type=REG, data=b"", mode=None, link="", dev=(0, 0), uid=0, gid=0, mtime=1000, pax=None):
    return dict(name=name, type=type, data=data, mode=(0o755 if type == DIR else 0o644) if mode is None else mode,
                link=link, dev=dev, uid=uid, gid=gid, mtime=mtime, pax=pax)


def tar(*entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type, ti.mode, ti.linkname = e["type"], e["mode"], e["link"]
            ti.uid, ti.gid, ti.mtime = e["uid"], e["gid"], e["mtime"]
            ti.devmajor, ti.devminor = e["dev"]
            if e["pax"]:
                ti.pax_headers = e["pax"]
            if e["type"] == REG:
                ti.size = len(e["data"])
                t.addfile(ti, io.BytesIO(e["data"]))
            else:
                t.addfile(ti)
    return buf.getvalue()


def read(*entries, **kw):
    return read_layer(io.BytesIO(tar(*entries)), **kw)


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


W = "whiteout"
# id -> (entries, {path: kind or (kind, {attr: value})}) — the WHOLE expected layer directory
ACCEPTED = {
    "implicit parents are dirs 0755": (
        [E("a/b/c", data=b"x")],
        {"a": ("dir", {"mode": 0o755}), "a/b": ("dir", {"mode": 0o755}), "a/b/c": ("file", {"size": 1})}),
    "./x, /x and x are one path (later replaces)": (
        [E("./x", data=b"1"), E("/x", data=b"22")], {"x": ("file", {"size": 2})}),
    "../x and /../x stay inside the root": (
        [E("../x", data=b"1"), E("/../y", data=b"2"), E("a/../../z", data=b"3")],
        {"x": "file", "y": "file", "z": "file"}),  # names are cleaned before parents are made
    "whiteout hides NAME": ([E("d/.wh.f")], {"d": "dir", "d/f": W}),
    "only the basename is special": ([E(".wh.d/file")], {".wh.d": "dir", ".wh.d/file": "file"}),
    "opaque marker first": ([E("d/.wh..wh..opq"), E("d/x")], {"d": ("dir", {"opaque": True}), "d/x": "file"}),
    "opaque marker after its dir": (
        [E("d", DIR, mode=0o700), E("d/.wh..wh..opq")], {"d": ("dir", {"opaque": True, "mode": 0o700})}),
    "dir entry after the marker keeps opaque": (
        [E("d/.wh..wh..opq"), E("d", DIR, mode=0o711)], {"d": ("dir", {"opaque": True, "mode": 0o711})}),
    "opaque via pax xattr": (
        [E("d", DIR, pax={"SCHILY.xattr." + OPAQUE_XATTR: "y"})], {"d": ("dir", {"opaque": True})}),
    "opaque at root does nothing": ([E(".wh..wh..opq"), E("x")], {"x": "file"}),
    "opaque under a file does nothing": ([E("f", data=b"1"), E("f/.wh..wh..opq")], {"f": ("file", {"size": 1})}),
    "whiteout then the same name keeps it": ([E(".wh.x"), E("x", data=b"new")], {"x": ("file", {"size": 3})}),
    "whiteout then a dir": ([E(".wh.d"), E("d", DIR), E("d/y")],
                            {"d": ("dir", {"opaque": False}), "d/y": "file"}),
    "whiteout of a missing name": ([E("q/r/.wh.nothing")], {"q": "dir", "q/r": "dir", "q/r/nothing": W}),
    "char 0/0 is a whiteout": ([E("a", CHR)], {"a": W}),
    "devices and fifos are kept": (
        [E("c", CHR, dev=(1, 3), mode=0o666), E("b", BLK, dev=(7, 0)), E("p", FIFO, mode=0o600)],
        {"c": ("char", {"rdev": (1, 3), "mode": 0o666}), "b": ("block", {"rdev": (7, 0)}),
         "p": ("fifo", {"mode": 0o600})}),
    "dir over dir keeps children, takes attributes": (
        [E("d", DIR), E("d/x"), E("/d", DIR, mode=0o700, uid=5)],
        {"d": ("dir", {"mode": 0o700, "uid": 5}), "d/x": "file"}),
    "file over dir drops the subtree": ([E("d/x"), E("d/y/z"), E("/d", data=b"f")], {"d": "file"}),
    "symlink targets are kept as written": (
        [E("s", SYM, link="../../../etc/passwd")], {"s": ("symlink", {"linkname": "../../../etc/passwd"})}),
    "a same-layer symlink parent is followed": (
        [E("d", DIR), E("l", SYM, link="d"), E("l/x", data=b"v"), E("la", SYM, link="/d"), E("la/s/y")],
        {"d": "dir", "l": "symlink", "la": "symlink", "d/x": "file", "d/s": "dir", "d/s/y": "file"}),
    "hard link shares content and takes the link header's mode and owner": (
        [E("f", data=b"abc", mode=0o600, uid=1), E("h", LNK, link="f", mode=0o751, uid=7)],
        {"f": ("file", {"mode": 0o751, "uid": 7, "sha256": sha(b"abc")}),
         "h": ("file", {"mode": 0o751, "uid": 7, "sha256": sha(b"abc"), "size": 3})}),
    "hard link to a symlink is a symlink": (
        [E("s", SYM, link="t"), E("h", LNK, link="s")], {"s": "symlink", "h": ("symlink", {"linkname": "t"})}),
    "hard link target ../f stays inside": ([E("f", data=b"1"), E("h", LNK, link="../f")], {"f": "file", "h": "file"}),
    "the . entry is skipped": ([E(".", DIR, mode=0o700), E("x")], {"x": "file"}),
    "long names (pax)": ([E("a/" + "n" * 300, data=b"1")], {"a": "dir", "a/" + "n" * 300: "file"}),
    "setuid bits are kept": ([E("f", mode=0o4755)], {"f": ("file", {"mode": 0o4755})}),
}


@pytest.mark.parametrize("case", sorted(ACCEPTED))
def test_accepted(case):
    entries, expected = ACCEPTED[case]
    layer = read(*entries)
    assert sorted(layer) == sorted(expected)
    for path, want in expected.items():
        kind, attrs = (want, {}) if isinstance(want, str) else want
        node = layer[path]
        assert node.kind == kind, path
        for attr, value in attrs.items():
            assert getattr(node, attr) == value, (path, attr)


def test_hard_links_form_one_inode_group_and_survive_replacing_the_source():
    layer = read(E("f", data=b"old"), E("h", LNK, link="f"), E("/f", data=b"new"))
    assert layer["h"].sha256 == sha(b"old") and layer["f"].sha256 == sha(b"new")
    grouped = read(E("f", data=b"x"), E("h", LNK, link="f"), E("i", LNK, link="h"))
    assert grouped["f"].inode is not None
    assert grouped["f"].inode == grouped["h"].inode == grouped["i"].inode


# id -> (entries, entry the error must name, words the message must contain)
REFUSED = {
    "X then .wh.X": ([E("f"), E(".wh.f")], ".wh.f", "file exists"),
    "dir then .wh.dir": ([E("d", DIR), E(".wh.d")], ".wh.d", "file exists"),
    "whiteout twice": ([E(".wh.a"), E("./.wh.a")], "./.wh.a", "twice"),
    "duplicate path": ([E("f"), E("./f")], "./f", "twice"),
    "duplicate dir": ([E("d", DIR), E("d/", DIR)], "d/", "twice"),
    ".wh.": ([E("d/.wh.")], "d/.wh.", "invalid whiteout"),
    ".wh..": ([E("d/.wh..")], "d/.wh..", "invalid whiteout"),
    ".wh...": ([E("d/.wh...")], "d/.wh...", "invalid whiteout"),
    "child of a whiteout": ([E(".wh.d"), E("d/y")], "d/y", "not a directory"),
    "child of a file": ([E("f"), E("f/x")], "f/x", "not a directory"),
    "hard link to a later entry": ([E("h", LNK, link="f"), E("f")], "h", "earlier"),
    "hard link to nothing": ([E("h", LNK, link="nope")], "h", "earlier"),
    "hard link to itself": ([E("h", LNK, link="h")], "h", "earlier"),
    "hard link to a dir": ([E("d", DIR), E("h", LNK, link="d")], "h", "directory"),
    "dangling symlink parent": ([E("l", SYM, link="nope"), E("l/x")], "l/x", "does not exist"),
    "symlink loop parent": ([E("a", SYM, link="b"), E("b", SYM, link="a"), E("a/x")], "a/x", "symbolic links"),
    "a file as the root": ([E("/", REG)], "/", "root"),
    "contiguous type": ([E("f", tarfile.CONTTYPE)], "f", "type"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_refused(case):
    entries, entry, words = REFUSED[case]
    with pytest.raises(UnsafeEntry) as info:
        read(*entries, name="layer 3")
    assert info.value.entry == entry
    assert words in str(info.value) and "layer 3" in str(info.value)


def test_declared_size_beyond_the_stream_names_the_entry():
    data = tar(E("big", data=b"x" * 5000), E("after"))
    for cut in (600, 2048, 4000):
        with pytest.raises(UnsafeEntry, match="declares 5000 bytes") as info:
            read_layer(io.BytesIO(data[:cut]))
        assert info.value.entry == "big"


def test_huge_declared_size_is_refused_without_reading_it():
    head = bytearray(tar(E("huge", data=b"")))[:512]
    head[124:136] = b"%011o\0" % (1 << 32)  # 4 GiB declared
    head[148:156] = b"        "
    head[148:156] = b"%06o\0 " % sum(head)
    with pytest.raises(UnsafeEntry, match="declares 4294967296 bytes"):
        list(iter_entries(io.BytesIO(bytes(head) + b"x" * 100)))


@pytest.mark.parametrize("bad", ["checksum", "truncated header", "zero then data", "bad octal"])
def test_malformed_streams_are_layer_errors(bad):
    data = bytearray(tar(E("a", data=b"1"), E("b", data=b"2")))
    if bad == "checksum":
        data[0] ^= 0x20
    elif bad == "truncated header":
        data = data[:1024 + 100]
    elif bad == "zero then data":
        data = bytes(512) + data
    else:
        data[124:136] = b"0000000009x\0"
    with pytest.raises(LayerError):
        read_layer(io.BytesIO(bytes(data)))


def test_empty_stream_and_missing_end_blocks_are_fine():
    assert read_layer(io.BytesIO(b"")) == {}
    data = tar(E("a", data=b"1"))
    assert set(read_layer(io.BytesIO(data[:1024]))) == {"a"}


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress, lzma.compress, None])
def test_compression_is_detected_by_magic_bytes(compress):
    raw = tar(E("d/f", data=b"content"))
    blob = compress(raw) if compress else raw
    layer = read_layer(io.BytesIO(blob), with_data=True)
    assert layer["d/f"].data == b"content"


def test_corrupt_gzip_is_a_layer_error():
    blob = gzip.compress(tar(E("f", data=b"x" * 10000)))
    with pytest.raises(LayerError, match="compressed stream"):
        read_layer(io.BytesIO(blob[:len(blob) // 2]))


class OnlyRead(io.RawIOBase):
    """A pipe-like stream: read() only, no seek."""

    def __init__(self, data: bytes) -> None:
        self._b = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        chunk = self._b.read(min(len(b), 777))
        b[:len(chunk)] = chunk
        return len(chunk)


def test_entries_stream_from_a_pipe_with_pax_gnu_and_ustar_names():
    long = "p/" + "x" * 150
    for fmt in (tarfile.PAX_FORMAT, tarfile.GNU_FORMAT):
        data = tar(E(long, data=b"1"), E("l", SYM, link="y" * 150), fmt=fmt)
        entries = list(iter_entries(OnlyRead(data), with_data=True))
        assert [e.path for e in entries] == [long, "l"]
        assert entries[1].node.linkname == "y" * 150
    ustar = tar(E("u/" + "v" * 90 + "/" + "w" * 90, data=b"2"), fmt=tarfile.USTAR_FORMAT)
    assert [e.path for e in iter_entries(io.BytesIO(ustar))] == ["u/" + "v" * 90 + "/" + "w" * 90]


def test_pax_overrides_and_xattrs():
    data = tar(E("f", data=b"1", pax={"uid": "4000000000", "mtime": "1700000000.75",
                                      "SCHILY.xattr.user.k": "v"}))
    (e,) = iter_entries(io.BytesIO(data))
    assert e.node.uid == 4_000_000_000 and e.node.mtime == 1_700_000_000
    assert e.node.xattrs == (("user.k", b"v"),)


def test_tar_entry_is_frozen_and_whiteouts_are_raw():
    entries = list(iter_entries(io.BytesIO(tar(E("d/.wh.x"), E("d/.wh..wh..opq"), E("h", LNK, link="/d")))))
    assert isinstance(entries[0], TarEntry)
    with pytest.raises(dataclasses.FrozenInstanceError):
        entries[0].path = "y"  # type: ignore[misc]
    assert (entries[0].path, entries[0].node.kind, entries[0].raw_name) == ("d/x", "whiteout", "d/.wh.x")
    assert entries[1].opaque and entries[1].path == "d"
    assert entries[2].hardlink == "d"


def test_with_data_false_never_holds_content():
    entries = list(iter_entries(io.BytesIO(tar(E("f", data=b"abc")))))
    assert entries[0].node.data is None and entries[0].node.sha256 == sha(b"abc")
    nodigest = list(iter_entries(io.BytesIO(tar(E("f", data=b"abc"))), digest=False))
    assert nodigest[0].node.sha256 == "" and nodigest[0].node.size == 3


class LazyTar(io.RawIOBase):
    """A tar with one ``size``-byte file, generated on the fly (never in memory)."""

    def __init__(self, size: int) -> None:
        ti = tarfile.TarInfo("big")
        ti.size = size
        self._head = ti.tobuf(tarfile.USTAR_FORMAT)
        self._left = size + (-size % 512) + 1024
        self._pos = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        if self._pos < len(self._head):
            n = min(len(b), len(self._head) - self._pos)
            b[:n] = self._head[self._pos:self._pos + n]
            self._pos += n
            return n
        n = min(len(b), self._left)
        b[:n] = bytes(n)
        self._left -= n
        return n


def test_streaming_memory_stays_small_for_a_big_file():
    size = 200 << 20
    tracemalloc.start()
    try:
        (e,) = iter_entries(io.BufferedReader(LazyTar(size), 1 << 16))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.node.size == size and e.node.sha256 == hashlib.sha256(bytes(size)).hexdigest()
    assert peak < 24 << 20, f"peak {peak} bytes while streaming a {size}-byte file"


# --------------------------------------------------------------------------- write_layer

SAMPLE = {
    "a": Node.dir(0o750, uid=3, mtime=5),
    "a/f": Node.file(b"hello", mode=0o640, mtime=7, inode=1),
    "a/g": Node.file(b"hello", mode=0o640, mtime=7, inode=1),
    "b": Node.symlink("a/f", mtime=9),
    "c": Node.whiteout(),
    "d": Node.dir().with_opaque(),
    "d/x": Node.file(b"", xattrs=(("user.note", b"\xff\x00bin"),)),
    "dev": Node("char", mode=0o600, rdev=(4, 64)),
    "n" * 200: Node.file(b"long"),
}


def test_write_then_read_gives_the_same_layer_and_bytes():
    data = layer_bytes(SAMPLE)
    again = read_layer(io.BytesIO(data))
    assert again == SAMPLE
    assert layer_bytes(again) == data
    buf = io.BytesIO()
    write_layer(SAMPLE, buf, gzip=True)
    assert buf.getvalue()[:2] == b"\x1f\x8b"
    assert read_layer(io.BytesIO(buf.getvalue())) == SAMPLE


def test_written_form_uses_wh_names_markers_links_and_parent_first_order():
    names = []
    with tarfile.open(fileobj=io.BytesIO(layer_bytes(SAMPLE))) as t:
        for m in t:
            names.append((m.name, m.type))
    order = [n for n, _ in names]
    assert order.index("a") < order.index("a/f") < order.index("a/g")
    assert (".wh.c", REG) in names and ("d/.wh..wh..opq", REG) in names
    assert ("a/g", LNK) in names
    markers_out = [n for n in order if not n.endswith("/.wh..wh..opq")]
    assert markers_out == sorted(markers_out, key=lambda p: p.split("/"))
    assert order.index("d/.wh..wh..opq") == order.index("d") + 1


def test_write_is_deterministic_regardless_of_dict_order():
    shuffled = dict(reversed(list(SAMPLE.items())))
    assert layer_bytes(shuffled) == layer_bytes(SAMPLE)


def test_write_without_content_is_refused():
    with pytest.raises(LayerError, match="with_data=True"):
        layer_bytes({"f": Node("file", size=3, sha256="0" * 64)})


def test_skipping_by_seek_still_notices_truncation():
    data = tar(E("big", data=b"z" * (3 << 20)), E("next", data=b"1"))
    listed = [(e.path, e.node.size) for e in iter_entries(io.BytesIO(data), digest=False)]
    assert listed == [("big", 3 << 20), ("next", 1)]
    with pytest.raises(UnsafeEntry, match="declares 3145728 bytes"):
        list(iter_entries(io.BytesIO(data[:2 << 20]), digest=False))


def test_header_checksum_is_the_exact_byte_sum_for_every_header_shape():
    # the reader sums a header as two half-block Adler-32 sums; compare with a plain sum
    import os as _os
    import random as _random
    from labkit.oci.tar.reader import _header_sum
    rng = _random.Random(5)
    blocks = [bytes(512), b"\xff" * 512, _os.urandom(512)]
    blocks += [bytes(rng.choice((0, 255, rng.randrange(256))) for _ in range(512)) for _ in range(300)]
    for blk in blocks:
        assert _header_sum(blk) == sum(blk)


@pytest.mark.parametrize("delta", [1, -1, 255, 65521])
def test_a_checksum_off_by_any_amount_is_refused(delta):
    import tarfile as _tarfile
    buf = io.BytesIO()
    with _tarfile.open(fileobj=buf, mode="w", format=_tarfile.USTAR_FORMAT) as tar:
        ti = _tarfile.TarInfo("f")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    data = bytearray(buf.getvalue())
    stored = int(bytes(data[148:155]).strip(b" \x00"), 8)
    assert stored + delta > 0
    data[148:156] = b"%06o\x00 " % (stored + delta) if stored + delta < 8 ** 6 else b"%07o\x00" % (stored + delta)
    with pytest.raises(LayerError, match="bad checksum"):
        list(iter_entries(io.BytesIO(bytes(data))))
    assert [e.path for e in iter_entries(io.BytesIO(buf.getvalue()))] == ["f"]
