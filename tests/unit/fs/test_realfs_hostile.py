"""realfs against hostile layers (issue 13): what a layer from an untrusted tar can make on the
host is regular content, whiteouts (char 0/0) and the opaque mark, nothing privileged; any
depth writes, reads back and is removed with a bounded number of fds and no recursion; a bad
value is a labkit error naming the entry, before anything is written. Needs root (owners,
whiteouts, trusted.* xattrs)."""
from __future__ import annotations

import contextlib
import io
import os
import resource
import stat
import sys
import tarfile
import tempfile

import pytest
from requirekit import skip_unless_required

from labkit.errors import LabkitError, LayerError, UnsafeEntry
from labkit.fs.node import OPAQUE_XATTR, Node
from labkit.fs.realfs import MAX_DIR_FDS, TRUSTED, check_layer, read_dir, remove_tree, walk, write_dir
from labkit.oci.tar.unpack import read_layer


@pytest.fixture(autouse=True)
def _as_root():
    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "owners, whiteouts and trusted.* xattrs "
                             "need root")


OVERLAY_OWN = {OPAQUE_XATTR}
CAP = ("security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\0" * 12)  # cap_net_raw


def _disk(root) -> dict[str, os.stat_result]:
    """lstat of everything under ``root`` (shallow trees: os.walk is fine here)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = os.lstat(full)
    return out


def _assert_nothing_privileged(root) -> None:
    """No device node but whiteouts 0/0, no set-id bit, no xattr but overlay's opaque mark."""
    for path, s in _disk(root).items():
        assert not stat.S_ISBLK(s.st_mode), path
        assert not stat.S_ISCHR(s.st_mode) or s.st_rdev == os.makedev(0, 0), path
        assert not s.st_mode & (stat.S_ISUID | stat.S_ISGID), (path, oct(s.st_mode))
        names = set(os.listxattr(os.path.join(root, path), follow_symlinks=False))
        assert names <= OVERLAY_OWN, (path, names)


# -- what is written ------------------------------------------------------------------------

HOSTILE = {
    "bin": Node.dir(0o2755),                                        # set-group-ID dir
    "bin/su": Node.file(b"\x7fELF", mode=0o4755, xattrs=(CAP,)),   # setuid root + capability
    "bin/sg": Node.file(b"\x7fELF", mode=0o6711, uid=0, gid=0),
    "bin/sg2": Node.file(b"\x7fELF", mode=0o6711, inode=1),
    "bin/sg3": Node.file(b"\x7fELF", mode=0o6711, inode=1),
    "tmp": Node.dir(0o1777),                                        # sticky: kept
    "etc": Node.dir(xattrs=(("user.note", b"x"), ("trusted.overlay.redirect", b"/bin"))),
    "etc/link": Node.symlink("/bin/su", xattrs=(("trusted.overlay.origin", b"\0\1"),)),
    "etc/pipe": Node("fifo", mode=0o4640),                          # a fifo: harmless, kept
    "etc/gone": Node.whiteout(),
    "opt": Node.dir().with_opaque(),
    "srv": Node.dir(xattrs=((OPAQUE_XATTR, b"x"),)),               # not 'y': not the mark
    "srv/f": Node.file(b"f", xattrs=((OPAQUE_XATTR, b"y"), ("security.selinux", b"s0"))),
}


def test_a_hostile_layer_writes_nothing_privileged(tmp_path):
    root = tmp_path / "l"
    dropped = write_dir(HOSTILE, root)
    _assert_nothing_privileged(root)
    disk = _disk(root)
    assert stat.S_IMODE(disk["bin/su"].st_mode) == 0o755
    assert stat.S_IMODE(disk["bin/sg"].st_mode) == 0o711
    assert stat.S_IMODE(disk["bin"].st_mode) == 0o755
    assert stat.S_IMODE(disk["tmp"].st_mode) == 0o1777                    # sticky stays
    assert disk["bin/sg2"].st_ino == disk["bin/sg3"].st_ino               # hard link kept
    assert stat.S_ISFIFO(disk["etc/pipe"].st_mode) and stat.S_IMODE(disk["etc/pipe"].st_mode) == 0o640
    assert os.lstat(root / "etc/gone").st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "opt", OPAQUE_XATTR) == b"y"
    assert os.listxattr(root / "srv") == [] and os.listxattr(root / "srv/f") == []
    assert os.readlink(root / "etc/link") == "/bin/su"
    said = {(d.path, d.what.split(":")[0]) for d in dropped}
    assert said == {
        ("bin", "set-user-ID/set-group-ID bits"), ("bin/su", "set-user-ID/set-group-ID bits"),
        ("bin/sg", "set-user-ID/set-group-ID bits"), ("bin/sg2", "set-user-ID/set-group-ID bits"),
        ("bin/sg3", "set-user-ID/set-group-ID bits"), ("etc/pipe", "set-user-ID/set-group-ID bits"),
        ("bin/su", "xattr security.capability"), ("etc", "xattr user.note"),
        ("etc", "xattr trusted.overlay.redirect"), ("etc/link", "xattr trusted.overlay.origin"),
        ("srv", f"xattr {OPAQUE_XATTR}"), ("srv/f", f"xattr {OPAQUE_XATTR}"),
        ("srv/f", "xattr security.selinux")}
    assert str(next(d for d in dropped if d.path == "bin/su" and "xattr" in d.what)) == \
        "/bin/su: xattr security.capability"


