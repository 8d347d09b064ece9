"""``labkit doctor``: what works on this machine, and for each problem the one command that fixes it."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from ..errors import LabkitError
from .baseimage import base_spec
from .connect import wanted_engine
from .docker import DockerEngine

PACKAGES = ("labkit", "docker", "jupyterlab", "ipywidgets", "graphviz", "nbval", "pytest",
            "dockerfile-parse")


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""          # the one command (or step) that fixes it, when not ok
    needed: bool = False   # True when the chosen engine cannot work without it

    def __str__(self) -> str:
        mark = "ok " if self.ok else ("ERR" if self.needed else "-- ")
        line = f"[{mark}] {self.name}: {self.detail}"
        return line + (f"\n      fix: {self.fix}" if not self.ok and self.fix else "")


@dataclass(frozen=True)
class Report:
    engine: str                 # the engine connect() would choose: "sim" or "docker"
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        """False when the chosen engine cannot work here."""
        return not any(c.needed and not c.ok for c in self.checks)

    def __str__(self) -> str:
        verdict = "ready" if self.ok else "NOT ready"
        return "\n".join([f"labkit doctor: engine {self.engine} is {verdict}",
                          *map(str, self.checks)])

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the plain text, line by line
        p.text(str(self))


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _packages() -> Check:
    found = {d: _version(d) for d in PACKAGES}
    missing = [d for d, v in found.items() if v is None]
    detail = ", ".join(f"{d} {v}" for d, v in found.items() if v)
    return Check("python packages", not missing,
                 f"Python {platform.python_version()}; {detail}" + (f"; missing {', '.join(missing)}" if missing else ""),
                 fix="pip install -e '.[all]'   (or run ./lab.sh, which does it)")


def _dot() -> Check:
    dot = shutil.which("dot")
    if not dot:
        return Check("graphviz dot", False, "not found: diagrams cannot be drawn",
                     fix="sudo apt-get install -y graphviz   (conda: conda install graphviz)")
    r = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10)
    return Check("graphviz dot", r.returncode == 0, (r.stderr or r.stdout).strip() or dot,
                 fix="sudo apt-get install --reinstall -y graphviz")


def _busybox(needed: bool) -> Check:
    try:
        spec = base_spec()
    except LabkitError as exc:
        return Check("busybox (base image)", False, str(exc).splitlines()[0], fix=exc.fix or "",
                     needed=needed)
    return Check("busybox (base image)", True, f"{spec.busybox} with {len(spec.applets)} applets")


def _daemon(needed: bool) -> Check:
    try:
        info = DockerEngine.connect(ping_timeout=3).info()
    except ImportError:
        return Check("docker daemon", False, "the docker package is not installed",
                     fix="pip install 'labkit[docker]'", needed=needed)
    except LabkitError as exc:
        return Check("docker daemon", False, str(exc).splitlines()[0], fix=exc.fix or "", needed=needed)
    return Check("docker daemon", True,
                 f"Docker {info.get('ServerVersion')} reachable, storage driver {info.get('Driver')}, "
                 f"data root {info.get('DockerRootDir')}")


def _overlay() -> Check:
    if os.geteuid() != 0:
        return Check("kernel overlayfs", False, "not root: lessons show the simulator instead of a "
                     "real mount -t overlay", fix="run the lab as root (e.g. in a VM) to see the kernel's overlayfs")
    mount = shutil.which("mount") or next((p for p in ("/usr/bin/mount", "/bin/mount")
                                           if os.access(p, os.X_OK)), None)
    if mount is None:
        return Check("kernel overlayfs", False, "root, but no mount command",
                     fix="sudo apt-get install -y mount")
    base = Path(tempfile.mkdtemp(prefix="labkit-doctor-"))
    try:
        for d in "luwm":
            (base / d).mkdir()
        r = subprocess.run([mount, "-t", "overlay", "overlay", "-o",
                            f"lowerdir={base / 'l'},upperdir={base / 'u'},workdir={base / 'w'}",
                            str(base / "m")], capture_output=True, text=True, timeout=20)
        if r.returncode == 0:
            subprocess.run([str(Path(mount).with_name("umount")), str(base / "m")], check=False, timeout=20)
            return Check("kernel overlayfs", True, "root, and mount -t overlay works")
        return Check("kernel overlayfs", False, f"root, but mount -t overlay failed: {r.stderr.strip()}",
                     fix="sudo modprobe overlay")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def doctor() -> Report:
    """Check this machine; ``Report.ok`` is False when the chosen engine cannot work."""
    try:
        wanted = wanted_engine()
    except LabkitError as exc:
        return Report("?", (Check("LABKIT_ENGINE", False, str(exc).splitlines()[0], exc.fix or "", True),))
    daemon = _daemon(needed=wanted == "docker")
    engine = "docker" if wanted == "docker" or (wanted == "auto" and daemon.ok) else "sim"
    checks = (_packages(), _dot(), _busybox(needed=True), daemon, _overlay())
    return Report(engine, checks)




__all__ = ["Check", "Report", "doctor"]
