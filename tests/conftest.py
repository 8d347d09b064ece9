"""Shared fixtures: access to the real systems the tests check labkit against.

Docker tests skip only when no daemon answers AND ``LABKIT_REQUIRE_DOCKER`` is unset;
kernel-overlay tests skip only when mounting is impossible AND ``LABKIT_REQUIRE_KERNEL``
is unset. CI sets both, so there they always run.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest


def _require(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def docker_client():
    """A docker SDK client for the real daemon (skip/fail rules above)."""
    try:
        import docker  # noqa: PLC0415 - only tests that need Docker import it
        client = docker.from_env(timeout=120)
        client.ping()
    except Exception as exc:  # any failure to reach the daemon
        if _require("LABKIT_REQUIRE_DOCKER"):
            pytest.fail(f"LABKIT_REQUIRE_DOCKER is set but no Docker daemon answers: {exc}")
        pytest.skip(f"no Docker daemon reachable: {exc}")
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
        if _require("LABKIT_REQUIRE_KERNEL"):
            pytest.fail(f"LABKIT_REQUIRE_KERNEL is set but overlayfs cannot be mounted: {why}")
        pytest.skip(f"cannot mount overlayfs: {why}")
    return True
