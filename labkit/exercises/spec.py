"""Values of the exercise system: a check, an exercise, and the result a learner sees.

An ``Exercise`` is a frozen, declarative spec: its ``Check`` s carry points, a hidden flag,
success and failure messages and up to three hints that get more specific after repeated
failures. A check is a function of the learner's real state (``labkit.exercises.state.State``)
returning a ``Verdict``; it never holds an answer in plain text (see ``answers``).

For authors: a PASSING verdict should carry no detail that differs between runs or engines
(ids, session names, step counts), so a lesson's saved output stays stable under nbval.
Failure details describe the learner's own state ("your image has 4 layers").
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class Verdict:
    """What one check found: passed or not, and a detail about the learner's own state."""
    ok: bool
    detail: str = ""


def passed(detail: str = "") -> Verdict:
    return Verdict(True, detail)


def failed(detail: str = "") -> Verdict:
    return Verdict(False, detail)


@dataclass(frozen=True)
class Check:
    """One graded condition of an exercise."""
    name: str                                   # short id, unique within the exercise
    run: Callable[[Any], Verdict]               # State -> Verdict
    points: int = 1
    hidden: bool = False                        # run only when grading; never explained
    success: str = ""                           # shown when it passes
    failure: str = ""                           # shown when it fails (plus the verdict's detail)
    hints: tuple[str, ...] = ()                 # level 1, 2, 3: vaguer to more specific

    def hint(self, level: int) -> str | None:
        if not self.hints or level < 1:
            return None
        return self.hints[min(level, len(self.hints)) - 1]


@dataclass(frozen=True)
class Exercise:
    """A registered exercise: ``check("00-a", image="app")`` runs its checks on that state."""
    id: str                                     # "LL-x": lesson number, letter
    title: str
    task: str                                   # what the learner has to do, one or two sentences
    params: tuple[str, ...]                     # keyword arguments check() needs ("image", ...)
    checks: tuple[Check, ...]
    optional: tuple[str, ...] = ()              # keyword arguments it may take

    @property
    def max_points(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def lesson(self) -> str:
        return self.id.split("-", 1)[0]


@dataclass(frozen=True)
class CheckOutcome:
    """One check's outcome inside a result (hidden ones stay out of what the learner sees)."""
    name: str
    passed: bool
    points: int
    max_points: int
    hidden: bool
    message: str


@dataclass(frozen=True)
class CheckResult:
    """What ``check()`` returns: shown green/red in Jupyter, as plain text under nbval."""
    exercise: str
    passed: bool
    points: int
    max_points: int
    messages: tuple[str, ...]
    hint: str | None = None
    hint_level: int = 0
    attempt: int = 1
    title: str = ""
    outcomes: tuple[CheckOutcome, ...] = field(default=(), repr=False)
    hidden_pending: int = 0                     # hidden checks not run outside grading

    @property
    def status(self) -> str:
        """``passed``, ``partial`` (some points) or ``failed``."""
        if self.passed:
            return "passed"
        return "partial" if self.points > 0 else "failed"

    def __str__(self) -> str:
        mark = "PASSED" if self.passed else "NOT YET"
        lines = [f"[{mark}] {self.exercise}" + (f" {self.title}" if self.title else "")
                 + f": {self.points}/{self.max_points} points"]
        lines += [f"  {m}" for m in self.messages]
        if self.hidden_pending:
            lines.append(f"  ({self.hidden_pending} hidden check(s) run when the notebook is graded)")
        if self.hint:
            lines.append(f"  hint {self.hint_level}: {self.hint}")
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        color, bg = ("#1a7f37", "#dafbe1") if self.passed else ("#cf222e", "#ffebe9")
        mark = "&#10004; passed" if self.passed else "&#10008; not yet"
        items = "".join(f"<li>{html.escape(m)}</li>" for m in self.messages)
        pending = (f"<div style='color:#57606a'>{self.hidden_pending} hidden check(s) run when "
                   f"the notebook is graded</div>" if self.hidden_pending else "")
        hint = (f"<details open><summary><b>Hint {self.hint_level}</b></summary>"
                f"{html.escape(self.hint)}</details>" if self.hint else "")
        return (f"<div class='labkit-check' style='border-left:4px solid {color};background:{bg};"
                f"padding:6px 10px;margin:4px 0'>"
                f"<b style='color:{color}'>{mark}</b> &mdash; <b>{html.escape(self.exercise)}</b> "
                f"{html.escape(self.title)} <span style='float:right'>{self.points}/{self.max_points}"
                f" points</span><ul style='margin:4px 0'>{items}</ul>{pending}{hint}</div>")
