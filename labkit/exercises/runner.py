"""``check("03-a", container=c)``: run an exercise's checks on the learner's real state.

Failed attempts are counted per exercise in this kernel; the hint shown gets more specific
with each failure (level 1, 2, then 3). Hidden checks run only when the notebook is being
graded (``LABKIT_GRADE_LOG`` set); each result is then also appended to the grade log
(``log.write``), which is how ``labkit grade`` collects the scores.
"""
from __future__ import annotations

from typing import Any

from ..engine import connect as connect_module
from ..engine.base import Engine
from ..errors import ExerciseError, LabkitError
from . import log, registry
from .spec import Check, CheckOutcome, CheckResult, Exercise
from .state import State, StateMissing

MAX_HINT_LEVEL = 3

_failures: dict[str, int] = {}        # exercise id -> failed attempts in this kernel
_attempts: dict[str, int] = {}        # exercise id -> all attempts in this kernel
_engine: list[Engine] = []            # the engine check() uses when none is passed


def use_engine(engine: Engine) -> Engine:
    """Make ``engine`` the one ``check()`` inspects when it is not given ``engine=``."""
    _engine[:] = [engine]
    return engine


def reset_attempts(exercise_id: str | None = None) -> None:
    """Forget failed attempts (all, or one exercise's): hints start again at level 1."""
    for store in (_failures, _attempts):
        if exercise_id is None:
            store.clear()
        else:
            store.pop(exercise_id, None)


def _default_engine() -> Engine:
    """The engine the learner is using: ``use_engine()``'s, else the one ``labkit.connect()``
    made (``connect.current()`` when the engine module offers it, else the one Engine held by
    a variable of the notebook), else a new ``connect()``. The simulator keeps its images in
    its engine object, so a new simulator would see none of the learner's work."""
    if _engine:
        return _engine[0]
    current = getattr(connect_module, "current", None)
    found = current() if callable(current) else None
    if found is None:
        found = _engine_in_notebook()
    return found if found is not None else use_engine(connect_module.connect(quiet=True))


def _engine_in_notebook() -> Engine | None:
    """The one Engine bound to a global of the notebook (``__main__``); None if none or several."""
    import sys
    main = sys.modules.get("__main__")
    found = {id(v): v for v in list(vars(main).values()) if isinstance(v, Engine)} if main else {}
    if len(found) > 1:
        raise ExerciseError("several engines are in use in this notebook; check() cannot tell "
                            "which one holds your work", fix="pass it: check(..., engine=engine)")
    return next(iter(found.values()), None)


def grading() -> bool:
    """True inside ``labkit grade``: hidden checks run and results are logged."""
    return log.enabled()


def _bind(ex: Exercise, args: tuple[Any, ...], kw: dict[str, Any]) -> dict[str, Any]:
    allowed = ex.params + ex.optional
    if len(args) > len(allowed):
        raise ExerciseError(f"check({ex.id!r}, ...) takes at most {len(allowed)} value(s) "
                            f"({', '.join(allowed) or 'none'}), got {len(args)}")
    bound = dict(zip(allowed, args))
    for name, value in kw.items():
        if name not in allowed:
            raise ExerciseError(f"check({ex.id!r}) has no argument {name!r}",
                                fix=f"it takes: {', '.join(allowed) or 'no arguments'}")
        if name in bound:
            raise ExerciseError(f"check({ex.id!r}) got {name!r} twice")
        bound[name] = value
    return bound


def _run_one(c: Check, state: State) -> tuple[bool, str]:
    try:
        verdict = c.run(state)
        return verdict.ok, verdict.detail
    except StateMissing as exc:
        return False, str(exc)
    except LabkitError as exc:
        return False, f"could not check this: {exc}"
    except Exception as exc:  # a bug in the check must not break the learner's notebook
        return False, f"internal error in check {c.name!r}: {type(exc).__name__}: {exc}"


def evaluate(ex: Exercise, state: State, *, include_hidden: bool) -> list[tuple[Check, bool, str]]:
    """Run the exercise's checks (hidden ones too when asked) on ``state``."""
    return [(c, *_run_one(c, state)) for c in ex.checks if include_hidden or not c.hidden]


def _message(c: Check, ok: bool, detail: str, seen: set[str]) -> str:
    if ok:
        text = c.success or c.name
        return f"\u2714 {text}" + (f" ({detail})" if detail else "")
    text = c.failure or c.name
    if detail and detail not in seen:
        seen.add(detail)
        return f"\u2718 {text}: {detail}"
    return f"\u2718 {text}"


def check(exercise_id: str, *args: Any, engine: Engine | None = None, **kw: Any) -> CheckResult:
    """Check exercise ``exercise_id`` against the learner's state in ``engine`` (or the
    engine ``labkit.connect()`` returned); returns a ``CheckResult`` shown green or red."""
    ex = registry.get(exercise_id)
    bound = _bind(ex, args, kw)
    include_hidden = grading()
    state = State(engine or _default_engine(), bound)
    try:
        ran = evaluate(ex, state, include_hidden=include_hidden)
    finally:
        state.close()
    _attempts[ex.id] = _attempts.get(ex.id, 0) + 1
    seen: set[str] = set()
    outcomes, messages = [], []
    for c, ok, detail in ran:
        msg = _message(c, ok, detail, seen)
        outcomes.append(CheckOutcome(c.name, ok, c.points if ok else 0, c.points, c.hidden, msg))
        if not c.hidden:
            messages.append(msg)
    hidden = [o for o in outcomes if o.hidden]
    if hidden:
        failed_hidden = sum(1 for o in hidden if not o.passed)
        messages.append(f"hidden checks: {len(hidden) - failed_hidden} of {len(hidden)} passed")
    all_ok = all(o.passed for o in outcomes)
    hint, level = None, 0
    if not all_ok:
        _failures[ex.id] = _failures.get(ex.id, 0) + 1
        level = min(MAX_HINT_LEVEL, _failures[ex.id])
        first = next((c for c, ok, _ in ran if not ok and not c.hidden and c.hints), None)
        hint = first.hint(level) if first else None
        level = level if hint else 0
    result = CheckResult(
        exercise=ex.id, passed=all_ok, points=sum(o.points for o in outcomes),
        max_points=sum(o.max_points for o in outcomes), messages=tuple(messages), hint=hint,
        hint_level=level, attempt=_attempts[ex.id], title=ex.title, outcomes=tuple(outcomes),
        hidden_pending=0 if include_hidden else sum(1 for c in ex.checks if c.hidden))
    log.write(result, getattr(state.engine, "name", ""))
    return result
