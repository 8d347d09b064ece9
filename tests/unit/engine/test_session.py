"""A session's scratch files live under one root that goes when the process ends."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, os, sys
import labkit
from labkit.engine.session import scratch
ctx = labkit.example("hello")
mine = scratch("lesson01")
(mine / "f.txt").write_text("x")
seen = {"ctx": str(ctx), "mine": str(mine), "root": str(mine.parent),
        "exists": [ctx.is_dir(), (mine / "f.txt").is_file()]}
pid = os.fork()
if pid == 0:                     # a forked child exits normally: the parent's root must stay
    sys.exit(0)
os.waitpid(pid, 0)
seen["after_child"] = mine.is_dir()
print(json.dumps(seen))
"""


def test_scratch_files_exist_while_the_session_runs_and_go_when_it_ends(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True,
                         check=True).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["exists"] == [True, True] and seen["after_child"] is True
    root = Path(seen["root"])
    assert root.parent == tmp_path and Path(seen["ctx"]).is_relative_to(root)
    assert not root.exists() and list(tmp_path.iterdir()) == []
