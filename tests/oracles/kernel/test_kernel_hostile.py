"""KernelOverlay against hostile layers (issue 13), by both routes: the mount is nodev,nosuid;
nothing privileged is written under it (no device node but whiteouts, no set-id bit, no xattr
but overlay's own); a device node makes the kernel unavailable (a lesson falls back to the
simulator) and a hostile value is an ``UnsafeEntry``, before anything is written; a
1,500-deep layer mounts, copies up, reads back and is removed; the temporary directories are gone on
every path out."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from requirekit import skip_unless_required

from labkit.errors import KernelUnavailable, LabkitError, LayerError, UnsafeEntry
from labkit.fs import kernel
from labkit.fs.kernel import MOUNT_FLAGS, ROUTE_ROOT, KernelOverlay
from labkit.fs.node import Node
from labkit.fs.realfs import remove_tree
from labkit.lessons.lesson02 import side_by_side

pytestmark = pytest.mark.kernel

CAP = ("security.capability", b"\x01\x00\x00\x02\x00\x20\x00\x00" + b"\0" * 12)
HOSTILE = {
    "bin": Node.dir(0o2755), "bin/su": Node.file(b"\x7fELF", mode=0o4755, xattrs=(CAP,)),
    "etc": Node.dir(xattrs=(("user.note", b"x"), ("trusted.overlay.redirect", b"/bin"))),
    "etc/pipe": Node("fifo", mode=0o6644), "etc/gone": Node.whiteout(),
    "opt": Node.dir().with_opaque(), "opt/f": Node.file(b"f"),
}


@pytest.fixture
def own_tmp(tmp_path, monkeypatch) -> Path:
    """A temp directory of this test's own (this process and the helper), to see that
    nothing is left in it."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setenv("TMPDIR", str(d))
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _mount_options(ovl: KernelOverlay) -> set[str]:
    """The mount's own options as the kernel shows them in mountinfo (the helper's, for a
    user-namespace mount)."""
    pid, target = ("self", ovl.merged) if ovl.route == ROUTE_ROOT else \
        (ovl.helper_pid, ovl.base / "merged")
    for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == str(target):
            return set(fields[5].split(","))
    raise AssertionError(f"{target} is not mounted")


