"""Fuzzing labkit.oci.tar: random, mutated and structured tars.

Only ``LayerError`` (or a subclass) may come out of ``iter_entries``/``read_layer`` —
never another exception — and what ``read_layer`` accepts is a well-formed layer
directory that round-trips through ``write_layer`` and, written to disk by
``realfs.write_dir``, stays inside its target directory.

Inputs that once crashed are kept in tests/corpus/tar/ and replayed by
``test_corpus_replays``. ``LABKIT_FUZZ_EXAMPLES`` raises the example counts for long runs.
"""
from __future__ import annotations

import io
import os
import sys
import tarfile

import pytest
import layout
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from requirekit import skip_unless_required
from tarkit import BLK, CHR, E, layer_tar

from labkit.errors import LayerError
from labkit.fs.node import Node
from labkit.oci.tar import reader as tarlayer
from labkit.oci.tar.reader import iter_entries
from labkit.oci.tar.unpack import read_layer
from labkit.oci.tar.writer import layer_bytes

CORPUS = layout.CORPUS / "tar"
N = int(os.environ.get("LABKIT_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=N, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def consume(data: bytes) -> dict | None:
    """Run every reader over ``data``; return the layer or None when refused."""
    for kw in ({"with_data": False, "digest": False}, {"with_data": True}):
        try:
            for _ in iter_entries(io.BytesIO(data), **kw):
                pass
        except LayerError:
            pass
    try:
        return read_layer(io.BytesIO(data), with_data=True)
    except LayerError:
        return None


def check_layer(layer: dict) -> None:
    """A layer directory as the contract describes it."""
    for path, node in layer.items():
        assert path and not path.startswith("/") and not path.endswith("/")
        assert ".." not in path.split("/") and "." not in path.split("/") and "" not in path.split("/")
        parent = path.rpartition("/")[0]
        if parent:
            assert layer[parent].kind == "dir", (path, layer[parent].kind)
        if node.kind == "file" and node.data is not None:
            assert node.size == len(node.data)
    again = read_layer(io.BytesIO(layer_bytes(layer)))
    assert again == layer


def seeds() -> list[bytes]:
    out = [p.read_bytes() for p in sorted(CORPUS.glob("*.tar")) if p.is_file()]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind in [("d", tarfile.DIRTYPE), ("d/f", tarfile.REGTYPE), ("d/.wh.x", tarfile.REGTYPE),
                           ("d/.wh..wh..opq", tarfile.REGTYPE), ("l", tarfile.SYMTYPE),
                           ("h", tarfile.LNKTYPE), ("p/" + "x" * 120, tarfile.REGTYPE)]:
            ti = tarfile.TarInfo(name)
            ti.type = kind
            ti.linkname = "d/f" if kind == tarfile.LNKTYPE else "d"
            data = b"content" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            ti.pax_headers = {"SCHILY.xattr.user.a": "b"} if name == "d/f" else {}
            t.addfile(ti, io.BytesIO(data))
    out.append(buf.getvalue())
    gnu = io.BytesIO()
    with tarfile.open(fileobj=gnu, mode="w", format=tarfile.GNU_FORMAT) as t:
        ti = tarfile.TarInfo("g/" + "y" * 150)
        ti.size = 3
        ti.uid = 1 << 40
        t.addfile(ti, io.BytesIO(b"abc"))
    out.append(gnu.getvalue())
    return out


SEEDS = seeds()


@FUZZ
@given(st.binary(max_size=3000))
def test_random_bytes(data):
    consume(data)
    consume(bytes(512) + data)


@FUZZ
@given(st.integers(0, len(SEEDS) - 1), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                                 max_size=8),
       st.integers(0, 1 << 16), st.booleans())
def test_mutated_tars(i, flips, cut, truncate):
    data = bytearray(SEEDS[i])
    for pos, value in flips:
        data[pos % len(data)] = value
    if truncate:
        data = data[:cut % (len(data) + 1)]
    layer = consume(bytes(data))
    if layer is not None:
        check_layer(layer)


PARTS = ["a", "b", ".wh.a", ".wh.b", ".wh..wh..opq", "..", ".", "", ".wh.", "/"]
TYPES = [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE,
         tarfile.FIFOTYPE, tarfile.BLKTYPE]
names = st.lists(st.sampled_from(PARTS), min_size=1, max_size=4).map("/".join)
entries = st.lists(st.tuples(names, st.sampled_from(TYPES), names, st.integers(0, 2), st.booleans()),
                   max_size=10)


def build(ents) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, kind, link, dev, gz in ents:
            ti = tarfile.TarInfo(name or ".")
            ti.type, ti.linkname = kind, link
            ti.devmajor = ti.devminor = dev
            data = name.encode() if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


@FUZZ
@given(entries)
def test_structured_tars_are_refused_or_well_formed(ents):
    layer = consume(build(ents))
    if layer is not None:
        check_layer(layer)


@pytest.fixture
def as_root():
    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "writing a layer to disk with its owners "
                             "and trusted.* xattrs needs root")


