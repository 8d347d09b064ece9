"""Loading the lessons' reference solutions, which live outside the package in solutions/."""
from __future__ import annotations

import importlib.util
from types import ModuleType

from layout import ROOT  # noqa: E402  (the repository)


def load_solutions(relpath: str) -> ModuleType:
    """``solutions/<relpath>`` as a module (e.g. "01.py", "11/solve.py")."""
    path = ROOT / "solutions" / relpath
    spec = importlib.util.spec_from_file_location(f"solutions_{path.stem}_{path.parent.name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
