"""`labkit doctor` explains this machine, and fails when the chosen engine cannot work.

Each test runs the real command (or, for another user, the real function in a child process
that has dropped root) on this machine, changed only through the environment: a PATH without
busybox or dot, LABKIT_BUSYBOX pointing nowhere, DOCKER_HOST at a socket of the test's own
(missing, dead, or one the user may not open). Nothing here talks to a Docker daemon except
the one test that needs a reachable daemon (`docker_client`).
"""
from __future__ import annotations

import grp
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import pytest
from layout import ROOT
from requirekit import need_busybox, need_root

from labkit.engine import doctor as doctor_mod

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10: pytest's own dependency
    import tomli as tomllib

NO_DAEMON = "unix:///nonexistent/labkit-doctor-test.sock"
DEV_PACKAGES = ("pytest", "nbval", "hypothesis", "playwright", "dockerfile-parse")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
@pytest.fixture
def root_only():
    need_root("the test acts as another user")


ROOT_ONLY = pytest.mark.usefixtures("root_only")


def doctor(tmp_path: Path, *args: str, python: tuple[str, ...] = (), **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "DOCKER_HOST": NO_DAEMON, **env}
    return subprocess.run([*(python or (sys.executable,)), "-m", "labkit", "doctor", *args], env=full,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path, check=False)


def _bin(tmp_path: Path, *programs: str) -> Path:
    """A folder holding only these programs (those installed): a PATH without the others."""
    bindir = tmp_path / "bin"
    bindir.mkdir(exist_ok=True)
    for name in programs:
        found = shutil.which(name)
        if found:
            (bindir / name).symlink_to(Path(found).resolve())
    return bindir


def _line(out: str, start: str) -> str:
    """The line starting with ``start``, and its fix line (if any)."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(start):
            nxt = lines[i + 1] if i + 1 < len(lines) and lines[i + 1].startswith("      fix: ") else ""
            return line + ("\n" + nxt if nxt else "")
    raise AssertionError(f"no line starting {start!r} in:\n{out}")


def _lab_requirements() -> list[str]:
    """The learner extra's requirements as pyproject.toml lists them."""
    return [r.replace(" ", "") for r in PYPROJECT["project"]["optional-dependencies"]["lab"]]


# ---------------------------------------------------------------------------- busybox
def test_sim_engine_ready_with_busybox(tmp_path):
    busybox = need_busybox()
    r = doctor(tmp_path, LABKIT_ENGINE="sim", LABKIT_BUSYBOX="")      # the busybox on PATH
    assert r.returncode == 0, r.stdout + r.stderr
    assert "engine sim is ready" in r.stdout
    applets = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    n = len([a for a in applets if a != "busybox"])          # bin/busybox itself is the binary
    assert f"[ok ] busybox (base image): {Path(busybox).resolve()} with {n} applets" in r.stdout
    dot = subprocess.run(["dot", "-V"], capture_output=True, text=True, check=True).stderr.strip()
    assert dot in r.stdout


def test_missing_busybox_leaves_the_simulator_ready_with_its_stand_in(tmp_path):
    missing = tmp_path / "nope"
    r = doctor(tmp_path, LABKIT_ENGINE="sim", LABKIT_BUSYBOX=str(missing))
    assert r.returncode == 0, r.stdout
    assert "engine sim is ready" in r.stdout
    assert _line(r.stdout, "[-- ] busybox") == (
        f"[-- ] busybox (base image): LABKIT_BUSYBOX={missing} is not a readable, executable file: the "
        "simulator uses a stand-in base layer (a 1982256-byte stand-in for /bin/busybox: same files "
        "and sizes, other digests); the Docker engine needs busybox-static\n"
        "      fix: point LABKIT_BUSYBOX at a static busybox binary, or unset LABKIT_BUSYBOX")


def test_no_busybox_on_path(tmp_path):
    bindir = _bin(tmp_path, "dot", "apt-get")
    r = doctor(tmp_path, LABKIT_ENGINE="sim", PATH=str(bindir), LABKIT_BUSYBOX="")
    assert r.returncode == 0, r.stdout
    line = _line(r.stdout, "[-- ] busybox")
    assert line.startswith("[-- ] busybox (base image): no busybox found on PATH: the simulator uses a "
                           "stand-in base layer")
    if (bindir / "apt-get").exists() and os.geteuid() == 0:
        assert line.endswith("fix: apt-get install -y busybox-static   "
                             "(or set LABKIT_BUSYBOX=/path/to/a/static/busybox)")
    elif not (bindir / "apt-get").exists():
        assert line.endswith("fix: set LABKIT_BUSYBOX=/path/to/a/static/busybox (only the Docker engine "
                             "needs one)")


