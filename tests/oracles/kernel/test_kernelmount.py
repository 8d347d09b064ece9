"""KernelOverlay mounts real overlayfs from layer directories and always unmounts, by both
routes: as root, and in a user namespace (userxattr) as anyone the kernel lets mount there.

Each test that mounts runs once per route; a route this machine cannot take skips (fails
under LABKIT_REQUIRE_KERNEL, which asks for both: root can always force the user-namespace
route, so CI as root exercises it too).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from requirekit import skip_unless_required
from usernskit import python_for, run_as, unprivileged_user

from labkit.errors import LabkitError
from labkit.fs.kernel import (
    ROUTE_ROOT,
    ROUTE_USERNS,
    ROUTES,
    USER_OPAQUE_XATTR,
    KernelOverlay,
    kernel_route,
    kernel_unavailable,
    raw_entries,
)
from labkit.fs.node import OPAQUE_XATTR, Node

pytestmark = pytest.mark.kernel

BASE = {"etc": Node.dir(), "etc/hosts": Node.file(b"127.0.0.1 localhost\n"),
        "etc/passwd": Node.file(b"root:x:0:0::/root:/bin/sh\n"),
        "srv": Node.dir(), "srv/data": Node.dir(), "srv/data/a": Node.file(b"a" * 100)}
APP = {"etc": Node.dir(), "etc/motd": Node.file(b"hi\n"), "srv": Node.dir(),
       "srv/data": Node.whiteout()}


def _mount_points(pid: int | str = "self") -> list[str]:
    return [line.split()[4] for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()]


def _mounted(ovl: KernelOverlay) -> bool:
    """Mounted where the route says: in this process's namespace (root), or only in the
    helper's (user namespace), never in ours."""
    if ovl.route == ROUTE_ROOT:
        return str(ovl.merged) in _mount_points()
    inside = str(ovl.base / "merged")
    return inside in _mount_points(ovl.helper_pid) and inside not in _mount_points()


def test_merged_view_comes_from_the_kernel(route):
    with KernelOverlay([APP, BASE], {}, route=route) as ovl:
        assert ovl.route == route and _mounted(ovl)
        assert "lowerdir=" in ovl.options and "index=off" in ovl.options
        assert ("userxattr" in ovl.options) == (route == ROUTE_USERNS)
        assert ovl.listdir("/etc") == ["hosts", "motd", "passwd"]
        assert ovl.listdir("srv") == []                     # the whiteout hides srv/data
        tree = ovl.tree()
        assert tree["etc/motd"].data == b"hi\n" and "srv/data" not in tree
        assert route in ovl.route_line


def test_writes_land_in_the_upper_as_the_kernel_writes_them(route):
    with KernelOverlay([APP, BASE], {}, route=route) as ovl:
        with open(ovl.path("etc/hosts"), "ab") as f:
            f.write(b"10.0.0.1 db\n")
        os.unlink(ovl.path("/etc/passwd"))
        upper = ovl.upper()
        assert upper["etc/hosts"].data == b"127.0.0.1 localhost\n10.0.0.1 db\n"
        assert upper["etc/passwd"].kind == "whiteout"
        kinds = {e.path: e.kind for e in ovl.upper_entries()}
        assert kinds["etc/passwd"] == "char 0/0"
        assert kinds["etc/hosts"] == "file"
        # the upper dir is a plain directory, visible from here by either route: the kernel
        # made a real char device 0/0
        s = os.lstat(ovl.upper_dir / "etc" / "passwd")
        assert (os.major(s.st_rdev), os.minor(s.st_rdev)) == (0, 0)


def test_mkdir_over_a_deleted_dir_is_opaque_on_disk(route):
    on_disk = OPAQUE_XATTR if route == ROUTE_ROOT else USER_OPAQUE_XATTR
    with KernelOverlay([BASE], {}, route=route) as ovl:
        shutil.rmtree(ovl.path("srv/data"))
        os.mkdir(ovl.path("srv/data"))
        assert os.getxattr(ovl.upper_dir / "srv" / "data", on_disk) == b"y"   # the kernel's mark
        entries = {e.path: e for e in ovl.upper_entries()}
        assert entries["srv/data"].kind == "dir" and entries["srv/data"].opaque
        assert entries["srv/data"].xattr == on_disk and f"xattr {on_disk}=y" in str(entries["srv/data"])
        assert ovl.upper()["srv/data"].opaque                 # labkit's mark, whichever route
        assert ovl.opaque_xattr == on_disk


def test_an_opaque_dir_written_by_labkit_hides_the_layers_below(route):
    """The translation the other way: labkit's trusted.overlay.opaque, written for the route,
    is honoured by the kernel."""
    top = {"srv": Node.dir(), "srv/data": Node.dir().with_opaque(), "srv/data/new": Node.file(b"n")}
    with KernelOverlay([top, BASE], {"etc": Node.dir().with_opaque()}, route=route) as ovl:
        assert ovl.listdir("srv/data") == ["new"]
        assert ovl.listdir("etc") == []
        assert ovl.upper()["etc"].opaque


def test_always_unmounts_and_cleans_up_even_after_an_error(route):
    seen = {}
    with pytest.raises(ZeroDivisionError):
        with KernelOverlay([BASE], {}, route=route) as ovl:
            seen["merged"], seen["base"], seen["pid"] = ovl.merged, ovl.base, ovl.helper_pid
            1 / 0
    assert str(seen["merged"]) not in _mount_points()
    assert not seen["base"].exists()
    if route == ROUTE_USERNS:      # the helper (our child, waited for), its namespace and mount are gone
        assert not Path(f"/proc/{seen['pid']}").exists()