def test_the_opaque_mark_can_be_written_under_the_userxattr_name(tmp_path):
    write_dir(HOSTILE, tmp_path / "l", opaque_xattr="user.overlay.opaque")
    assert os.listxattr(tmp_path / "l/opt") == ["user.overlay.opaque"]
    assert os.getxattr(tmp_path / "l/opt", "user.overlay.opaque") == b"y"


@pytest.mark.parametrize("node", [Node("char", mode=0o666, rdev=(1, 1)),      # /dev/mem
                                  Node("char", rdev=(0, 5)), Node("char", rdev=(5, 0)),
                                  Node("block", mode=0o660, rdev=(8, 0)), Node("block")],
                         ids=["mem", "c05", "c50", "sda", "b00"])
def test_device_nodes_are_refused_naming_the_entry_before_anything_is_written(tmp_path, node):
    root = tmp_path / "l"
    layer = {"a": Node.file(b"a"), "dev": Node.dir(), "dev/x": node}
    with pytest.raises(UnsafeEntry) as exc:
        write_dir(layer, root)
    assert exc.value.entry == "dev/x" and f"{node.kind} device" in str(exc.value)
    assert "labkit.Mount" in exc.value.fix
    assert not root.exists()


def test_trusted_layers_keep_set_id_bits_devices_and_xattrs(tmp_path):
    """Only for layers labkit's own tests make (the kernel oracle): everything a Node says."""
    layer = {"su": Node.file(b"x", mode=0o4755, xattrs=(CAP,)), "null": Node("char", rdev=(1, 3))}
    assert write_dir(layer, tmp_path / "l", trust=TRUSTED) == ()
    assert stat.S_IMODE(os.lstat(tmp_path / "l/su").st_mode) == 0o4755
    assert os.getxattr(tmp_path / "l/su", CAP[0]) == CAP[1]
    assert os.lstat(tmp_path / "l/null").st_rdev == os.makedev(1, 3)


