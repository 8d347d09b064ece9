"""Packaging: what the sdist and the wheel hold, and that a learner's install of the wheel works.

* the sdist is the whole project, and its tests run from it unpacked;
* the wheel is the package, its data and the lessons (``labkit/notebooks/``, mapped from the
  repository's ``notebooks/`` at build time), with SPDX licence metadata;
* the wheel installed alone into a fresh venv with the learner's extra ``[lab]`` (no test tools)
  copies the lessons out with ``labkit notebooks DEST`` and runs lesson 00 in a fresh kernel on
  the simulator.

The tests marked ``builds`` build for real (``python -m build``: the sdist from a copy of this
tree, so no build/ or *.egg-info lands in it, then the wheel from that sdist) and install from
PyPI or pip's cache: one to two minutes. ``-m 'not builds'`` leaves them out.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import layout
import pytest
from packaging.requirements import Requirement  # pytest's own dependency

try:
    import tomllib
except ModuleNotFoundError:   # Python 3.10: pytest's own dependency
    import tomli as tomllib

ROOT = layout.ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LESSONS = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
TEST_TOOLS = {"pytest", "nbval", "hypothesis", "playwright", "dockerfile-parse", "build", "ruff", "mutmut"}
NO_DAEMON = "unix:///nonexistent/labkit-packaging-test.sock"   # nothing here talks to Docker

# not source: never copied to build from, never in the sdist
NOT_SOURCE_ANYWHERE = {"__pycache__", ".pytest_cache", ".hypothesis", ".ruff_cache", ".ipynb_checkpoints"}
NOT_SOURCE_AT_TOP = {".git", ".venv", "build", "dist", "tmp"}   # labkit/build/ is source


def _not_source(folder: str, names: list[str]) -> set[str]:
    top = Path(folder) == ROOT
    return {n for n in names if n in NOT_SOURCE_ANYWHERE or n.endswith((".egg-info", ".pyc"))
            or (top and n in NOT_SOURCE_AT_TOP)}


def _extra(name: str) -> set[str]:
    """Distribution names an extra asks for (labkit's own extras in it expanded)."""
    out: set[str] = set()
    for req in map(Requirement, PYPROJECT["project"]["optional-dependencies"][name]):
        if req.name == "labkit":
            out = out.union(*map(_extra, req.extras))
        else:
            out.add(req.name.lower())
    return out


# --- the configuration, read without building (fast) -----------------------------------------

def test_every_package_of_labkit_is_listed_for_the_wheel():
    """pyproject.toml lists the packages by hand (for labkit.notebooks): a new one must be added."""
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for p in layout.PACKAGE.rglob("__init__.py")}
    config = PYPROJECT["tool"]["setuptools"]
    assert set(config["packages"]) == on_disk | {"labkit.notebooks"}
    assert config["package-dir"] == {"labkit.notebooks": "notebooks"}
    assert config["package-data"]["labkit.notebooks"] == ["*.ipynb"]


def test_license_metadata_is_spdx_with_the_file():
    project = PYPROJECT["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "labkit contributors" in text
    assert "setuptools>=77" in PYPROJECT["build-system"]["requires"]   # PEP 639 support


def test_learner_extras_hold_no_test_tools():
    assert not (_extra("lab") | _extra("docker")) & TEST_TOOLS
    assert TEST_TOOLS <= _extra("dev") and _extra("all") >= _extra("lab") | _extra("docker") | _extra("dev")


# --- the real builds ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Built:
    src: Path          # the copy of this tree the sdist was built from
    sdist: Path
    wheel: Path        # built from the sdist
    work: Path


def _run(cmd: list, *, timeout: float, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(c) for c in cmd], check=False, capture_output=True, text=True, timeout=timeout,
                       **kw)
    assert r.returncode == 0, (f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                               f"{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    return r


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without what would leak the checkout, CI's demands (LABKIT_REQUIRE_*) or
    a Docker daemon in: the code run here needs none of them."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "CI", "LABKIT_ENGINE")
           and not k.startswith("LABKIT_REQUIRE_")}
    env["DOCKER_HOST"] = NO_DAEMON
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Built:
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    shutil.copytree(ROOT, src, ignore=_not_source, symlinks=True)
    _run([sys.executable, "-m", "build", "--outdir", work / "dist", src], timeout=900, env=_clean_env())
    (sdist,) = (work / "dist").glob("labkit-*.tar.gz")
    (wheel,) = (work / "dist").glob("labkit-*.whl")
    return Built(src, sdist, wheel, work)


