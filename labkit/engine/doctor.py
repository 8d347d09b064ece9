"""``labkit doctor``: what works on this machine, and for each problem the one command that fixes it.

Every fix line fits the user who reads it: a command that needs root is shown bare to root,
with ``sudo`` to a user who may use sudo, and as "ask an administrator to run: ..." to anyone
else (Binder, a shared server); ``pip`` lines install into the running interpreter, as an
editable checkout (``-e``) only when labkit runs from its source checkout. The developer tools
(the test suite's packages and programs) are checked only when asked: ``doctor(dev=True)``,
``labkit doctor --dev``.
"""
from __future__ import annotations

import grp
import os
import platform
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:      # Python 3.10: the installed metadata is read instead
    tomllib = None               # type: ignore[assignment]

from ..errors import LabkitError
from .baseimage import STAND_IN_SIZE, base_spec
from .connect import wanted_engine
from .docker import DockerEngine

# labkit's extras (pyproject.toml): read from the installed metadata; these names are the
# fallback when labkit runs from a checkout that was never installed
LEARNER_EXTRA, DOCKER_EXTRA, DEV_EXTRA = "lab", "docker", "dev"
_FALLBACK = {"lab": ("jupyterlab", "ipywidgets", "graphviz", "nbclient", "nbformat", "ipykernel"),
             "docker": ("docker",),
             "dev": ("dockerfile-parse", "pytest", "nbval", "hypothesis", "playwright", "build", "ruff", "mutmut")}
# programs the test suite uses, and what is skipped without them
DEV_PROGRAMS = (("chromium", "chromium", "the browser test (pytest -m browser)"),
                ("docker-registry", "docker-registry", "lesson 09's real registry on the Docker engine"))
SIM_ONLY = "use the simulator: LABKIT_ENGINE=sim"
_CHECKOUT = Path(__file__).resolve().parents[2]       # the repository, when labkit runs from one


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
class Machine:
    """Who runs labkit here, and what they may do about a problem."""
    user: str
    root: bool
    sudo: bool                 # sudo is installed and this user may use it
    apt: bool                  # apt-get is here (Debian, Ubuntu)
    checkout: Path | None      # labkit runs from this source checkout (else: an installed wheel)
    python: str                # how to call the running interpreter

    def as_admin(self, *commands: str) -> str:
        """``commands`` (run one after the other) as this user can run them, or a request."""
        if self.root:
            return " && ".join(commands)
        if self.sudo:
            return " && ".join(f"sudo {c}" for c in commands)
        return "ask an administrator to run: " + " && ".join(commands)

    def apt_fix(self, deb: str, conda: str = "") -> str:
        """Install a Debian package (or, without apt-get, its conda-forge package)."""
        alt = f"conda install -c conda-forge {conda}" if conda else ""
        if not self.apt:
            return alt or f"install {deb} with this system's package manager"
        return self.as_admin(f"apt-get install -y {deb}") + (f"   (conda: {alt})" if alt else "")

    def pip_fix(self, extra: str, missing: list[str]) -> str:
        """Install what an extra of labkit lacks, the way labkit was installed."""
        if self.checkout is not None:
            return f"{self.python} -m pip install -e '{self.checkout}[{extra}]'"
        return f"{self.python} -m pip install " + " ".join(f"'{r}'" for r in missing)

    def describe(self) -> str:
        who = "root" if self.root else ("not root, may use sudo" if self.sudo else "not root, no sudo")
        how = f"checkout {self.checkout}" if self.checkout else "installed package"
        return f"user {self.user} ({who}); labkit from {how}"


@dataclass(frozen=True)
class Report:
    engine: str                 # the engine connect() would choose: "sim" or "docker"
    checks: tuple[Check, ...]
    dev: tuple[Check, ...] = ()  # developer tools, when asked for (doctor(dev=True))
    machine: str = ""           # Machine.describe()

    @property
    def ok(self) -> bool:
        """False when the chosen engine cannot work here."""
        return not any(c.needed and not c.ok for c in self.checks)

    @property
    def dev_ok(self) -> bool:
        """False when a developer tool that was checked is missing."""
        return all(c.ok for c in self.dev)

    def __str__(self) -> str:
        verdict = "ready" if self.ok else "NOT ready"
        head = f"labkit doctor: engine {self.engine} is {verdict}" + (f" ({self.machine})" if self.machine else "")
        lines = [head, *map(str, self.checks)]
        if self.dev:
            lines += ["developer tools (the test suite):", *map(str, self.dev)]
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle) -> None:  # IPython shows the plain text, line by line
        p.text(str(self))


