"""Where exercises live: one module per lesson, loaded on first use.

Exercise ``"03-a"`` is looked up in ``labkit.exercises.lesson03``, a module that defines
``EXERCISES: tuple[Exercise, ...]`` and nothing else at import time. Adding a lesson means
adding ``lessonNN.py`` (no list to edit). ``register()`` adds an exercise at run time (a
course's own notebook, a test).
"""
from __future__ import annotations

import importlib
import pkgutil
import re

from ..errors import ExerciseError
from . import __path__ as pkg_path
from .spec import Exercise

_ID = re.compile(r"(\d{2})-[a-z0-9]+")
_EXTRA: dict[str, Exercise] = {}
_LOADED: dict[str, dict[str, Exercise]] = {}


def _lesson(lesson: str) -> dict[str, Exercise]:
    if lesson not in _LOADED:
        name = f"{__package__}.lesson{lesson}"
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            _LOADED[lesson] = {}
            return _LOADED[lesson]
        found: dict[str, Exercise] = {}
        for ex in getattr(module, "EXERCISES", ()):
            if not ex.id.startswith(f"{lesson}-"):
                raise ExerciseError(f"{name} defines exercise {ex.id!r}, which belongs to another lesson",
                                    fix=f"name it {lesson}-<letter> or move it to its own lesson module")
            if ex.id in found:
                raise ExerciseError(f"{name} defines exercise {ex.id!r} twice")
            found[ex.id] = ex
        _LOADED[lesson] = found
    return _LOADED[lesson]


def register(exercise: Exercise) -> Exercise:
    """Add (or replace) an exercise outside the lesson modules; returns it."""
    if not _ID.fullmatch(exercise.id):
        raise ExerciseError(f"exercise id {exercise.id!r} is not of the form NN-x",
                            fix="use the lesson number and a letter, e.g. '06-b'")
    _EXTRA[exercise.id] = exercise
    return exercise


def get(exercise_id: str) -> Exercise:
    """The exercise with this id; ``ExerciseError`` naming the known ids when there is none."""
    key = str(exercise_id).strip().lower()
    if key in _EXTRA:
        return _EXTRA[key]
    m = _ID.fullmatch(key)
    if m and key in _lesson(m.group(1)):
        return _lesson(m.group(1))[key]
    known = ", ".join(all_ids()) or "none"
    raise ExerciseError(f"no exercise {exercise_id!r}; known exercises: {known}",
                        fix="copy the id from the lesson's exercise cell, e.g. check('03-a', ...)")


def all_ids() -> list[str]:
    """Every exercise id: all lesson modules are imported (only when asked)."""
    ids = set(_EXTRA)
    for info in pkgutil.iter_modules(pkg_path):
        m = re.fullmatch(r"lesson(\d{2})", info.name)
        if m:
            ids.update(_lesson(m.group(1)))
    return sorted(ids)
