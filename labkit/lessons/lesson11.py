"""Lesson 11 helpers: the capstone's build context (with a fake key written at lesson time)
and a scorecard that measures images on the learner's own engine, one row per image: layers,
bytes above the base, dive efficiency of those layers, secrets found in any layer.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..analysis.efficiency import analyze
from .lesson07 import above_base
from ..errors import BuildError, LabkitError
from ..exercises.lesson11 import SIZE_RATIO, added_bytes
from .examples import example
from .lesson08 import KEY_NAME, write_fake_key

EXAMPLE = "capstone-bad"


def capstone_context(dest: str | Path | None = None) -> Path:
    """A fresh copy of the capstone-bad example with a fake private key written into it."""
    context = example(EXAMPLE, dest)
    write_fake_key(context, KEY_NAME, seed="labkit-capstone")
    return context


def start_dockerfile(context: str | Path, name: str = "my.Dockerfile") -> Path:
    """The learner's Dockerfile in the capstone context: a copy of the bad one the first time,
    left alone afterwards (running the cell again never loses an edit)."""
    path = Path(context) / name
    if not path.exists():
        path.write_text((Path(context) / "Dockerfile").read_text())
    return path


def edit_source(context: str | Path) -> Path:
    """A source-only edit: give ``src/version.sh`` new content, different on every call (so a
    daemon's cache from an earlier run cannot match it); returns the file's path."""
    path = Path(context) / "src" / "version.sh"
    path.write_text(f'#!/bin/sh\necho "capstone build {uuid.uuid4().hex[:12]}"\n')
    return path


def build_and_rebuild(engine, context: str | Path, dockerfile: str = "my.Dockerfile", *,
                      tag: str = "capstone"):
    """What 11-a asks for: build ``dockerfile``, make a source-only edit (``edit_source``),
    build again; returns the rebuild's ``BuildRecord`` (``BuildError`` if the first build fails)."""
    first = engine.build(context, dockerfile=dockerfile, tag=tag)
    if not first.ok:
        raise BuildError(f"building {dockerfile} failed: {first.failure}",
                         fix="read the step's output and fix the Dockerfile")
    edit_source(context)
    return engine.build(context, dockerfile=dockerfile, tag=tag)


@dataclass(frozen=True)
class Score:
    """One image measured on an engine."""
    name: str
    layers: int
    above_base: int               # bytes of the layers above the bottom one (engine history)
    efficiency: float             # dive's score of the layers above the base (machine-independent)
    wasted: int                   # dive's wasted bytes
    secrets: tuple[str, ...]      # "/path (kind), layer N" for every finding

    def __str__(self) -> str:
        return (f"{self.name}: {self.layers} layers, {self.above_base:,} B above the base, "
                f"efficiency above the base {self.efficiency:.4f}, {len(self.secrets)} secret(s)")


@dataclass(frozen=True)
class Scorecard:
    rows: tuple[Score, ...]

    def ratio(self, name: str, of: str) -> float:
        """``name``'s bytes above the base as a share of ``of``'s."""
        rows = {r.name: r for r in self.rows}
        if name not in rows or of not in rows:
            raise LabkitError(f"the scorecard has no row {name if name not in rows else of!r}",
                              fix=f"use one of: {', '.join(rows)}")
        return rows[name].above_base / rows[of].above_base if rows[of].above_base else float("inf")

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.rows] + [5])
        lines = [f"{'image':<{width}}  layers  {'above the base':>14}  efficiency above it  secrets"]
        for r in self.rows:
            lines.append(f"{r.name:<{width}}  {r.layers:>6}  {r.above_base:>12,} B  "
                         f"{r.efficiency:>19.4f}  {len(r.secrets):>7}")
        for r in self.rows:
            lines += [f"  {r.name}: {s}" for s in r.secrets]
        return "\n".join(lines)


def score(engine, image, name: str = "") -> Score:
    """Measure one image (an ImageRef, tag or BuildRecord) on ``engine``."""
    ref = engine.ref(image)
    with engine.open_image(ref) as img:
        a = analyze(img)
        efficiency = above_base(img).efficiency
    found = tuple(f"/{f.path} ({f.kind}), layer {f.added_by}"
                  + ("" if f.visible else f", {f.how} by layer {f.removed_by}") for f in a.secrets)
    return Score(name or ref.short_id, len(a.layers), added_bytes(engine, ref),
                 efficiency, a.dive.wasted_bytes, found)


def size_limit(engine, bad) -> int:
    """Exercise 11-a's size limit on this engine: ``SIZE_RATIO`` of the bytes the bad image
    adds above its base layer, measured here."""
    return int(added_bytes(engine, engine.ref(bad)) * SIZE_RATIO)


def scorecard(engine, images: Mapping[str, object]) -> Scorecard:
    """A ``Scorecard`` of several images (name -> image), in the order given."""
    return Scorecard(tuple(score(engine, img, name) for name, img in images.items()))
