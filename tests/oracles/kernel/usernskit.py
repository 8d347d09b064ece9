"""Shared by the kernel-overlay route tests: one scenario run through ``KernelOverlay``, the
facts that must agree between routes, and running Python as an unprivileged user.

``run_scenario(route)`` mounts ``LOWERS`` under ``UPPER``, runs ``OPS`` from this process
through ``ovl.path()`` (as lessons do) and returns what the kernel showed, as plain JSON
values: the errno name of every call, the merged view, the upper directory and its entries
on disk. The root route's answer is the oracle for the user-namespace route's.

``unprivileged_main()`` is what an unprivileged user runs (through ``run_as``): it prints the
same facts as JSON, for the root test process to compare with the root route's.
"""
from __future__ import annotations

import errno
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from labkit.errors import EngineUnavailable
from labkit.fs.kernel import KernelOverlay, kernel_route, kernel_unavailable
from labkit.fs.node import Node

REPO = Path(__file__).resolve().parents[3]
KIT_DIR = Path(__file__).resolve().parent
USER_ENV = "LABKIT_UNPRIVILEGED_USER"
"""Who the runuser tests run as (default ``nobody``: every Linux has it)."""

OLD = 1_000_000
LOWER = {
    "etc": Node.dir(mtime=OLD), "etc/hosts": Node.file(b"127.0.0.1 localhost\n", mtime=OLD),
    "etc/passwd": Node.file(b"root:x:0:0::/root:/bin/sh\n", mode=0o600, mtime=OLD),
    "etc/link": Node.symlink("hosts", mtime=OLD),
    "srv": Node.dir(0o750, mtime=OLD), "srv/data": Node.dir(mtime=OLD),
    "srv/data/a": Node.file(b"a" * 100, mtime=OLD), "srv/data/b": Node.file(b"b", mtime=OLD),
    "bin": Node.dir(mtime=OLD), "bin/su": Node.file(b"\x7fELF", mode=0o4755, mtime=OLD),
    "h1": Node.file(b"shared\n", inode=1, mtime=OLD), "h2": Node.file(b"shared\n", inode=1, mtime=OLD),
    "ro": Node.dir(0o555, mtime=OLD), "ro/f": Node.file(b"r", mtime=OLD),
}
TOP = {
    "etc": Node.dir(mtime=OLD), "etc/motd": Node.file(b"hi\n", mtime=OLD),
    "opt": Node.dir(mtime=OLD).with_opaque(), "opt/x": Node.file(b"x", mtime=OLD),
    "srv": Node.dir(0o750, mtime=OLD), "srv/data": Node.dir(mtime=OLD),
    "srv/data/b": Node.whiteout(),
}
BOTTOM = {"opt": Node.dir(mtime=OLD), "opt/hidden": Node.file(b"below an opaque dir", mtime=OLD)}
LOWERS = (TOP, LOWER, BOTTOM)
UPPER = {"var": Node.dir(mtime=OLD).with_opaque(), "var/log": Node.file(b"", mtime=OLD),
         "etc": Node.dir(mtime=OLD), "etc/hosts.gone": Node.whiteout()}

OPS = (
    ("append", "etc/hosts", b"10.0.0.1 db\n"), ("unlink", "etc/passwd"),
    ("rm_rf", "srv/data"), ("mkdir", "srv/data"), ("write", "srv/data/new", b"new"),
    ("rmdir", "etc"), ("rename", "etc/motd", "etc/motd2"), ("rename", "srv", "srv2"),
    ("append", "h1", b"more\n"), ("symlink", "opt/to-motd", "/etc/motd2"),
    ("chmod", "bin/su", 0o755), ("unlink", "missing"), ("append", "ro/f", b"!"),
    ("rmdir", "opt"), ("unlink", "opt/x"), ("rmdir", "opt"),
)


def _op(ovl: KernelOverlay, op: tuple) -> None:
    name, path, *rest = op
    real = ovl.path(path)
    if name in ("write", "append"):
        with open(real, "ab" if name == "append" else "wb") as f:
            f.write(rest[0])
    elif name == "unlink":
        os.unlink(real)
    elif name == "mkdir":
        os.mkdir(real, 0o755)
    elif name == "rmdir":
        os.rmdir(real)
    elif name == "rm_rf":
        shutil.rmtree(real)
    elif name == "rename":
        os.rename(real, ovl.path(rest[0]))
    elif name == "symlink":
        os.symlink(rest[0], real)
    elif name == "chmod":
        os.chmod(real, rest[0])
    else:
        raise ValueError(name)


