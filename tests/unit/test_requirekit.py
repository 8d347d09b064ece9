"""The suite's own guard: a CI run that forgets a LABKIT_REQUIRE_* variable fails at the start."""
from __future__ import annotations

import os
import subprocess
import sys

import layout
from requirekit import REQUIRE_VARS


def _run_pytest(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI" and not k.startswith("LABKIT_REQUIRE_")}
    env.update({k: v for k, v in env_changes.items() if v is not None})
    # collect one cheap test of the suite: the session start hook runs before collection
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(layout.TESTS / "unit" / "test_requirekit.py::test_nothing")],
                          env=env, capture_output=True, text=True, cwd=layout.ROOT, timeout=120)


def test_nothing():
    """The target of the subprocess runs."""


def test_a_ci_run_without_a_require_variable_stops_and_names_it():
    for forgotten in REQUIRE_VARS:
        env = {"CI": "true", **{v: "1" for v in REQUIRE_VARS}, forgotten: None}
        r = _run_pytest(env)
        assert r.returncode != 0 and forgotten in (r.stdout + r.stderr), (forgotten, r.stdout, r.stderr)


def test_a_ci_run_with_every_require_variable_or_a_local_run_goes_on():
    assert _run_pytest({"CI": "true", **{v: "1" for v in REQUIRE_VARS}}).returncode == 0
    assert _run_pytest({}).returncode == 0