def test_the_docker_engine_without_busybox_is_not_ready(tmp_path):
    r = doctor(tmp_path, LABKIT_ENGINE="docker", LABKIT_BUSYBOX=str(tmp_path / "nope"))
    assert r.returncode == 1
    assert "engine docker is NOT ready" in r.stdout
    assert "[ERR] busybox (base image): " in r.stdout and "[ERR] docker daemon: " in r.stdout


# ---------------------------------------------------------------------------- programs, packages
def test_missing_dot_is_reported_with_its_fix(tmp_path):
    # a PATH with busybox (and apt-get, when there is one) but no graphviz
    bindir = _bin(tmp_path, "busybox", "apt-get")
    r = doctor(tmp_path, LABKIT_ENGINE="sim", PATH=str(bindir))
    line = _line(r.stdout, "[-- ] graphviz dot")
    assert line.startswith("[-- ] graphviz dot: not found: diagrams cannot be drawn")
    if not (bindir / "apt-get").exists():
        assert line.endswith("fix: conda install -c conda-forge graphviz")
    elif os.geteuid() == 0:
        assert line.endswith("fix: apt-get install -y graphviz   (conda: conda install -c conda-forge graphviz)")


def test_developer_tools_only_when_asked(tmp_path):
    plain = doctor(tmp_path, LABKIT_ENGINE="sim")
    for name in DEV_PACKAGES:
        assert name not in plain.stdout, plain.stdout
    assert "developer tools" not in plain.stdout
    dev = doctor(tmp_path, "--dev", LABKIT_ENGINE="sim")
    section = dev.stdout.split("developer tools (the test suite):\n", 1)[1]
    for name in DEV_PACKAGES:
        version = metadata.version(name)
        assert f"{name} {version}" in section
    programs = [p for p in ("chromium", "docker-registry") if shutil.which(p)]
    assert dev.returncode == (0 if len(programs) == 2 else 1), dev.stdout


def test_missing_packages_in_a_checkout_name_the_editable_install(tmp_path):
    """`python -S`: no site-packages, labkit from this checkout only; every learner package is missing."""
    r = doctor(tmp_path, python=(sys.executable, "-S"), LABKIT_ENGINE="sim", PYTHONPATH=str(ROOT))
    names = [re.match(r"[A-Za-z0-9._-]+", q).group(0) for q in _lab_requirements()]
    line = _line(r.stdout, "[-- ] python packages")
    assert f"missing {', '.join(names)}" in line
    assert line.endswith(f"-m pip install -e '{ROOT}[lab]'")


@pytest.mark.builds
def test_missing_packages_in_a_wheel_install_name_the_requirements(tmp_path):
    """labkit installed from its wheel (not a checkout): the fix installs exactly the missing
    requirements, as the wheel's metadata states them; never `pip install -e .`."""
    src = tmp_path / "src"
    skip = {".git", ".venv", "build", "dist", "tmp"}
    shutil.copytree(ROOT, src, symlinks=True, ignore=lambda d, names: {
        n for n in names if n in {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache"}
        or n.endswith(".egg-info") or (Path(d) == ROOT and n in skip)})
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(src)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("labkit-*.whl"))
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True, timeout=300)
    meta = next(site.glob("labkit-*.dist-info")) / "METADATA"
    lab = [m.group(1).replace(" ", "") for m in re.finditer(r'^Requires-Dist: ([^;\n]+?)\s*;\s*extra == "lab"$',
                                                             meta.read_text(), re.MULTILINE)]
    assert lab
    r = doctor(tmp_path, python=(sys.executable, "-S"), LABKIT_ENGINE="sim", PYTHONPATH=str(site))
    assert "labkit from installed package" in r.stdout, r.stdout
    line = _line(r.stdout, "[-- ] python packages")
    assert line.endswith("-m pip install " + " ".join(f"'{q}'" for q in lab)), line
    assert "-e" not in line.split("fix:", 1)[1]