@FUZZ
@given(entries)
def test_structured_tars_write_inside_their_target(as_root, tmp_path_factory, ents):
    """What read_layer accepts, written to disk by realfs.write_dir, stays in its target."""
    layer = consume(build(ents))
    if layer is None:       # refused: nothing to write
        return
    from labkit.fs.realfs import write_dir  # noqa: PLC0415 - only the disk part needs it
    base = tmp_path_factory.mktemp("fuzz")
    target, outside = base / "target", base / "outside"
    outside.mkdir()
    # labkit never makes device nodes from untrusted tars: leave char/block out
    safe = {p: n for p, n in layer.items() if n.kind not in ("char", "block")}
    write_dir(safe, target)
    assert list(outside.iterdir()) == []
    assert sorted(p.name for p in base.iterdir()) == ["outside", "target"]
    real = os.path.realpath(target)
    for dirpath, _dirs, _files in os.walk(target):   # never follows the layer's symlinks
        assert os.path.realpath(dirpath).startswith(real)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.tar")), ids=lambda p: p.name)
def test_corpus_replays(path):
    """Each corpus file once crashed (or is a tricky seed): it must now be handled."""
    expect = "accept" if path.name.startswith("ok-") else "refuse" if path.name.startswith("bad-") else None
    layer = consume(path.read_bytes())
    if expect == "accept":
        assert layer is not None
        check_layer(layer)
    elif expect == "refuse":
        assert layer is None
    elif layer is not None:         # any other name: refused, or accepted and well formed
        check_layer(layer)


def test_corpus_is_present():
    assert CORPUS.is_dir() and any(CORPUS.iterdir())


def test_node_devices_are_values_only():
    # read_layer keeps devices as Nodes; nothing is created on the host
    layer = read_layer(io.BytesIO(build([("dev", tarfile.BLKTYPE, "", 2, False)])))
    assert layer["dev"] == Node("block", mode=0o644, rdev=(2, 2))


def test_only_a_char_device_0_0_is_a_whiteout():
    """overlayfs reads a char device as a whiteout only when it is 0/0: a char 0/5 or 5/0 (or a
    block 0/0) is a device node (the kernel oracle shows it on a real mount:
    oracles/kernel/test_layers.py)."""
    data = layer_tar([E("c05", CHR, dev=(0, 5)), E("c50", CHR, dev=(5, 0)), E("b00", BLK),
                      E("c00", CHR)])
    for kw in ({"with_data": False, "digest": False}, {"with_data": True}):
        got = {e.path: (e.node.kind, e.node.rdev) for e in iter_entries(io.BytesIO(data), **kw)}
        assert got == {"c05": ("char", (0, 5)), "c50": ("char", (5, 0)), "b00": ("block", (0, 0)),
                       "c00": ("whiteout", (0, 0))}, kw
    t = {"mode": 0o644, "mtime": 1_600_000_000}
    assert read_layer(io.BytesIO(data)) == {
        "b00": Node("block", **t), "c00": Node.whiteout(), "c05": Node("char", rdev=(0, 5), **t),
        "c50": Node("char", rdev=(5, 0), **t)}


