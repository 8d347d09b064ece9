"""Run pytest as an unprivileged user, with this venv's packages, from root.

    python tests/oracles/kernel/run_as_user.py [--user NAME] [pytest arguments ...]

For checking the user-namespace route as the learner it is for: an ordinary user on a laptop
or a small hub. The venv's own interpreter may not be runnable by that user (e.g. it lives
under /root), so this finds one of the same major.minor the user can run (the venv's compiled
packages need that ABI), adds the venv's site-packages (labkit is installed there, editable)
and runs pytest in the repository as that user, in a fresh world-writable TMPDIR that must
be empty again afterwards. Nothing is copied. The user defaults to
``LABKIT_UNPRIVILEGED_USER`` or nobody. Exits with pytest's status (2 when the TMPDIR was
left dirty).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from usernskit import REPO, python_for, unprivileged_user  # noqa: E402

_CODE = ("import site, sys; site.addsitedir(sys.argv[1]); sys.argv[1:2] = []; "
         "import pytest; sys.exit(pytest.main(sys.argv[1:]))")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--user", default=unprivileged_user())
    args, rest = ap.parse_known_args(argv)
    if os.geteuid() != 0:
        print("run_as_user.py: switching user needs root; as this user, run pytest directly",
              file=sys.stderr)
        return 2
    python = python_for(args.user, same_minor=True)
    if python is None:
        print(f"run_as_user.py: no Python {sys.version_info[0]}.{sys.version_info[1]} that "
              f"{args.user} may run", file=sys.stderr)
        return 2
    site_packages = sysconfig.get_paths()["purelib"]
    tmp = Path(tempfile.mkdtemp(prefix="labkit-as-user-"))
    tmp.chmod(0o1777)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1")
    cmd = ["runuser", "-u", args.user, "--", python, "-s", "-c", _CODE, site_packages,
           "-p", "no:cacheprovider", *(rest or ["tests/oracles/kernel/"])]
    print(f"run_as_user.py: {args.user} runs pytest with {python} + {site_packages}",
          file=sys.stderr)
    try:
        status = subprocess.run(cmd, cwd=REPO, env=env, check=False).returncode
        left = sorted(p.name for p in tmp.iterdir())
        if left:
            print(f"run_as_user.py: left in TMPDIR by the run: {left}", file=sys.stderr)
            status = status or 2
        return status
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