# ---------------------------------------------------------------------------- the Docker daemon
def test_forced_docker_without_daemon_fails_with_start_command(tmp_path):
    sock = tmp_path / "none.sock"
    r = doctor(tmp_path, LABKIT_ENGINE="docker", DOCKER_HOST=f"unix://{sock}")
    assert r.returncode == 1
    line = _line(r.stdout, "[ERR] docker daemon")
    assert line.startswith(f"[ERR] docker daemon: no Docker daemon (no socket at {sock})")
    if shutil.which("dockerd") and (os.geteuid() == 0):
        assert line.endswith("fix: start one: dockerd --bridge=none --iptables=false --ip-masq=false &   "
                             "(or use the simulator: LABKIT_ENGINE=sim)")


def test_a_socket_nobody_listens_on(tmp_path):
    sock = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    s.close()                     # the file stays; nothing listens (a daemon that died)
    r = doctor(tmp_path, DOCKER_HOST=f"unix://{sock}")
    assert r.returncode == 0 and "engine sim is ready" in r.stdout
    assert f"[-- ] docker daemon: no Docker daemon answers at {sock} (nothing listens)" in r.stdout


@ROOT_ONLY
def test_root_is_never_told_to_use_sudo(tmp_path):
    r = doctor(tmp_path, LABKIT_ENGINE="docker", LABKIT_BUSYBOX=str(tmp_path / "nope"),
               PATH=str(_bin(tmp_path, "apt-get")))     # no dot, no busybox, no dockerd, no daemon
    assert r.returncode == 1 and "fix: " in r.stdout
    assert "sudo" not in r.stdout, r.stdout


def _as_user(user: pwd.struct_passwd, env: dict[str, str]) -> str:
    """``str(doctor())`` computed by a child process running as ``user`` (root dropped after
    labkit is loaded: that user may not be able to read this interpreter's files)."""
    doctor_mod.doctor()           # once here first: whatever it imports lazily is loaded
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(user.pw_gid)
            os.setuid(user.pw_uid)
            os.environ.update(env)
            os.write(write, str(doctor_mod.doctor()).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return b"".join(chunks).decode()


@ROOT_ONLY
def test_a_socket_this_user_may_not_open(monkeypatch):
    """A daemon's socket an ordinary user may not open: said as such (not "no daemon"), with a
    fix that user can act on: no sudo for a user who cannot use it."""
    user = pwd.getpwnam("nobody")
    folder = Path(tempfile.mkdtemp(prefix="labkit-doctor-sock-", dir="/tmp"))
    folder.chmod(0o755)
    sock = folder / "docker.sock"
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(sock))
        server.listen(1)
        try:
            group = grp.getgrnam("docker")
        except KeyError:
            group = grp.getgrgid(0)
        os.chown(sock, 0, group.gr_gid)
        os.chmod(sock, 0o660)
        monkeypatch.setenv("DOCKER_HOST", NO_DAEMON)     # the parent's warm-up run talks to no daemon
        text = _as_user(user, {"DOCKER_HOST": f"unix://{sock}", "LABKIT_ENGINE": "auto"})
        assert text.startswith("labkit doctor: engine sim is ready (user nobody (not root"), text
        line = _line(text, "[-- ] docker daemon")
        assert line.split("\n")[0] == (f"[-- ] docker daemon: a Docker daemon runs but this user may not use "
                                       f"its socket ({sock}: permission denied)")
        if "no sudo" in text.splitlines()[0]:
            assert line.endswith(f"fix: ask an administrator to add nobody to the {group.gr_name} group "
                                 f"(usermod -aG {group.gr_name} nobody), or use the simulator: LABKIT_ENGINE=sim")
            assert "sudo" not in text.replace("no sudo", "")
        forced = _as_user(user, {"DOCKER_HOST": f"unix://{sock}", "LABKIT_ENGINE": "docker"})
        assert "engine docker is NOT ready" in forced
        assert "[ERR] docker daemon: a Docker daemon runs but this user may not use its socket" in forced
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)


def test_reports_the_daemon_and_its_storage_driver(tmp_path, docker_client):
    info = docker_client.info()
    r = doctor(tmp_path, DOCKER_HOST=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    assert r.returncode == 0, r.stdout
    assert f"Docker {info['ServerVersion']} reachable, storage driver {info['Driver']}" in r.stdout
    assert "engine docker is ready" in r.stdout
