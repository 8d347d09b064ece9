"""The explorers work with ipywidgets 7 as well as 8 (Colab and older VS Code ship 7): each one
is built and driven in a fresh virtual environment that has ipywidgets 7 installed."""
from __future__ import annotations

import json
import subprocess
import sys
import venv

import pytest

import layout

DRIVE = r"""
import json, ipywidgets
import labkit
from labkit.ui.widgets import CacheExplorer, LayerExplorer, demo_mount, overlay_playground
seen = {"version": ipywidgets.__version__}
pg = overlay_playground()
pg.append_button.click()
pg.delete_button.click()
seen["playground"] = pg.log[-2:]
mount = demo_mount()
explorer = LayerExplorer(list(reversed(mount.lowers)))
explorer.next_button.click()
seen["explorer"] = type(explorer.widget).__name__
ctx = labkit.example("cache-app")
cache = CacheExplorer((ctx / "Dockerfile").read_text(), context=ctx)
cache.dockerfile.value = cache.dockerfile.value.replace("COPY", "COPY --chown=1:1", 1)
cache.predict_button.click()
seen["cache"] = cache.lines
print(json.dumps(seen))
"""


@pytest.fixture(scope="module")
def ipywidgets7(tmp_path_factory):
    env_dir = tmp_path_factory.mktemp("ipywidgets7")
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    r = subprocess.run([str(python), "-m", "pip", "install", "-q", "ipywidgets>=7.8,<8", "graphviz"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return python


def _drive(python) -> dict:
    out = subprocess.run([str(python), "-c", DRIVE], capture_output=True, text=True, timeout=300,
                         env={"PYTHONPATH": str(layout.ROOT), "PATH": "/usr/bin:/bin",
                              "LABKIT_ENGINE": "sim"})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_explorers_behave_the_same_on_ipywidgets_7_and_8(ipywidgets7):
    old, new = _drive(ipywidgets7), _drive(sys.executable)
    assert old["version"].startswith("7.") and new["version"].startswith("8.")
    assert old["playground"] == new["playground"] and len(old["playground"]) == 2
    assert old["explorer"] == new["explorer"] == "VBox"
    assert old["cache"] == new["cache"] and any("MISS" in line for line in old["cache"])
