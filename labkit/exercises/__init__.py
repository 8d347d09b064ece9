"""Auto-checked exercises: ``check("03-a", container=c)`` inspects the learner's real state.

Exercises are declared one module per lesson (``lessonNN.py``) and loaded on first use; this
package does no work at import. Public names::

    check(exercise_id, *args, engine=None, **kw) -> CheckResult
    use_engine(engine)                  the engine check() inspects when engine= is not given
    get(exercise_id) -> Exercise, all_ids(), register(exercise)
    material(exercise_id, dest) -> Path files an exercise hands out (e.g. a puzzle image)
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "check": "runner", "use_engine": "runner", "reset_attempts": "runner", "grading": "runner",
    "get": "registry", "all_ids": "registry", "register": "registry",
    "Check": "spec", "Exercise": "spec", "CheckResult": "spec", "Verdict": "spec",
    "passed": "spec", "failed": "spec",
    "HashedAnswer": "answers",
    "State": "state", "StateMissing": "state",
    "material": "materials",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit.exercises' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__all__ = sorted(_EXPORTS)
