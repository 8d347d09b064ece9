"""Lesson 06 helpers: predict a build's cache hits with ``labkit.build.cache``, then build for real
and put the prediction beside what the engine did, step by step.

``CacheLab(engine, context)`` keeps the model's cache state between builds, so each
``lab.build(...)`` is predicted from exactly the builds before it (the first one should be
``no_cache=True``: the model starts from an empty cache, a real daemon may not).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..build import cache
from ..build.cache import CacheState
from ..build.dockerfile import parse
from ..engine import session
from ..errors import BuildError
from ..values import LABEL, SESSION_LABEL


@dataclass(frozen=True)
class StepVerdict:
    """One step that probes the cache: what the model predicted and what the engine did."""
    step: int
    instruction: str
    predicted: bool                        # the model said: from the cache
    built: bool                            # the engine said: from the cache (``StepRecord.cached``)
    reason: str                            # the model's reason

    @property
    def agree(self) -> bool:
        return self.predicted == self.built

    def __str__(self) -> str:
        mark = "" if self.agree else "   <-- the model was wrong here"
        return (f"step {self.step:>2}  predicted {'CACHED' if self.predicted else 'BUILD '}  "
                f"engine {'CACHED' if self.built else 'BUILT '}  {self.instruction}{mark}")


@dataclass(frozen=True)
class CacheRun:
    """A predicted and then real build: ``prediction`` (``cache.Prediction``), ``record``
    (``buildevents.BuildRecord``) and one ``StepVerdict`` per Dockerfile step."""
    dockerfile: str
    prediction: object
    record: object
    steps: tuple[StepVerdict, ...]

    @property
    def agree(self) -> bool:
        return all(s.agree for s in self.steps)

    @property
    def rebuilt(self) -> tuple[StepVerdict, ...]:
        return tuple(s for s in self.steps if not s.built)

    def first_miss(self) -> StepVerdict | None:
        return next((s for s in self.steps if not s.predicted), None)

    def reasons(self) -> str:
        """The model's reason for the first step it predicted to rebuild (or 'all cached')."""
        miss = self.first_miss()
        if miss is None:
            return "every step predicted from the cache"
        return f"first rebuilt step {miss.step}: {miss.reason}"

    def __str__(self) -> str:
        lines = [str(s) for s in self.steps]
        hits = sum(s.built for s in self.steps)
        lines.append(f"{hits} of {len(self.steps)} steps from the cache; prediction "
                     + ("and build agree on every step" if self.agree else "and build DISAGREE"))
        return "\n".join(lines)


def engine_labels() -> dict[str, str]:
    """The labels every labkit engine adds to a build (Docker appends them as LABEL steps)."""
    return {LABEL: "true", SESSION_LABEL: session.session_id()}


class CacheLab:
    """Predict, then build, on one engine and one build context, remembering the cache the
    model has seen. ``history`` lists every ``CacheRun`` so far."""

    def __init__(self, engine, context: str | Path) -> None:
        self.engine = engine
        self.context = Path(context)
        self.state = CacheState()
        self.history: list[CacheRun] = []

    def predict(self, dockerfile: str = "Dockerfile", *, build_args: Mapping[str, str] | None = None,
                no_cache: bool = False):
        """``cache.predict`` for this Dockerfile now, from the builds made so far."""
        path = self.context / dockerfile
        try:
            text = path.read_text()
        except OSError as exc:
            raise BuildError(f"cannot read {path}: {exc.strerror}",
                             fix="write the Dockerfile into the build context first") from None
        args = dict(build_args or {})
        return cache.predict(parse(text, build_args=args), self.context, cache=self.state,
                             build_args=args, no_cache=no_cache, labels=engine_labels())

    def build(self, dockerfile: str = "Dockerfile", *, tag: str = "cache-lesson",
              build_args: Mapping[str, str] | None = None, no_cache: bool = False) -> CacheRun:
        """Predict, build for real, and compare. A failed build raises ``BuildError``."""
        prediction = self.predict(dockerfile, build_args=build_args, no_cache=no_cache)
        record = self.engine.build(self.context, dockerfile=dockerfile, tag=tag, no_cache=no_cache,
                                   buildargs=dict(build_args or {}))
        if not record.ok:
            raise BuildError(f"building {dockerfile} failed: {record.failure}",
                             fix="read the step's output above and fix the Dockerfile")
        self.state = self.state.record(prediction, record)
        real = {s.n: s.cached for s in record.steps}
        steps = tuple(StepVerdict(p.step, p.instruction, p.hit, real.get(p.step, False), p.reason)
                      for p in prediction.steps if p.line)          # build labels have line 0
        run = CacheRun(dockerfile, prediction, record, steps)
        self.history.append(run)
        return run


def touch(path: str | Path, seconds: float = 3600) -> tuple[float, float]:
    """Move a file's modification time ``seconds`` later and leave its content alone;
    returns (old, new) mtime."""
    p = Path(path)
    old = p.stat().st_mtime
    os.utime(p, (old + seconds, old + seconds))
    return old, p.stat().st_mtime
