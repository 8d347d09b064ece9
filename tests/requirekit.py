"""The one skip rule of the suite: a test whose real system is missing skips, unless the
matching ``LABKIT_REQUIRE_*`` variable is set (CI sets them all): then it fails, so a missing
install step can never pass as a skipped test."""
from __future__ import annotations

import os

import pytest


def required(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false", "no")


def skip_unless_required(var: str, why: str) -> None:
    """Skip with ``why``, or fail naming ``var`` when it is set."""
    if required(var):
        pytest.fail(f"{var} is set but {why}")
    pytest.skip(why)


# TOOLS: the rest of what CI's machine has: root, and the apt tools .ci/run installs
# (busybox-static, zstd, graphviz)
REQUIRE_VARS = ("LABKIT_REQUIRE_DOCKER", "LABKIT_REQUIRE_KERNEL", "LABKIT_REQUIRE_BROWSER", "LABKIT_REQUIRE_TOOLS")


def need_busybox() -> str:
    """The installed busybox's path, or skip (fail under LABKIT_REQUIRE_TOOLS)."""
    import shutil
    found = shutil.which("busybox")
    if not found:
        skip_unless_required("LABKIT_REQUIRE_TOOLS", "no busybox installed (apt-get install busybox-static)")
    return found


def need_root(why: str) -> None:
    """Skip (fail under LABKIT_REQUIRE_TOOLS) unless this run is root."""
    if os.geteuid() != 0:
        skip_unless_required("LABKIT_REQUIRE_TOOLS", f"this run is not root: {why}")


def forgotten_in_ci() -> list[str]:
    """The ``LABKIT_REQUIRE_*`` variables a CI run (``CI`` set) did not set: such a run would let
    a missing daemon, kernel or browser pass as skipped tests."""
    return [v for v in REQUIRE_VARS if not required(v)] if required("CI") else []
