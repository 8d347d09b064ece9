"""The user-namespace route against the kernel's root route, and as a real unprivileged user.

The root route (``mount -t overlay`` as root, Docker's overlay2 options) is the oracle: the
same layers and the same calls through a user-namespace mount (``userxattr``) must give the
same errno for every call, the same merged view and the same upper directory on disk (only
the opaque xattr's name differs: ``user.overlay.opaque``). Then the lesson comparisons run
through that route, the helper's clean-up is checked on every path out, and (when this run
is root) the whole scenario runs again as an unprivileged user through ``runuser``.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from requirekit import skip_unless_required
from usernskit import REPO, as_json, python_for, run_as, run_scenario, unprivileged_user

from labkit.errors import EngineUnavailable, UnsafeEntry
from labkit.fs.kernel import (
    ROUTE_ROOT,
    ROUTE_USERNS,
    USER_OPAQUE_XATTR,
    KernelOverlay,
)
from labkit.fs.node import OPAQUE_XATTR, Node
from labkit.lessons.lesson02 import side_by_side
from labkit.lessons.lesson03 import measure_copy_up

pytestmark = pytest.mark.kernel


@pytest.fixture
def userns(routes_here) -> str:
    if routes_here[ROUTE_USERNS]:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "the user-namespace route cannot mount "
                             f"overlayfs here: {routes_here[ROUTE_USERNS]}")
    return ROUTE_USERNS


@pytest.fixture
def both(routes_here, userns) -> None:
    if routes_here[ROUTE_ROOT]:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "the root route (the oracle) cannot mount "
                             f"overlayfs here: {routes_here[ROUTE_ROOT]}")


@pytest.fixture(scope="module")
def root_seen(routes_here):
    """The scenario on the root route: what the kernel does as Docker mounts it."""
    return None if routes_here[ROUTE_ROOT] else run_scenario(ROUTE_ROOT)


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _leftovers() -> list[str]:
    return sorted(p.name for p in Path(tempfile.gettempdir()).iterdir()
                  if p.name.startswith(("labkit-kovl-", "labkit-kprobe-")))


def test_user_namespace_route_matches_the_root_route(both, root_seen):
    seen = run_scenario(ROUTE_USERNS)
    assert seen.route == ROUTE_USERNS and root_seen.route == ROUTE_ROOT
    assert seen.comparable() == root_seen.comparable()
    assert {"EXDEV", "ENOTEMPTY", "ENOENT", "ok"} <= set(root_seen.outcomes)   # the rules ran
    names = {e[4] for e in seen.entries if e[3]}
    assert names == {USER_OPAQUE_XATTR} and {e[4] for e in root_seen.entries if e[3]} == {OPAQUE_XATTR}
    assert seen.lost_owners == [] == root_seen.lost_owners


def test_owners_the_namespace_cannot_hold_are_written_as_root_and_listed(userns, routes_here):
    layer = {"d": Node.dir(0o750, uid=7, gid=9), "d/f": Node.file(b"x", uid=1000, gid=50),
             "mine": Node.file(b"y")}
    with KernelOverlay([layer], {}, route=userns) as ovl:
        assert ovl.lost_owners == ("d", "d/f")
        outside = os.stat(ovl.base / "lower0" / "d" / "f")        # the kernel, from out here
        assert (outside.st_uid, outside.st_gid) == (os.geteuid(), os.getegid())
        tree = ovl.tree()
        assert (tree["d/f"].uid, tree["d/f"].gid, tree["d"].mode) == (0, 0, 0o750)
    if not routes_here[ROUTE_ROOT]:
        with KernelOverlay([layer], {}, route=ROUTE_ROOT) as ovl:
            assert ovl.lost_owners == () and ovl.tree()["d/f"].uid == 1000


def test_lesson_side_by_side_agrees_through_the_user_namespace(userns, monkeypatch):
    """Lesson 02's comparison of the simulator with the kernel, on the kernel a non-root
    learner gets."""
    monkeypatch.setenv("LABKIT_KERNEL_ROUTE", "userns")
    base = {"srv": Node.dir(), "srv/data": Node.dir(), "srv/data/a": Node.file(b"a"),
            "etc": Node.dir(), "etc/hosts": Node.file(b"h\n")}
    r = side_by_side([base], {}, [("rm_rf", "srv/data"), ("mkdir", "srv/data"),
                                  ("append", "etc/hosts", b"x\n"), ("rmdir", "etc")])
    assert r.agree is True, r.differences()
    assert r.kernel_outcomes == ("ok", "ok", "ok", "ENOTEMPTY")
    assert r.kernel_upper["srv/data"].opaque
    disk = r.upper_on_disk()
    assert f"xattr {USER_OPAQUE_XATTR}=y" in disk and OPAQUE_XATTR not in disk


def test_lesson_copy_up_cost_is_measured_on_the_kernel_through_the_user_namespace(userns, monkeypatch):
    monkeypatch.setenv("LABKIT_KERNEL_ROUTE", "userns")
    m = measure_copy_up([4096, 4 << 20], repeats=1)
    assert m.unit == "seconds" and m.source == "kernel overlayfs"


def test_the_mount_lives_only_in_the_helpers_namespace(userns):
    with KernelOverlay([{"a": Node.file(b"1")}], {}, route=userns) as ovl:
        inside = str(ovl.base / "merged")
        helper = [line.split() for line in Path(f"/proc/{ovl.helper_pid}/mountinfo").read_text().splitlines()]
        ours = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        mine = [f for f in helper if f[4] == inside]
        assert len(mine) == 1 and "userxattr" in " ".join(mine[0]) and inside not in ours
        assert (ovl.merged / "a").read_bytes() == b"1"          # reached through /proc/<helper>/root
        assert os.readlink(f"/proc/{ovl.helper_pid}/ns/user") != os.readlink("/proc/self/ns/user")
    assert _leftovers() == []


def test_a_killed_helper_is_an_error_and_leaves_nothing(userns):
    with pytest.raises(EngineUnavailable) as exc:
        with KernelOverlay([{"a": Node.file(b"1")}], {}, route=userns) as ovl:
            base = ovl.base
            os.kill(ovl.helper_pid, signal.SIGKILL)
            ovl.tree()
    assert "helper" in str(exc.value) and exc.value.fix
    assert not base.exists() and _leftovers() == []


def test_the_helper_cleans_up_when_its_parent_dies_without_closing(userns):
    """A process killed inside its `with` block (a Jupyter kernel restarted, say): the helper
    reads end of input, unmounts, removes its directories and exits."""
    code = ("import json, os, signal, sys; sys.path.insert(0, sys.argv[1]);"
            "from labkit.fs.kernel import KernelOverlay; from labkit.fs.node import Node;"
            "ovl = KernelOverlay([{'a': Node.file(b'1')}], {}, route='userns').__enter__();"
            "print(json.dumps([str(ovl.base), ovl.helper_pid]), flush=True);"
            "os.kill(os.getpid(), signal.SIGKILL)")
    r = subprocess.run([sys.executable, "-c", code, str(REPO)], capture_output=True, text=True,
                       timeout=60, check=False)
    assert r.returncode == -signal.SIGKILL, r.stderr
    base, pid = json.loads(r.stdout)
    deadline = time.monotonic() + 30
    while (Path(base).exists() or _alive(pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(base).exists() and not _alive(pid)


def test_errors_in_the_helper_keep_their_class_and_leave_nothing(userns):
    with pytest.raises(UnsafeEntry) as exc:
        with KernelOverlay([{"../escape": Node.file(b"x")}], {}, route=userns):
            pass
    assert exc.value.entry == "../escape" and exc.value.fix
    with pytest.raises(EngineUnavailable) as exc2:
        with KernelOverlay([{"dev": Node("char", rdev=(1, 3))}], {}, route=userns):
            pass
    assert "device" in str(exc2.value) and exc2.value.fix
    with pytest.raises(FileNotFoundError):
        with KernelOverlay([{"a": Node.file(b"1")}], {}, route=userns) as ovl:
            ovl.listdir("missing")
    assert _leftovers() == []


def test_as_an_unprivileged_user_through_runuser(both, root_seen, tmp_path):
    """The scenario run by a real unprivileged user (``LABKIT_UNPRIVILEGED_USER``, default
    nobody): the default route is the user namespace, the root route refuses with a fix, the
    kernel's answers equal the root route's, and nothing is left in its TMPDIR."""
    user = unprivileged_user()          # `both` has made sure this run is root
    python = python_for(user)
    if python is None:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", f"no Python 3.10+ that {user} may run")
    tmp = tmp_path / "user-tmp"
    tmp.mkdir()
    tmp.chmod(0o1777)
    r = run_as(user, python, "import usernskit; usernskit.unprivileged_main()", tmpdir=tmp)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.splitlines()[-1])
    assert out["euid"] != 0
    if out["route"] is None:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", f"{user} cannot mount overlayfs in a user "
                             f"namespace: {out['unavailable']}")
    assert out["route"] == ROUTE_USERNS and out["unavailable"] is None
    assert "needs root" in out["root_refusal"] and "labkit.Mount" in out["root_refusal"]
    seen = out["seen"]
    assert seen["route"] == ROUTE_USERNS
    assert {k: seen[k] for k in ("outcomes", "tree", "upper")} == \
        as_json({k: root_seen.comparable()[k] for k in ("outcomes", "tree", "upper")})
    assert [e[:4] for e in seen["entries"]] == as_json(root_seen.comparable()["entries"])
    assert out["owned"]["lost_owners"] == ["f"] and out["owned"]["tree"]["f"][2:4] == [0, 0]
    assert list(tmp.iterdir()) == []
