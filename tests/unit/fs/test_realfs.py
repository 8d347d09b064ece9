"""realfs: layer directories written to and read from a real disk (needs root)."""
from __future__ import annotations

import os
import stat

import pytest
from requirekit import skip_unless_required

from labkit.errors import LabkitError, UnsafeEntry
from labkit.fs.node import OPAQUE_XATTR, Node
from labkit.fs.realfs import TRUSTED, Dropped, read_dir, write_dir


@pytest.fixture(autouse=True)
def _as_root():
    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "device nodes, owners and trusted.* xattrs "
                             "need root")


LAYER = {
    "etc": Node.dir(0o750, uid=3, gid=4, mtime=1000),
    "etc/passwd": Node.file(b"root:x:0:0\n", mode=0o4755, uid=7, gid=8, mtime=2000, inode=1),
    "etc/passwd-": Node.file(b"root:x:0:0\n", mode=0o4755, uid=7, gid=8, mtime=2000, inode=1),
    "etc/motd": Node.whiteout(),
    "var": Node.dir(0o555, mtime=3000).with_opaque(),
    "var/link": Node.symlink("/etc/passwd", uid=5, mtime=4000),
    "var/fifo": Node("fifo", mode=0o640, mtime=5000),
}


def test_write_dir_makes_the_kernel_overlay_form(tmp_path):
    root = tmp_path / "layer"
    dropped = write_dir(LAYER, root)
    s = os.lstat(root / "etc/motd")
    assert stat.S_ISCHR(s.st_mode) and s.st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "var", OPAQUE_XATTR) == b"y"
    p = os.lstat(root / "etc/passwd")
    # set-user-ID is never written from a layer (test_realfs_hostile.py): 04755 lands as 0755
    assert (stat.S_IMODE(p.st_mode), p.st_uid, p.st_gid, p.st_mtime) == (0o755, 7, 8, 2000)
    assert [d.path for d in dropped] == ["etc/passwd", "etc/passwd-"]
    assert all(isinstance(d, Dropped) and "set-user-ID" in d.what for d in dropped)
    assert p.st_ino == os.lstat(root / "etc/passwd-").st_ino and p.st_nlink == 2
    assert os.readlink(root / "var/link") == "/etc/passwd"
    assert os.lstat(root / "var/link").st_uid == 5
    d = os.lstat(root / "etc")
    assert (stat.S_IMODE(d.st_mode), d.st_uid, d.st_mtime) == (0o750, 3, 1000)
    assert stat.S_IMODE(os.lstat(root / "var").st_mode) == 0o555
    assert stat.S_ISFIFO(os.lstat(root / "var/fifo").st_mode)


def test_read_dir_is_the_inverse_of_write_dir(tmp_path):
    write_dir(LAYER, tmp_path / "l", trust=TRUSTED)     # set-id bits too: labkit's own layer
    assert read_dir(tmp_path / "l") == dict(sorted(LAYER.items(), key=lambda kv: kv[0].split("/")))


def test_read_dir_without_data_keeps_size_and_digest(tmp_path):
    write_dir({"f": Node.file(b"abc")}, tmp_path / "l")
    node = read_dir(tmp_path / "l", with_data=False)["f"]
    assert node.data is None and node.size == 3 and node.sha256 == Node.file(b"abc").sha256


def test_file_without_content_becomes_a_file_of_its_size(tmp_path):
    write_dir({"big": Node("file", size=1 << 20)}, tmp_path / "l")
    assert os.path.getsize(tmp_path / "l/big") == 1 << 20


def test_implied_parents_are_made_as_0755_dirs(tmp_path):
    write_dir({"a/b/c": Node.file(b"x")}, tmp_path / "l")
    got = read_dir(tmp_path / "l")
    assert got["a"].kind == got["a/b"].kind == "dir" and got["a"].mode == 0o755


@pytest.mark.parametrize("bad", ["../x", "/etc/x", "a/../../x", "a/./b", "a//b", ""])
def test_paths_that_are_not_clean_are_refused(tmp_path, bad):
    with pytest.raises(UnsafeEntry):
        write_dir({bad: Node.file(b"x")}, tmp_path / "l")
    assert not (tmp_path / "x").exists()


def test_never_follows_a_symlink_already_in_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "l"
    root.mkdir()
    os.symlink(outside, root / "a")
    with pytest.raises(LabkitError):
        write_dir({"a": Node.dir(), "a/evil": Node.file(b"x")}, root)
    with pytest.raises(LabkitError):
        write_dir({"a": Node.file(b"x")}, root)
    assert list(outside.iterdir()) == []


def test_read_dir_keeps_only_the_opaque_mark_of_overlay_xattrs(tmp_path):
    root = tmp_path / "l"
    (root / "d").mkdir(parents=True)
    os.setxattr(root / "d", OPAQUE_XATTR, b"y")
    os.setxattr(root / "d", "trusted.overlay.origin", b"\0\1")
    os.setxattr(root / "d", "user.note", b"kept")
    assert read_dir(root)["d"].xattrs == ((OPAQUE_XATTR, b"y"), ("user.note", b"kept"))