def _assert_nothing_privileged(base: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(base):
        if Path(dirpath) == base:
            dirnames.remove("merged")     # the mount (root route): the kernel's view
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            s = os.lstat(full)
            assert not stat.S_ISBLK(s.st_mode), full
            assert not stat.S_ISCHR(s.st_mode) or s.st_rdev == os.makedev(0, 0), full
            assert not s.st_mode & (stat.S_ISUID | stat.S_ISGID), (full, oct(s.st_mode))
            names = os.listxattr(full, follow_symlinks=False)
            assert all(n.startswith(("trusted.overlay.", "user.overlay.")) for n in names), (full, names)


def test_the_mount_is_nodev_nosuid_and_nothing_privileged_is_written(route, own_tmp):
    with KernelOverlay([HOSTILE], {"up": Node.file(b"x", mode=0o6755)}, route=route) as ovl:
        assert {"nodev", "nosuid"} <= _mount_options(ovl)
        assert MOUNT_FLAGS in ovl.options
        s = os.lstat(ovl.path("bin/su"))
        assert stat.S_IMODE(s.st_mode) == 0o755 and os.listxattr(ovl.path("bin/su")) == []
        assert stat.S_IMODE(os.lstat(ovl.path("up")).st_mode) == 0o755
        assert ovl.listdir("opt") == ["f"] and not os.path.lexists(ovl.path("etc/gone"))
        _assert_nothing_privileged(ovl.base)
        said = {(d.path, d.what.split(":")[0]) for d in ovl.dropped}
        assert {("bin/su", "set-user-ID/set-group-ID bits"), ("bin/su", "xattr security.capability"),
                ("up", "set-user-ID/set-group-ID bits"), ("etc", "xattr user.note"),
                ("etc", "xattr trusted.overlay.redirect")} <= said
        tree = ovl.tree()
        assert tree["bin/su"].mode == 0o755 and tree["bin/su"].xattrs == ()
    assert list(own_tmp.iterdir()) == []


def test_a_device_node_makes_the_kernel_unavailable_before_anything_is_made(route, own_tmp):
    layer = {"dev": Node.dir(), "dev/mem": Node("char", mode=0o666, rdev=(1, 1))}
    with pytest.raises(KernelUnavailable) as exc:
        with KernelOverlay([{"a": Node.file(b"a")}], layer, route=route):
            pass
    assert "/dev/mem is a char device" in exc.value.why and "labkit.Mount" in exc.value.fix
    assert list(own_tmp.iterdir()) == []


def test_a_lesson_falls_back_to_the_simulator_for_a_device_node(route, monkeypatch):
    monkeypatch.setenv("LABKIT_KERNEL_ROUTE", "userns" if route != ROUTE_ROOT else "root")
    lower = {"dev": Node.dir(), "dev/null": Node("char", mode=0o666, rdev=(1, 3)),
             "etc": Node.dir(), "etc/hosts": Node.file(b"h\n")}
    r = side_by_side([lower], {}, [("append", "etc/hosts", b"x\n")])
    assert r.agree is None and "/dev/null is a char device" in r.why_no_kernel
    assert r.sim_tree["dev/null"].kind == "char"


@pytest.mark.parametrize("layer, entry", [
    ({"a\0b": Node.file(b"")}, "a\0b"),
    ({"n" * 256: Node.file(b"")}, "n" * 256),
    ({"f": Node.file(b"", uid=2**40)}, "f"),
    ({"f": Node.file(b"", mtime=10**30)}, "f"),
    ({"f": Node.file(b"", xattrs=(("user.x", "not bytes"),))}, "f"),
], ids=["nul", "long-name", "uid", "mtime", "xattr"])
def test_hostile_values_are_refused_alike_by_both_routes(route, own_tmp, layer, entry):
    with pytest.raises(UnsafeEntry) as exc:
        with KernelOverlay([{"ok": Node.file(b"ok")}, layer], {}, route=route):
            pass
    assert exc.value.entry == entry
    assert list(own_tmp.iterdir()) == []


def test_a_layer_that_fails_half_written_leaves_nothing(route, own_tmp):
    with pytest.raises(LabkitError):
        with KernelOverlay([{"a": Node.file(b"x"), "a/b": Node.file(b"y")}], {}, route=route):
            pass
    assert list(own_tmp.iterdir()) == []


def test_a_root_route_that_cannot_write_falls_through_and_leaves_nothing(routes_here, own_tmp,
                                                                       monkeypatch):
    """The machine's fault (here: a write_dir that fails as on a file system without
    whiteouts), not the layer's: the reason joins KernelUnavailable's, the lesson falls back."""
    if routes_here[ROUTE_ROOT]:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", routes_here[ROUTE_ROOT])

    def failing(layer, root, **kw):
        root.mkdir()
        raise LayerError("'gone': cannot write it: Operation not permitted")
    monkeypatch.setattr(kernel, "write_dir", failing)
    with pytest.raises(KernelUnavailable) as exc:
        with KernelOverlay([{"a": Node.file(b"a")}], {}, route=ROUTE_ROOT):
            pass
    assert exc.value.why == "cannot write the layers: 'gone': cannot write it: Operation not permitted"
    assert list(own_tmp.iterdir()) == []


DEPTH = 1500
"""Past where reading back used to recurse out (1,100) and past Python's recursion limit;
test_realfs_hostile.py writes and reads 3,000 levels (every level here costs the kernel a
mkdir, a copy-up and two rmdirs, about 10 ms on a slow disk)."""


def test_a_deep_layer_mounts_copies_up_reads_back_and_is_removed(route, own_tmp):
    assert DEPTH > sys.getrecursionlimit()
    deep = "/".join(["d"] * DEPTH)
    layer = {deep: Node.dir(), f"{deep}/f": Node.file(b"bottom")}
    with pytest.raises(ZeroDivisionError):
        with KernelOverlay([layer], {}, route=route) as ovl:
            base = ovl.base
            tree = ovl.tree()
            assert tree[f"{deep}/f"].data == b"bottom" and len(tree) == DEPTH + 1
            fd = os.open(ovl.merged, os.O_RDONLY | os.O_DIRECTORY)
            try:       # one name at a time: the path is longer than PATH_MAX
                for _ in range(DEPTH):
                    fd, old = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd), fd
                    os.close(old)
                new = os.open("new", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
                os.write(new, b"copied up")
                os.close(new)
            finally:
                os.close(fd)
            upper = ovl.upper()                   # the kernel copied up every directory
            assert upper[f"{deep}/new"].data == b"copied up" and len(upper) == DEPTH + 1
            assert len(ovl.upper_entries()) == DEPTH + 1
            1 / 0
    assert not base.exists() and list(own_tmp.iterdir()) == []


def test_remove_tree_stays_on_its_file_system(kernel_overlay, tmp_path):
    """A mount point inside the tree is left, with what is mounted there untouched."""
    root = tmp_path / "t"
    (root / "a/m").mkdir(parents=True)
    (root / "a/f").write_bytes(b"f")
    subprocess.run(["mount", "-t", "tmpfs", "labkit-test", str(root / "a/m")], check=True)
    try:
        (root / "a/m/keep").write_bytes(b"k")
        assert remove_tree(root) is False                 # the mount point stays ...
        assert (root / "a/m/keep").read_bytes() == b"k"   # ... with what is mounted there
        assert not (root / "a/f").exists()
    finally:
        subprocess.run(["umount", str(root / "a/m")], check=True)
    assert remove_tree(root) is True and not root.exists()