@pytest.mark.builds
def test_the_sdist_holds_the_whole_project(built: Built):
    with tarfile.open(built.sdist) as tar:
        members = {m.name.partition("/")[2] for m in tar.getmembers() if m.isfile() or m.issym()}
        modes = {m.name.partition("/")[2]: m.mode for m in tar.getmembers()}
    tree = {p.relative_to(built.src).as_posix() for p in built.src.rglob("*") if not p.is_dir()}
    assert sorted(tree - members - {".gitignore"}) == []
    for must in ("LICENSE", "README.md", "MANIFEST.in", "tests/conftest.py", "tests/layout.py",
                 "tests/cases/dockerignore/context/.dockerignore",
                 "labkit/data/examples/cache-app/.dockerignore",
                 "notebooks/sanitize.cfg", "notebooks/src/00-start-here.py", "scripts/setup.sh",
                 "benchmarks/bench_flatten.py", "docs/ARCHITECTURE.md", "solutions/11/Dockerfile"):
        assert must in members, must
    assert {f"notebooks/{n}" for n in LESSONS} <= members
    assert not [m for m in members if "__pycache__" in m or m.endswith(".pyc")]
    assert modes["lab.sh"] & 0o111 and modes["test.sh"] & 0o111


@pytest.mark.builds
def test_the_tests_run_from_the_unpacked_sdist(built: Built):
    unpacked = built.work / "unpacked"
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(built.sdist) as tar:
        tar.extractall(unpacked, **safe)
    (top,) = unpacked.iterdir()
    env = _clean_env()
    where = _run([sys.executable, "-c", "import labkit; print(labkit.__file__)"], cwd=top, env=env,
                 timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(top.resolve()), "the sdist's own labkit is tested"
    # a quick subset that needs no Docker: conftest, layout, tarkit, cases and notebooks all used
    r = _run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
              "tests/unit/test_architecture.py", "tests/unit/cli", "tests/unit/build/test_dockerfile.py",
              "tests/lessons/test_notebook_sources.py"], cwd=top, env=env, timeout=600)
    assert " passed" in r.stdout


@pytest.mark.builds
def test_the_wheel_holds_the_package_and_the_lessons(built: Built):
    with zipfile.ZipFile(built.wheel) as whl:
        names = set(whl.namelist())
        meta = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    modules = {p.relative_to(built.src).as_posix() for p in (built.src / "labkit").rglob("*.py")}
    assert sorted(modules - names) == []
    shipped = sorted(n for n in names if n.startswith("labkit/notebooks/"))
    assert shipped == [f"labkit/notebooks/{n}" for n in LESSONS]   # no sanitize.cfg, no src/
    assert "labkit/data/examples/cache-app/.dockerignore" in names
    assert not [n for n in names if n.startswith(("tests/", "notebooks/", "solutions/"))]
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta


@pytest.mark.builds
def test_a_learner_install_of_the_wheel_runs_lesson_00(built: Built):
    venv = built.work / "learner-venv"
    _run([sys.executable, "-m", "venv", venv], timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py, env = bindir / "python", _clean_env()
    _run([py, "-m", "pip", "install", "-q", f"{built.wheel}[lab]"], timeout=1200, env=env, cwd=built.work)
    listed = json.loads(_run([py, "-m", "pip", "list", "--format=json"], timeout=120, env=env).stdout)
    installed = {d["name"].lower() for d in listed}
    assert "labkit" in installed and not installed & TEST_TOOLS, installed & TEST_TOOLS

    dest = built.work / "my-lessons"
    out = _run([bindir / "labkit", "notebooks", dest], timeout=120, env=env, cwd=built.work).stdout
    assert f"copied {len(LESSONS)} lesson notebooks" in out
    assert sorted(p.name for p in dest.iterdir()) == LESSONS

    # a fresh kernel: no kernelspec or config of this machine's user, the venv's own python3 kernel
    isolated = {k: str(built.work / "home" / k.lower())
                for k in ("JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "IPYTHONDIR")}
    r = _run([py, "-c", RUN_NOTEBOOK, dest / "00-start-here.ipynb"], timeout=900, cwd=built.work,
             env=_clean_env(LABKIT_ENGINE="sim", JUPYTER_PLATFORM_DIRS="1", **isolated))
    outputs = json.loads(r.stdout.strip().splitlines()[-1])
    assert outputs[0].startswith("labkit engine: sim"), outputs[0]
    prefix, module = outputs[-1].splitlines()
    assert Path(prefix).resolve() == venv.resolve(), "the kernel ran in the learner's venv"
    assert Path(module).resolve().is_relative_to(venv.resolve()), "labkit came from the installed wheel"


# Run in the learner's venv: execute a notebook in a fresh kernel (its folder as the working
# directory), failing at the first cell error; then print each code cell's printed text as JSON.
# One cell is added at the end: where the kernel's Python and labkit came from.
RUN_NOTEBOOK = r"""
import json, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
path = Path(sys.argv[1])
nb = nbformat.read(path, as_version=4)
nb.cells.append(nbformat.v4.new_code_cell("import sys, labkit\nprint(sys.prefix)\nprint(labkit.__file__)"))
NotebookClient(nb, timeout=600, kernel_name="python3",
               resources={"metadata": {"path": str(path.parent)}}).execute()
texts = ["".join(o.get("text", "") for o in c.get("outputs", []) if o.get("output_type") == "stream")
         for c in nb.cells if c.cell_type == "code"]
print(json.dumps(texts))
"""