# ---------------------------------------------------------------------------- this machine
def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:               # an arbitrary uid (OpenShift, docker run -u): no passwd entry
        return str(os.geteuid())


def _may_sudo() -> bool:
    """sudo is installed and this user is in an admin group, or needs no password for it."""
    if not shutil.which("sudo"):
        return False
    names = set()
    for gid in os.getgroups():
        try:
            names.add(grp.getgrgid(gid).gr_name)
        except KeyError:
            pass
    if names & {"sudo", "wheel", "admin"}:
        return True
    try:
        return subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _checkout() -> Path | None:
    """The source checkout labkit runs from (its pyproject.toml names labkit), if any."""
    project = _CHECKOUT / "pyproject.toml"
    try:
        return _CHECKOUT if re.search(r'(?m)^name\s*=\s*"labkit"', project.read_text()) else None
    except OSError:
        return None


def _python() -> str:
    """``python`` when that is the running interpreter, else its full path."""
    on_path = shutil.which("python")
    return "python" if on_path and Path(on_path).absolute() == Path(sys.executable).absolute() \
        else sys.executable


def machine() -> Machine:
    root = os.geteuid() == 0
    return Machine(_user(), root, not root and _may_sudo(), shutil.which("apt-get") is not None,
                   _checkout(), _python())


# ---------------------------------------------------------------------------- Python packages
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _extras() -> dict[str, list[str]]:
    """labkit's extras: from the checkout's pyproject.toml when labkit runs from one (an
    editable install's metadata can be older), else from the installed metadata."""
    checkout = _checkout()
    if checkout is not None and tomllib is not None:
        try:
            project = tomllib.loads((checkout / "pyproject.toml").read_text())["project"]
            return {k: list(v) for k, v in project.get("optional-dependencies", {}).items()}
        except (OSError, ValueError, KeyError):
            pass
    try:
        reqs = metadata.requires("labkit") or []
    except metadata.PackageNotFoundError:
        reqs = []
    out: dict[str, list[str]] = {}
    for req in reqs:
        spec, _, marker = req.partition(";")
        m = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if m:
            out.setdefault(m.group(1), []).append(spec.strip())
    return out


def _extra(extra: str, extras: dict[str, list[str]] | None = None,
           seen: frozenset[str] = frozenset()) -> list[str]:
    """The requirements of one of labkit's extras, ``labkit[test]`` inside one expanded."""
    extras = _extras() if extras is None else extras
    if extra not in extras:
        return list(_FALLBACK.get(extra, ()))
    out: list[str] = []
    for spec in extras[extra]:
        self_ref = re.fullmatch(r"\s*labkit\s*\[([^\]]*)\]\s*", spec)
        if not self_ref:
            out.append(spec.replace(" ", ""))
            continue
        for sub in (x.strip() for x in self_ref.group(1).split(",")):
            if sub and sub not in seen | {extra}:
                out += [r for r in _extra(sub, extras, seen | {extra}) if r not in out]
    return out


def _name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)  # type: ignore[union-attr]


def _package_check(name: str, extra: str, m: Machine, prefix: tuple[str, ...] = ()) -> Check:
    reqs = _extra(extra)
    found = {r: _version(_name(r)) for r in reqs}
    missing = [r for r, v in found.items() if v is None]
    parts = [*prefix, ", ".join(f"{_name(r)} {v}" for r, v in found.items() if v)]
    if missing:
        parts.append(f"missing {', '.join(_name(r) for r in missing)}")
    return Check(name, not missing, "; ".join(p for p in parts if p), fix=m.pip_fix(extra, missing))


def _packages(m: Machine) -> Check:
    prefix = (f"Python {platform.python_version()}", f"labkit {_version('labkit') or '(not installed)'}")
    return _package_check("python packages", LEARNER_EXTRA, m, prefix)


