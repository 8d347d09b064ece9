"""Build contexts shipped with labkit for the lessons (``labkit/data/examples/<name>/``)."""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from ..engine.session import scratch
from ..errors import LabkitError


def example_names() -> list[str]:
    root = resources.files("labkit") / "data" / "examples"
    return sorted(p.name for p in root.iterdir() if p.is_dir())


def example(name: str, dest: str | Path | None = None) -> Path:
    """A fresh copy of the example build context ``name`` (in a new scratch directory of this
    session, removed when the process ends, unless ``dest``)."""
    root = resources.files("labkit") / "data" / "examples" / name
    if not root.is_dir():
        raise LabkitError(f"no example called {name!r}",
                          fix=f"use one of: {', '.join(example_names())}")
    target = Path(dest) if dest else scratch(name) / name
    with resources.as_file(root) as src:
        shutil.copytree(src, target, dirs_exist_ok=True)
    return target
