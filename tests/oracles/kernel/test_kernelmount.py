"""KernelOverlay mounts real overlayfs from layer directories and always unmounts."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from labkit.errors import LabkitError
from labkit.fs.node import Node
from labkit.fs.kernel import KernelOverlay, kernel_unavailable, raw_entries

BASE = {"etc": Node.dir(), "etc/hosts": Node.file(b"127.0.0.1 localhost\n"),
        "etc/passwd": Node.file(b"root:x:0:0::/root:/bin/sh\n"),
        "srv": Node.dir(), "srv/data": Node.dir(), "srv/data/a": Node.file(b"a" * 100)}
APP = {"etc": Node.dir(), "etc/motd": Node.file(b"hi\n"), "srv": Node.dir(),
       "srv/data": Node.whiteout()}


def _mounted(path: Path) -> bool:
    return any(line.split()[1] == str(path) for line in Path("/proc/mounts").read_text().splitlines())


def test_merged_view_comes_from_the_kernel(kernel_overlay):
    with KernelOverlay([APP, BASE], {}) as ovl:
        assert _mounted(ovl.merged)
        assert "lowerdir=" in ovl.options and "index=off" in ovl.options
        assert ovl.listdir("/etc") == ["hosts", "motd", "passwd"]
        assert ovl.listdir("srv") == []                     # the whiteout hides srv/data
        tree = ovl.tree()
        assert tree["etc/motd"].data == b"hi\n" and "srv/data" not in tree


def test_writes_land_in_the_upper_as_the_kernel_writes_them(kernel_overlay):
    with KernelOverlay([APP, BASE], {}) as ovl:
        with open(ovl.path("etc/hosts"), "ab") as f:
            f.write(b"10.0.0.1 db\n")
        os.unlink(ovl.path("/etc/passwd"))
        upper = ovl.upper()
        assert upper["etc/hosts"].data == b"127.0.0.1 localhost\n10.0.0.1 db\n"
        assert upper["etc/passwd"].kind == "whiteout"
        kinds = {e.path: e.kind for e in ovl.upper_entries()}
        assert kinds["etc/passwd"] == "char 0/0"
        assert kinds["etc/hosts"] == "file"


def test_mkdir_over_a_deleted_dir_is_opaque_on_disk(kernel_overlay):
    with KernelOverlay([BASE], {}) as ovl:
        import shutil
        shutil.rmtree(ovl.path("srv/data"))
        os.mkdir(ovl.path("srv/data"))
        entries = {e.path: e for e in ovl.upper_entries()}
        assert entries["srv/data"].kind == "dir" and entries["srv/data"].opaque
        assert ovl.upper()["srv/data"].opaque


def test_always_unmounts_and_cleans_up_even_after_an_error(kernel_overlay):
    seen = {}
    with pytest.raises(ZeroDivisionError):
        with KernelOverlay([BASE], {}) as ovl:
            seen["merged"], seen["base"] = ovl.merged, ovl.base
            1 / 0
    assert not _mounted(seen["merged"])
    assert not seen["base"].exists()


def test_read_only_without_upper(kernel_overlay):
    with KernelOverlay([BASE]) as ovl:
        with pytest.raises(OSError) as exc:
            (ovl.merged / "new").write_text("x")
        assert exc.value.errno == 30                          # EROFS
        assert ovl.upper() == {} and ovl.upper_entries() == []


def test_raw_entries_reads_device_numbers(kernel_overlay, tmp_path):
    os.mknod(tmp_path / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (tmp_path / "d").mkdir()
    os.setxattr(tmp_path / "d", "trusted.overlay.opaque", b"y")
    (tmp_path / "f").write_bytes(b"12345")
    got = {e.path: (e.kind, e.size, e.opaque) for e in raw_entries(tmp_path)}
    assert got == {"d": ("dir", 0, True), "f": ("file", 5, False), "gone": ("char 0/0", 0, False)}


def test_refuses_no_lowers_and_use_outside_with():
    with pytest.raises(LabkitError):
        KernelOverlay([])
    with pytest.raises(LabkitError):
        KernelOverlay([BASE]).listdir("/")


def test_kernel_unavailable_names_a_reason_or_none():
    why = kernel_unavailable()
    if os.geteuid() != 0:
        assert why and "root" in why
    else:
        assert why is None or isinstance(why, str)


def test_without_root_it_refuses_with_a_fix(monkeypatch):
    from labkit.errors import EngineUnavailable
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert kernel_unavailable() == "mounting overlayfs needs root"
    with pytest.raises(EngineUnavailable) as exc:
        with KernelOverlay([BASE], {}):
            pass
    assert "labkit.Mount" in str(exc.value)
