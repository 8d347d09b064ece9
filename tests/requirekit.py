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
