"""Shared fixtures: access to the real systems the tests check labkit against.

Docker tests skip only when no daemon answers AND ``LABKIT_REQUIRE_DOCKER`` is unset;
kernel-overlay tests skip only when mounting is impossible AND ``LABKIT_REQUIRE_KERNEL``
is unset; tests of root or an apt tool (busybox, zstd) likewise under ``LABKIT_REQUIRE_TOOLS``
(``requirekit``). CI sets them all, so there they always run.
"""
from __future__ import annotations

import atexit
import multiprocessing.util   # imported first: its exit hook runs after ours (see pytest_configure)
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from requirekit import forgotten_in_ci, skip_unless_required


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client for the real daemon (skip/fail rules above)."""
    try:
        import docker  # noqa: PLC0415 - only tests that need Docker import it
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # any failure to reach the daemon
        skip_unless_required("LABKIT_REQUIRE_DOCKER", f"no Docker daemon answers: {exc}")
    yield client
    client.close()


def _can_mount_overlay() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    base = Path(tempfile.mkdtemp(prefix="labkit-ovl-probe-"))
    try:
        for d in ("l", "u", "w", "m"):
            (base / d).mkdir()
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            f"lowerdir={base/'l'},upperdir={base/'u'},workdir={base/'w'}",
                            str(base / "m")], capture_output=True, text=True)
        if r.returncode != 0:
            return r.stderr.strip() or "mount -t overlay failed"
        subprocess.run(["umount", str(base / "m")], check=True)
        return None
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def kernel_overlay():
    """Skip (or fail under LABKIT_REQUIRE_KERNEL) unless the kernel's overlayfs can be mounted."""
    why = _can_mount_overlay()
    if why:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", f"overlayfs cannot be mounted: {why}")
    return True


@pytest.fixture(scope="session")
def docker_engine(docker_client):
    """labkit's Docker engine on the real daemon; cleans this test session's objects at the end."""
    from labkit.engine.docker import DockerEngine
    engine = DockerEngine.connect()
    yield engine
    engine.clean(session_only=True)


@pytest.fixture(scope="session")
def sim_engine():
    from labkit.engine.sim import SimEngine
    return SimEngine()


@pytest.fixture(scope="session", params=["sim", "docker"])
def engine(request):
    """Each engine in turn: the same test must pass on the simulator and on the real daemon."""
    return request.getfixturevalue(f"{request.param}_engine")


@pytest.fixture(scope="session")
def sentinel(docker_client):
    """An image and a container labkit did NOT make (no label): they must survive everything."""
    import io
    import tarfile
    import uuid
    name = f"labkit-test-sentinel-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        data = b"not labkit's\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    docker_client.api.import_image_from_data(buf.getvalue(), repository=name, tag="latest")
    image = docker_client.images.get(f"{name}:latest")
    container = docker_client.api.create_container(image.id, ["/hello.txt"], name=name)["Id"]
    yield {"image": image.id, "container": container, "name": name}
    # end of the whole session: everything the suite did (labkit clean included) left them alone
    survived = (docker_client.api.containers(all=True, filters={"id": container}),
                docker_client.api.images(name=name))
    docker_client.api.remove_container(container, force=True)
    docker_client.api.remove_image(image.id, force=True)
    assert all(survived), f"labkit removed an object it did not make: {name}"


@pytest.fixture(scope="session", autouse=True)
def _sentinel_first(request):
    """Create the sentinel before any other test runs, whenever a daemon answers."""
    try:
        import docker
        docker.from_env(timeout=5).ping()
    except Exception:
        return
    request.getfixturevalue("sentinel")


@pytest.fixture(autouse=True)
def _fresh_hints(monkeypatch):
    """Every test starts with no failed attempts counted (hints at level 1) and no grade log."""
    monkeypatch.delenv("LABKIT_GRADE_LOG", raising=False)
    from labkit.exercises import reset_attempts
    reset_attempts()
    yield
    reset_attempts()


def pytest_configure(config):
    """One temp directory for the whole run (this process, its kernels and subprocesses, and
    pytest's tmp_path), removed when this process exits: the suite leaves nothing in the temp
    directory. World-writable with the sticky bit, like /tmp, for tests that run as another
    user. LABKIT_KEEP_TMP=1 keeps it for debugging."""
    root = Path(tempfile.mkdtemp(prefix="lkt-"))     # short: unix socket paths end at 108 bytes
    root.chmod(0o1777)
    os.environ["TMPDIR"] = str(root)
    tempfile.tempdir = str(root)
    if not config.option.basetemp:                   # tmp_path: <root>/t/<test name>
        config.option.basetemp = str(root / "t")
    if not os.environ.get("LABKIT_KEEP_TMP"):
        # registered after multiprocessing's own exit hook, so it runs before it: leave the
        # pymp-* directories to that hook, then remove what is left (the root) last of all
        atexit.register(_remove_run_tmp, root)


def _remove_run_tmp(root: Path) -> None:
    for child in root.iterdir() if root.is_dir() else ():
        if not child.name.startswith("pymp-"):
            shutil.rmtree(child, ignore_errors=True) if child.is_dir() else child.unlink(missing_ok=True)
    multiprocessing.util.Finalize(None, shutil.rmtree, args=(str(root), True), exitpriority=-101)   # after pymp-* (-100)


def pytest_sessionstart(session):
    """Under CI every real system is required: a CI run that forgot a LABKIT_REQUIRE_* variable
    stops here, loudly, instead of passing its Docker, kernel or browser tests as skips."""
    missing = forgotten_in_ci()
    if missing:
        raise pytest.UsageError(f"CI is set but {', '.join(missing)} is not: set it (.ci/run sets "
                                "them all), or unset CI to allow skips")


def pytest_collection_modifyitems(config, items):
    """Tests marked ``runs_last`` run after every other collected test, wherever their file
    sits and whatever its name (the safety check must see what the whole suite did)."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)   # stable