def _tar(*members: tuple) -> bytes:
    """(name, type, mode, uid, dev, pax) -> one layer tar."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, mode, uid, dev, pax in members:
            ti = tarfile.TarInfo(name)
            ti.type, ti.mode, ti.uid, ti.mtime = kind, mode, uid, 1_600_000_000
            ti.devmajor, ti.devminor = dev
            ti.pax_headers = pax
            data = b"\x7fELF" if kind == tarfile.REGTYPE else b""
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def test_what_a_hostile_tar_carries_never_lands_privileged(tmp_path):
    """The path the issue found: a tar's devices (mode 0666, 1/1 = /dev/mem), setuid-root
    files and security.capability, read by read_layer, written by write_dir."""
    cap = {"SCHILY.xattr.security.capability": CAP[1].decode("latin-1")}
    blob = _tar(("bin", tarfile.DIRTYPE, 0o2755, 0, (0, 0), {}),
                ("bin/su", tarfile.REGTYPE, 0o4755, 0, (0, 0), cap),
                ("bin/.wh.old", tarfile.REGTYPE, 0o644, 0, (0, 0), {}),
                ("pipe", tarfile.FIFOTYPE, 0o6666, 0, (0, 0), {}))
    layer = read_layer(io.BytesIO(blob))
    assert layer["bin/su"].mode == 0o4755 and dict(layer["bin/su"].xattrs)
    write_dir(layer, tmp_path / "l")
    _assert_nothing_privileged(tmp_path / "l")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "l/pipe").st_mode)
    with_device = _tar(("mem", tarfile.CHRTYPE, 0o666, 0, (1, 1), {}))
    with pytest.raises(UnsafeEntry) as exc:
        write_dir(read_layer(io.BytesIO(with_device)), tmp_path / "d")
    assert exc.value.entry == "mem" and "char device 1/1" in str(exc.value)
    assert not (tmp_path / "d").exists()


# -- hostile values: a labkit error naming the entry, nothing written -------------------------

BAD = {
    "mtime-huge": ("f", Node.file(b"", mtime=2**70), "mtime"),
    "mtime-very-negative": ("f", Node.file(b"", mtime=-(2**70)), "mtime"),
    "mtime-not-int": ("f", Node.file(b"", mtime=1.5), "mtime"),
    "uid-2**32": ("f", Node.file(b"", uid=2**32), "uid"),
    "uid-minus-1": ("f", Node.file(b"", uid=-1), "uid"),
    "uid-unchanged-marker": ("f", Node.file(b"", uid=2**32 - 1), "uid"),
    "gid-huge": ("d", Node.dir(gid=2**64), "gid"),
    "uid-5000-digits": ("f", Node.file(b"", uid=10**5000), "uid"),
    "size-huge": ("f", Node("file", size=2**64), "size"),
    "mode-negative": ("f", Node.file(b"", mode=-1), "mode"),
    "nul-in-name": ("a\0b", Node.file(b""), "NUL"),
    "nul-in-dir-name": ("d\0/f", Node.file(b""), "NUL"),
    "name-256-bytes": ("x" * 256, Node.file(b""), "256 bytes"),
    "name-256-bytes-utf8": ("d/" + "é" * 128, Node.file(b""), "256 bytes"),
    "surrogate": ("\ud800", Node.file(b""), "encoded"),
    "symlink-nul": ("l", Node.symlink("a\0b"), "NUL"),
    "symlink-empty": ("l", Node.symlink(""), "empty target"),
    "symlink-too-long": ("l", Node.symlink("t" * 5000), "5000 bytes"),
    "xattr-empty-name": ("f", Node.file(b"", xattrs=(("", b"v"),)), "namespace"),
    "xattr-no-namespace": ("f", Node.file(b"", xattrs=(("capability", b"v"),)), "namespace"),
    "xattr-nul": ("f", Node.file(b"", xattrs=(("user.a\0b", b"v"),)), "NUL"),
    "xattr-long-name": ("f", Node.file(b"", xattrs=(("user." + "n" * 300, b"v"),)), "305 bytes"),
    "xattr-str-value": ("f", Node.file(b"", xattrs=(("user.a", "v"),)), "not bytes"),
    "xattr-huge-value": ("f", Node.file(b"", xattrs=(("user.a", b"v" * 70000),)), "70000 bytes"),
    "xattr-not-a-pair": ("f", Node.file(b"", xattrs=(("user.a",),)), "pair"),
    "unknown-kind": ("s", Node("socket"), "kind"),  # type: ignore[arg-type]
    "not-a-node": ("f", b"data", "not a Node"),
    "device-number-huge": ("c", Node("char", rdev=(2**40, 2**64)), "device"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_hostile_values_are_a_labkit_error_naming_the_entry(tmp_path, case):
    path, node, words = BAD[case]
    root = tmp_path / "l"
    for trust in ({}, {"trust": TRUSTED}):        # trusted or not: the values are checked
        with pytest.raises(UnsafeEntry) as exc:
            write_dir({"ok": Node.file(b"fine"), path: node}, root, **trust)
        assert exc.value.entry == path and words in str(exc.value), str(exc.value)
        assert len(str(exc.value)) < 12_000
        assert not root.exists()
        with pytest.raises(UnsafeEntry):
            check_layer({path: node}, **trust)


def test_a_path_key_that_is_not_a_str_is_refused(tmp_path):
    with pytest.raises(UnsafeEntry) as exc:
        write_dir({b"etc": Node.dir()}, tmp_path / "l")       # type: ignore[dict-item]
    assert "str" in str(exc.value)


def test_an_unwritable_target_is_a_layer_error(tmp_path):
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(LayerError) as exc:
        write_dir({"a": Node.file(b"")}, tmp_path / "file")
    assert str(tmp_path / "file") in str(exc.value)


def test_a_file_where_a_directory_is_needed_is_a_layer_error(tmp_path):
    with pytest.raises(LayerError) as exc:
        write_dir({"a": Node.file(b"x"), "a/b": Node.file(b"y")}, tmp_path / "l")
    assert "'a'" in str(exc.value) or "'a/b'" in str(exc.value)


def test_read_dir_of_a_missing_directory_is_a_layer_error(tmp_path):
    with pytest.raises(LayerError):
        read_dir(tmp_path / "missing")


# -- any depth, bounded fds, no recursion -----------------------------------------------------

def _open_fds() -> int:
    """fds this process holds on files in the temp dirs, where these trees live (pipes and
    sockets other tests' threads and worker pools open and close meanwhile do not count)."""
    roots = tuple({os.path.realpath(tempfile.gettempdir()), "/tmp/"})
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith(roots)
        except OSError:          # closed meanwhile
            pass
    return n


@contextlib.contextmanager
def _few_fds(n: int = 64):
    """RLIMIT_NOFILE lowered to ``n`` fds above the highest one this process holds already (the
    full suite holds many: sockets, worker pipes); each open dir holding an fd would hit EMFILE."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(fd) for fd in os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest + 1 + n, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


DEPTH = 3000


def _deep(depth: int = DEPTH) -> dict[str, Node]:
    layer, path = {}, ""
    for i in range(depth):
        path = f"{path}/d" if path else "d"
        layer[path] = Node.dir(0o750 if i % 2 else 0o755, uid=i % 7, mtime=1000 + i)
        if i % 500 == 0:
            layer[f"{path}/f"] = Node.file(b"%d" % i, mtime=7)
            layer[f"{path}/l"] = Node.symlink("f")
            layer[f"{path}/w"] = Node.whiteout()
    layer[f"{path}/bottom"] = Node.file(b"deep", mode=0o600, mtime=9, inode=1)
    layer["top"] = Node.file(b"deep", mode=0o600, mtime=9, inode=1)   # a hard link 3000 levels up
    return layer


def test_3000_deep_directories_write_read_back_and_are_removed_with_few_fds(tmp_path):
    assert DEPTH > sys.getrecursionlimit()
    layer, root = _deep(), tmp_path / "deep"
    before = _open_fds()
    try:
        with _few_fds():
            write_dir(layer, root)
            assert _open_fds() == before
            got = read_dir(root)
            assert _open_fds() == before
            n = sum(1 for _ in walk(root))
        assert got == {p: layer[p] for p in sorted(layer, key=lambda p: p.split("/"))}
        assert n == len(layer)
        bottom = "/".join(["d"] * DEPTH) + "/bottom"
        assert got[bottom].data == b"deep" and got[bottom].inode == got["top"].inode == 1
    finally:
        with _few_fds():
            assert remove_tree(root) is True
    assert not root.exists() and _open_fds() == before


def test_2000_sibling_directories_and_a_wide_tree_write_with_few_fds(tmp_path):
    layer = {f"d{i}": Node.dir() for i in range(2000)}
    layer.update({f"d{i}/f": Node.file(b"x") for i in range(0, 2000, 3)})
    layer.update({f"d{i}/s/t/u": Node.file(b"y") for i in range(0, 2000, 7)})
    with _few_fds():
        write_dir(layer, tmp_path / "wide")
        got = read_dir(tmp_path / "wide", with_data=False)
    assert set(got) == set(layer) | {f"d{i}/s" for i in range(0, 2000, 7)} | \
        {f"d{i}/s/t" for i in range(0, 2000, 7)}


def test_hard_links_across_far_apart_directories(tmp_path):
    """Both ends of a link deeper than the fds the writer keeps: reopened, not held."""
    a = "/".join(["a"] * (MAX_DIR_FDS * 3))
    b = "/".join(["b"] * (MAX_DIR_FDS * 3))
    layer = {f"{a}/x": Node.file(b"1", inode=5), f"{b}/y": Node.file(b"1", inode=5),
             "z": Node.file(b"1", inode=5)}
    with _few_fds():
        write_dir(layer, tmp_path / "l")
        got = read_dir(tmp_path / "l")
        assert remove_tree(tmp_path / "l")
    assert {got[p].inode for p in layer} == {1}


def test_a_failure_half_way_closes_every_fd(tmp_path):
    before = _open_fds()
    deep = "/".join(["d"] * 200)
    with pytest.raises(LabkitError):
        write_dir({f"{deep}/f": Node.file(b"x"), f"{deep}/f/g": Node.file(b"y")}, tmp_path / "l")
    assert _open_fds() == before
    assert remove_tree(tmp_path / "l") and not (tmp_path / "l").exists()


def test_walk_stopped_early_closes_its_fds(tmp_path):
    write_dir({"/".join(["d"] * 100): Node.dir()}, tmp_path / "l")
    before = _open_fds()
    with contextlib.closing(walk(tmp_path / "l")) as entries:
        next(entries)
        next(entries)
    assert _open_fds() == before


def test_remove_tree_never_follows_a_symlink_or_leaves_its_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_bytes(b"k")
    root = tmp_path / "t"
    write_dir({"a": Node.dir(0o000), "a/b": Node.dir(0o555), "a/b/f": Node.file(b"x", mode=0),
               "a/link": Node.symlink(str(outside)), "a/w": Node.whiteout()}, root)
    os.symlink(outside, root / "to-outside")
    assert remove_tree(root) is True
    assert not root.exists() and (outside / "keep").read_bytes() == b"k"
    assert remove_tree(root) is True                           # already gone
    os.symlink(outside, tmp_path / "l")
    assert remove_tree(tmp_path / "l") is True                 # a symlink: removed, not followed
    assert (outside / "keep").exists()