def _outcome(ovl: KernelOverlay, op: tuple) -> str:
    try:
        _op(ovl, op)
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, str(exc.errno))


def facts(layer: dict) -> dict:
    """What both routes must agree on: everything but times (the kernel stamps "now")."""
    return {p: [n.kind, oct(n.mode), n.uid, n.gid, n.size, n.sha256, n.linkname, list(n.rdev),
                [[k, v.decode()] for k, v in n.xattrs], n.inode]
            for p, n in layer.items()}


@dataclass(frozen=True)
class Seen:
    """What the kernel showed for one run of the scenario, as JSON values."""
    route: str
    outcomes: list
    tree: dict
    upper: dict
    entries: list         # [path, kind, size, opaque, xattr name]
    lost_owners: list

    def comparable(self) -> dict:
        """Everything that must be the same whichever route ran (not the route, not the
        opaque xattr's name)."""
        return {"outcomes": self.outcomes, "tree": self.tree, "upper": self.upper,
                "entries": [e[:4] for e in self.entries]}


def run_scenario(route: str | None, lowers=LOWERS, upper=UPPER, ops=OPS) -> Seen:
    with KernelOverlay(list(lowers), dict(upper), route=route) as ovl:
        outcomes = [_outcome(ovl, op) for op in ops]
        return Seen(ovl.route or "", outcomes, facts(ovl.tree()), facts(ovl.upper()),
                    [[e.path, e.kind, e.size, e.opaque, e.xattr] for e in ovl.upper_entries()],
                    list(ovl.lost_owners))


def as_json(value: object) -> object:
    return json.loads(json.dumps(value))


# -- an unprivileged user ------------------------------------------------------------------

def unprivileged_user() -> str:
    return os.environ.get(USER_ENV, "nobody")


def _candidates() -> list[str]:
    v = sys.version_info
    names = [sys.executable, os.path.realpath(sys.executable), getattr(sys, "_base_executable", ""),
             shutil.which(f"python{v.major}.{v.minor}") or "", f"/usr/bin/python{v.major}.{v.minor}",
             f"/usr/local/bin/python{v.major}.{v.minor}", shutil.which("python3") or "",
             "/usr/bin/python3", "/usr/local/bin/python3"]
    out: list[str] = []
    for n in names:
        if n and n not in out and os.path.exists(n):
            out.append(n)
    return out


def python_for(user: str, *, same_minor: bool = False) -> str | None:
    """An interpreter ``user`` can run: 3.10 or later (labkit.fs needs nothing else), or this
    one's major.minor when ``same_minor`` (to load this venv's compiled packages)."""
    want = f"sys.version_info[:2] == {tuple(sys.version_info[:2])}" if same_minor \
        else "sys.version_info >= (3, 10)"
    for python in _candidates():
        r = subprocess.run(["runuser", "-u", user, "--", python, "-I", "-S", "-c",
                            f"import sys; sys.exit(0 if {want} else 1)"],
                           capture_output=True, cwd="/", check=False)
        if r.returncode == 0:
            return python
    return None


def run_as(user: str, python: str, code: str, *, tmpdir: Path,
           timeout: float = 300) -> subprocess.CompletedProcess:
    """``python -I -S -c code`` as ``user``, with labkit and this directory importable and
    ``TMPDIR=tmpdir``."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TMPDIR")}
    env["TMPDIR"] = str(tmpdir)
    prelude = f"import sys; sys.path[:0] = [{str(REPO)!r}, {str(KIT_DIR)!r}]; "
    return subprocess.run(["runuser", "-u", user, "--", python, "-I", "-S", "-c", prelude + code],
                          capture_output=True, text=True, cwd="/", env=env, timeout=timeout,
                          check=False)


def unprivileged_main() -> None:
    """Run as the unprivileged user: the scenario by the default route, and what the root
    route says here, as one JSON object on stdout."""
    try:
        with KernelOverlay(list(LOWERS), {}, route="root"):
            root_refusal = "mounted"
    except EngineUnavailable as exc:
        root_refusal = str(exc)
    out = {"euid": os.geteuid(), "route": kernel_route(), "unavailable": kernel_unavailable(),
           "root_refusal": root_refusal}
    if out["route"] is not None:
        out["seen"] = run_scenario(None).__dict__
        out["owned"] = run_scenario(None, lowers=({"f": Node.file(b"x", uid=1000, gid=50)},),
                                    upper={}, ops=()).__dict__
    print(json.dumps(out))
