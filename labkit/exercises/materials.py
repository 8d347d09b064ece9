"""Files an exercise hands out: ``material("05-a", dest_dir)`` writes them and returns the path.

A lesson module offers them as ``MATERIALS = {"05-a": make_function}``; each function writes
deterministic content (same bytes on every machine) into a directory and returns the path.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import ExerciseError
from . import registry


def material(exercise_id: str, dest: str | Path = ".") -> Path:
    """Write the files exercise ``exercise_id`` needs into ``dest``; returns the main file."""
    ex = registry.get(exercise_id)
    module = importlib.import_module(f"{__package__}.lesson{ex.lesson}")
    make = getattr(module, "MATERIALS", {}).get(ex.id)
    if make is None:
        raise ExerciseError(f"exercise {ex.id} hands out no files",
                            fix="work on your own images; see the exercise's task")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    return make(dest)