# --------------------------------------------------------------------------- old vs new reader
# tests/oracles/tarlayer_v1.py is the reader as it was before the speed work (commit ede3c3d):
# the current reader must give exactly the same entries, layers and refusals on every input.

def _load_v1():
    import importlib.util  # noqa: PLC0415
    path = layout.ORACLES / "tarlayer_v1.py"
    spec = importlib.util.spec_from_file_location("labkit._tarlayer_v1", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod      # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


V1 = _load_v1()


class Trickle(io.RawIOBase):
    """A non-seekable stream that hands out a few bytes per read: entries straddle reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        k = self._step if n is None or n < 0 else min(n, self._step)
        out = self._data[self._pos:self._pos + k]
        self._pos += len(out)
        return out


def _outcome(fn):
    try:
        return ("ok", fn())
    except LayerError as exc:
        return (type(exc).__name__, str(exc))


def _entries(mod, f, **kw):
    return [(e.path, e.node, e.raw_name, e.hardlink, e.opaque, e.whiteout)
            for e in mod.iter_entries(f, **kw)]


MODES = ({"with_data": False, "digest": False}, {"with_data": False}, {"with_data": True})


def same_as_v1(data: bytes) -> None:
    for kw in MODES:
        old = _outcome(lambda: _entries(V1, io.BytesIO(data), **kw))
        assert _outcome(lambda: _entries(tarlayer, io.BytesIO(data), **kw)) == old, kw
        for step in (97, 512, 1500):
            new = _outcome(lambda: _entries(tarlayer, Trickle(data, step), **kw))
            assert new == old, (kw, step)
    old = _outcome(lambda: list(V1.read_layer(io.BytesIO(data), with_data=True).items()))
    assert _outcome(lambda: list(read_layer(io.BytesIO(data), with_data=True).items())) == old


def _heads(data: bytes, n: int):
    """What head=n must give: the first n bytes of each regular file's content (v1's data)."""
    out = []
    for e in V1.iter_entries(io.BytesIO(data), with_data=True):
        regular = e.node.kind == "file" and not e.hardlink and not e.whiteout
        out.append(e.node.data[:n] if regular else None)
    return out


@FUZZ
@given(st.integers(0, len(SEEDS) - 1), st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                                                 max_size=8),
       st.integers(0, 1 << 16), st.booleans())
def test_mutated_tars_read_exactly_as_before(i, flips, cut, truncate):
    data = bytearray(SEEDS[i])
    for pos, value in flips:
        data[pos % len(data)] = value
    if truncate:
        data = data[:cut % (len(data) + 1)]
    same_as_v1(bytes(data))


@FUZZ
@given(entries)
def test_structured_tars_read_exactly_as_before(ents):
    same_as_v1(build(ents))


@FUZZ
@given(st.binary(max_size=2000))
def test_random_bytes_read_exactly_as_before(data):
    same_as_v1(bytes(512) + data)
    same_as_v1(data)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.tar")), ids=lambda p: p.name)
def test_corpus_reads_exactly_as_before(path):
    same_as_v1(path.read_bytes())


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(["a", "b/c", ".wh.x", "h", "l"]), st.integers(0, 3000)),
                max_size=6), st.integers(1, 9000), st.sampled_from([0, 97, 700]))
def test_head_gives_the_start_of_each_regular_file(files, n, step):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for k, (name, size) in enumerate(files):
            ti = tarfile.TarInfo(f"{k}/{name}")
            if name == "h" and k:
                ti.type, ti.linkname = tarfile.LNKTYPE, f"{k - 1}/{files[k - 1][0]}"
            elif name == "l":
                ti.type, ti.linkname = tarfile.SYMTYPE, "a"
            else:
                ti.size = size
            t.addfile(ti, io.BytesIO(os.urandom(ti.size)))
    data = buf.getvalue()
    want = _heads(data, n)
    for kw in MODES:
        f = Trickle(data, step) if step else io.BytesIO(data)
        got = [e.head for e in iter_entries(f, head=n, **kw)]
        assert got == want, kw
