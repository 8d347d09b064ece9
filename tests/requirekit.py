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


REQUIRE_VARS = ("LABKIT_REQUIRE_DOCKER", "LABKIT_REQUIRE_KERNEL", "LABKIT_REQUIRE_BROWSER")


def forgotten_in_ci() -> list[str]:
    """The ``LABKIT_REQUIRE_*`` variables a CI run (``CI`` set) did not set: such a run would let
    a missing daemon, kernel or browser pass as skipped tests."""
    return [v for v in REQUIRE_VARS if not required(v)] if required("CI") else []