# ---------------------------------------------------------------------------- programs
def _dot(m: Machine) -> Check:
    dot = shutil.which("dot")
    if not dot:
        return Check("graphviz dot", False, "not found: diagrams cannot be drawn (each shows "
                     "'cannot draw the diagram' instead)", fix=m.apt_fix("graphviz", "graphviz"))
    r = subprocess.run([dot, "-V"], capture_output=True, text=True, timeout=10, check=False)
    return Check("graphviz dot", r.returncode == 0, (r.stderr or r.stdout).strip() or dot,
                 fix=m.as_admin("apt-get install --reinstall -y graphviz") if m.apt
                 else "conda install -c conda-forge --force-reinstall graphviz")


def _busybox(m: Machine, needed: bool) -> Check:
    spec = base_spec()
    if spec.busybox is not None:
        return Check("busybox (base image)", True, f"{spec.busybox} with {len(spec.applets)} applets")
    if os.environ.get("LABKIT_BUSYBOX"):
        fix = f"{spec.fix}, or unset LABKIT_BUSYBOX"
    elif m.apt:
        fix = m.apt_fix("busybox-static") + "   (or set LABKIT_BUSYBOX=/path/to/a/static/busybox)"
    else:
        fix = "set LABKIT_BUSYBOX=/path/to/a/static/busybox (only the Docker engine needs one)"
    return Check("busybox (base image)", False,
                 f"{spec.reason}: the simulator uses a stand-in base layer (a {STAND_IN_SIZE}-byte "
                 "stand-in for /bin/busybox: same files and sizes, other digests); the Docker engine "
                 "needs busybox-static", fix=fix, needed=needed)


def _dev_programs(m: Machine) -> Check:
    missing = [(deb, what) for prog, deb, what in DEV_PROGRAMS if not shutil.which(prog)]
    have = [prog for prog, _, _ in DEV_PROGRAMS if shutil.which(prog)]
    if not missing:
        return Check("test programs", True, ", ".join(have))
    debs = " ".join(deb for deb, _ in missing)
    return Check("test programs", False, "; ".join(f"no {deb}: {what} is skipped" for deb, what in missing),
                 fix=m.as_admin(f"apt-get install -y {debs}") if m.apt else f"install {debs}")


# ---------------------------------------------------------------------------- the Docker daemon
def _socket_path() -> str | None:
    """The unix socket the docker SDK would use (DOCKER_HOST, else the default), if a socket."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    return host[len("unix://"):] if host.startswith("unix://") else None


def _probe(path: str) -> str:
    """What a connect() to the socket says, without a word to the daemon: "ok", "missing",
    "denied" or "refused"."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect(path)
        return "ok"
    except FileNotFoundError:
        return "missing"
    except PermissionError:
        return "denied"
    except OSError:          # refused (nothing listens), not a socket, timed out ...
        return "refused"
    finally:
        s.close()


def _start_fix(m: Machine) -> str:
    start = "dockerd --bridge=none --iptables=false --ip-masq=false &"
    if shutil.which("dockerd"):
        cmds: tuple[str, ...] = (start,)
    elif m.apt:
        cmds = ("apt-get install -y docker.io", start)
    else:      # macOS, Windows, no apt: Docker Desktop or the distribution's own package
        return (f"{SIM_ONLY} (every lesson runs on it); for the Docker engine, install and start "
                "Docker (Docker Desktop, or your distribution's docker package)")
    if not (m.root or m.sudo):
        return f"{SIM_ONLY} (every lesson runs on it); for the Docker engine, " + m.as_admin(*cmds)
    return "start one: " + m.as_admin(*cmds) + f"   (or {SIM_ONLY})"


def _denied(m: Machine, sock: str, needed: bool) -> Check:
    try:
        group = grp.getgrgid(os.stat(sock).st_gid).gr_name
    except (OSError, KeyError):
        group = "docker"
    add = f"usermod -aG {group} {m.user}"
    fix = (f"{m.as_admin(add)}, then log in again   (or {SIM_ONLY})" if m.sudo or m.root else
           f"ask an administrator to add {m.user} to the {group} group ({add}), or {SIM_ONLY}")
    return Check("docker daemon", False, f"a Docker daemon runs but this user may not use its socket "
                 f"({sock}: permission denied)", fix=fix, needed=needed)