def test_read_only_without_upper(route):
    with KernelOverlay([BASE], route=route) as ovl:
        with pytest.raises(OSError) as exc:
            (ovl.merged / "new").write_text("x")
        assert exc.value.errno == 30                          # EROFS
        assert ovl.upper() == {} and ovl.upper_entries() == []
        assert ovl.upper_dir is None


def test_raw_entries_reads_device_numbers(kernel_overlay, tmp_path):
    os.mknod(tmp_path / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (tmp_path / "d").mkdir()
    os.setxattr(tmp_path / "d", "trusted.overlay.opaque", b"y")
    (tmp_path / "f").write_bytes(b"12345")
    got = {e.path: (e.kind, e.size, e.opaque) for e in raw_entries(tmp_path)}
    assert got == {"d": ("dir", 0, True), "f": ("file", 5, False), "gone": ("char 0/0", 0, False)}


def test_raw_entries_reads_the_user_namespace_mark(routes_here, tmp_path):
    """What the user-namespace route needs of this machine without root: a whiteout device
    (mknod c 0 0 is allowed to anyone since Linux 5.8) and user.* xattrs on the temp dir."""
    if routes_here[ROUTE_USERNS]:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", routes_here[ROUTE_USERNS])
    os.mknod(tmp_path / "gone", 0o600 | 0o020000, os.makedev(0, 0))
    (tmp_path / "d").mkdir()
    os.setxattr(tmp_path / "d", USER_OPAQUE_XATTR, b"y")
    got = {e.path: (e.kind, e.opaque, e.xattr) for e in raw_entries(tmp_path, opaque_xattr=USER_OPAQUE_XATTR)}
    assert got == {"d": ("dir", True, USER_OPAQUE_XATTR), "gone": ("char 0/0", False, USER_OPAQUE_XATTR)}
    assert not raw_entries(tmp_path)[0].opaque            # not the trusted.* mark


def test_refuses_no_lowers_unknown_routes_and_use_outside_with(monkeypatch):
    with pytest.raises(LabkitError):
        KernelOverlay([])
    with pytest.raises(LabkitError):
        KernelOverlay([BASE]).listdir("/")
    with pytest.raises(LabkitError) as exc:
        KernelOverlay([BASE], route="sudo")
    assert exc.value.fix and "user namespace" in exc.value.fix
    monkeypatch.setenv("LABKIT_KERNEL_ROUTE", "rootless")
    with pytest.raises(LabkitError):
        kernel_unavailable()


def _mount_works(route: str, tmp: Path) -> bool:
    """Mount an overlay the plain way, without labkit: ``mount -t overlay`` as root, or the
    same inside ``unshare -Urm`` with ``userxattr`` (what an unprivileged user can do)."""
    b = tmp / ("root" if route == ROUTE_ROOT else "userns")
    for d in ("l", "u", "w", "m"):
        (b / d).mkdir(parents=True)
    opts = f"lowerdir={b/'l'},upperdir={b/'u'},workdir={b/'w'}"
    if route == ROUTE_ROOT:
        if os.geteuid() != 0:
            return False
        ok = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(b / "m")],
                            capture_output=True, check=False).returncode == 0
        if ok:
            subprocess.run(["umount", str(b / "m")], check=True)
        return ok
    script = 'mount -t overlay overlay -o "$1" "$2" && touch "$2/x"'
    return subprocess.run(["unshare", "-Urm", "sh", "-c", script, "sh", f"{opts},userxattr", str(b / "m")],
                          capture_output=True, check=False).returncode == 0


def test_each_route_is_offered_exactly_when_the_kernel_mounts_that_way(routes_here, tmp_path):
    """labkit's probe against the kernel itself, and the route chosen from the two."""
    works = {r: _mount_works(r, tmp_path) for r in ROUTES}
    assert {r: routes_here[r] is None for r in ROUTES} == works
    expect = ROUTE_ROOT if works[ROUTE_ROOT] else ROUTE_USERNS if works[ROUTE_USERNS] else None
    assert kernel_route() == expect
    why = kernel_unavailable()
    assert (why is None) == (expect is not None)
    if expect is None:
        assert why and "root" in why and "user-namespace route" in why
    if os.geteuid() != 0:
        assert routes_here[ROUTE_ROOT] == "mounting overlayfs needs root"


def test_the_environment_chooses_the_route(route, monkeypatch):
    monkeypatch.setenv("LABKIT_KERNEL_ROUTE", "userns" if route == ROUTE_USERNS else "root")
    assert kernel_route() == route
    with KernelOverlay([BASE]) as ovl:
        assert ovl.route == route


def test_without_root_the_root_route_refuses_with_a_fix(tmp_path):
    """By an unprivileged user: this run when it is one, else nobody through runuser."""
    code = ("from labkit.errors import EngineUnavailable\nfrom labkit.fs.kernel import KernelOverlay\n"
            "from labkit.fs.node import Node\n"
            "try:\n    KernelOverlay([{'f': Node.file(b'x')}], {}, route='root').__enter__()\n"
            "except EngineUnavailable as exc:\n    print('refused:', exc)\n")
    if os.geteuid() == 0:
        user = unprivileged_user()
        python = python_for(user)
        if python is None:
            skip_unless_required("LABKIT_REQUIRE_KERNEL", f"no Python 3.10+ that {user} may run")
        tmp_path.chmod(0o1777)
        r = run_as(user, python, code, tmpdir=tmp_path)
    else:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("refused: ")
    assert "needs root" in r.stdout and "labkit.Mount" in r.stdout