def _daemon(m: Machine, needed: bool) -> Check:
    sock = _socket_path()
    state = _probe(sock) if sock else "ok"
    if state == "denied" and sock:
        return _denied(m, sock, needed)
    if state == "missing":
        return Check("docker daemon", False, f"no Docker daemon (no socket at {sock})",
                     fix=_start_fix(m), needed=needed)
    if state == "refused":
        return Check("docker daemon", False, f"no Docker daemon answers at {sock} (nothing listens)",
                     fix=_start_fix(m), needed=needed)
    try:
        engine = DockerEngine.connect(ping_timeout=3)
    except ImportError:
        return Check("docker daemon", False, "the docker package is not installed",
                     fix=m.pip_fix(DOCKER_EXTRA, _extra(DOCKER_EXTRA)), needed=needed)
    except LabkitError as exc:
        if "permission denied" in exc.message.lower() and sock:
            return _denied(m, sock, needed)
        return Check("docker daemon", False, exc.message.splitlines()[0], fix=_start_fix(m), needed=needed)
    try:
        info = engine.info()
    except LabkitError as exc:
        return Check("docker daemon", False, exc.message.splitlines()[0], fix=_start_fix(m), needed=needed)
    finally:
        engine.close()
    return Check("docker daemon", True,
                 f"Docker {info.get('ServerVersion')} reachable, storage driver {info.get('Driver')}, "
                 f"data root {info.get('DockerRootDir')}")


# ---------------------------------------------------------------------------- the kernel
def _overlay(m: Machine) -> Check:
    if not m.root:
        if m.sudo:
            return Check("kernel overlayfs", False, "not root: lessons show the simulator instead of a "
                         "real mount -t overlay", fix="run the lab as root (e.g. in a VM) to see the "
                         "kernel's overlayfs")
        return Check("kernel overlayfs", False, "not root: lessons show the simulator instead of a "
                     "real mount -t overlay (only root may mount it; nothing to fix for the lessons)")
    mount = shutil.which("mount") or next((p for p in ("/usr/bin/mount", "/bin/mount")
                                           if os.access(p, os.X_OK)), None)
    if mount is None:
        return Check("kernel overlayfs", False, "root, but no mount command",
                     fix=m.apt_fix("mount"))
    base = Path(tempfile.mkdtemp(prefix="labkit-doctor-"))
    try:
        for d in "luwm":
            (base / d).mkdir()
        r = subprocess.run([mount, "-t", "overlay", "overlay", "-o",
                            f"lowerdir={base / 'l'},upperdir={base / 'u'},workdir={base / 'w'}",
                            str(base / "m")], capture_output=True, text=True, timeout=20, check=False)
        if r.returncode == 0:
            subprocess.run([str(Path(mount).with_name("umount")), str(base / "m")], check=False, timeout=20)
            return Check("kernel overlayfs", True, "root, and mount -t overlay works")
        return Check("kernel overlayfs", False, f"root, but mount -t overlay failed: {r.stderr.strip()}",
                     fix="modprobe overlay")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def doctor(*, dev: bool = False) -> Report:
    """Check this machine; ``Report.ok`` is False when the chosen engine cannot work. With
    ``dev=True`` the developer tools (test packages and programs) are checked too."""
    m = machine()
    try:
        wanted = wanted_engine()
    except LabkitError as exc:
        return Report("?", (Check("LABKIT_ENGINE", False, exc.message.splitlines()[0], exc.fix or "", True),),
                      machine=m.describe())
    daemon = _daemon(m, needed=wanted == "docker")
    engine = "docker" if wanted == "docker" or (wanted == "auto" and daemon.ok) else "sim"
    checks = (_packages(m), _dot(m), _busybox(m, needed=engine == "docker"), daemon, _overlay(m))
    extra = (_package_check("python packages", DEV_EXTRA, m), _dev_programs(m)) if dev else ()
    return Report(engine, checks, extra, m.describe())


__all__ = ["Check", "Machine", "Report", "doctor", "machine"]
