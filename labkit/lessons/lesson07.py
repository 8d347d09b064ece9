"""Lesson 07 helpers: build each stage of a multi-stage Dockerfile on its own, measure image
sizes on this machine, score them like dive, and apply a ``.dive-ci`` gate the way
``labkit inspect --ci`` does.

Sizes are what the engine reports (``docker history``'s bytes per layer), so they are
measurements of the learner's own machine, not numbers from a book.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from ..analysis.efficiency import DiveScore, analyze, dive_score, evaluate_ci, parse_dive_ci
from ..analysis.report import ci_text
from ..build.dockerfile import parse
from ..errors import BuildError, LabkitError
from ..ui.viz import human_size, size_chart

STAGE_FILE = ".labkit-stage-{index}.Dockerfile"
INCL_BASE = "(incl. base)"          # marks numbers that include this machine's busybox layer


@dataclass(frozen=True)
class ImageSize:
    """One image's size as the engine reports it: layers, bytes, bytes above its base layer."""
    name: str
    image: object                     # engine.base.ImageRef
    layers: int
    total: int                        # sum of its layers' sizes (docker history)
    base: int                         # its bottom layer (labkit/base's busybox layer)

    @property
    def above_base(self) -> int:
        return self.total - self.base


@dataclass(frozen=True)
class SizeTable:
    rows: tuple[ImageSize, ...]

    def as_mapping(self) -> dict[str, int]:
        return {r.name: r.total for r in self.rows}

    def chart(self, title: str = "image sizes on this machine"):
        """``labkit.ui.viz.size_chart`` of the totals."""
        return size_chart(self.as_mapping(), title=title)

    def __str__(self) -> str:
        width = max([len(r.name) for r in self.rows] + [5])
        lines = [f"{'image':<{width}}  layers  {'added above the base':>20}  size"]
        for r in self.rows:
            lines.append(f"{r.name:<{width}}  {r.layers:>6}  {r.above_base:>18,} B  "
                         f"{human_size(r.total)} {INCL_BASE}")
        return "\n".join(lines)


def image_size(engine, image, name: str = "") -> ImageSize:
    """Measure ``image`` on ``engine`` from its history (bottom layer = the base)."""
    layered = sorted((h for h in engine.history(image) if not h.empty_layer and h.layer_index is not None),
                     key=lambda h: h.layer_index)
    if not layered:
        raise LabkitError(f"image {name or image} has no layers", fix="build it first")
    return ImageSize(name or str(getattr(image, "short_id", image)), image, len(layered),
                     sum(h.size for h in layered), layered[0].size)


def size_table(engine, images: Mapping[str, object] | Sequence[tuple[str, object]]) -> SizeTable:
    """A ``SizeTable`` of several images, in the order given (name -> ImageRef or record)."""
    items = list(images.items()) if isinstance(images, Mapping) else list(images)
    return SizeTable(tuple(image_size(engine, engine.ref(img), name) for name, img in items))


@dataclass(frozen=True)
class StageBuild:
    stage: str                        # the stage's name (or index)
    record: object                    # BuildRecord of the Dockerfile cut after this stage
    size: ImageSize


def stage_text(text: str, stage: int) -> str:
    """The Dockerfile ``text`` cut after stage ``stage`` (what ``--target`` builds)."""
    stages = parse(text).stages
    if not 0 <= stage < len(stages):
        raise BuildError(f"the Dockerfile has {len(stages)} stage(s), not a stage {stage}")
    if stage + 1 == len(stages):
        return text
    end = stages[stage + 1].line - 1               # lines before the next FROM
    return "".join(text.splitlines(keepends=True)[:end])


def build_stages(engine, context: str | Path, dockerfile: str = "Dockerfile", *,
                 tag: str = "stage") -> tuple[StageBuild, ...]:
    """Build every stage of ``dockerfile`` as its own image (like ``docker build --target``)
    and measure it. The cut Dockerfiles are written next to it and removed again."""
    ctx = Path(context)
    text = (ctx / dockerfile).read_text()
    out = []
    for st in parse(text).stages:
        name = STAGE_FILE.format(index=st.index)
        path = ctx / name
        path.write_text(stage_text(text, st.index))
        try:
            record = engine.build(ctx, dockerfile=name, tag=f"{tag}-{st.label}")
        finally:
            path.unlink()
        if not record.ok:
            raise BuildError(f"stage {st.label} of {dockerfile} failed: {record.failure}")
        out.append(StageBuild(st.label, record, image_size(engine, record.image, f"stage {st.label}")))
    return tuple(out)


def analyze_image(engine, image):
    """``labkit.analyze`` of an engine's image (an ImageRef, tag or BuildRecord)."""
    with engine.open_image(image) as img:
        return analyze(img, scan_secrets=False)


def above_base(img) -> DiveScore:
    """dive's numbers for the layers of an open image above the bottom one (labkit/base's
    busybox layer): the same on every machine, since only the base layer is this machine's."""
    return dive_score(img.iter_entries(i) for i in range(1, len(img.layers)))


def dive_above_base(engine, image) -> DiveScore:
    """``above_base`` of an engine's image (an ImageRef, tag or BuildRecord)."""
    with engine.open_image(image) as img:
        return above_base(img)


def efficiency_line(name: str, analysis, above_base: DiveScore) -> str:
    """dive's score in one line: efficiency of the layers above the base (compared on every
    machine), the whole image's (with this machine's base), wasted and invisible bytes."""
    d = analysis.dive
    return (f"{name}: efficiency above the base {above_base.efficiency:.4f}; whole image: "
            f"efficiency {d.efficiency:.4f} {INCL_BASE}, dive counts {d.wasted_bytes:,} "
            f"wasted bytes; {analysis.reclaimable_bytes:,} bytes stored but invisible at the top")


@dataclass(frozen=True)
class CiGate:
    """dive's CI verdicts on one image: ``passed`` is what ``labkit inspect --ci`` exits 0 on."""
    name: str
    results: tuple[object, ...]       # analysis.CiResult values

    @property
    def passed(self) -> bool:
        return not any(r.status == "FAIL" for r in self.results)

    def __str__(self) -> str:
        return f"{self.name}:\n" + ci_text(list(self.results)).rstrip("\n")


def ci_gate(analysis, rules: str | Path | None = None, *, name: str = "") -> CiGate:
    """Apply dive's CI rules to an analysed image (``analyze_image``), as ``labkit inspect
    --ci`` does: ``rules`` is a ``.dive-ci`` file (a Path) or its text; None means dive's
    defaults (lowestEfficiency 0.9, highestWastedBytes disabled, highestUserWastedPercent 0.1)."""
    if isinstance(rules, Path):
        try:
            rules = rules.read_text()
        except OSError as exc:
            raise LabkitError(f"cannot read the CI rules file {rules}: {exc.strerror}",
                              fix="pass the path of an existing .dive-ci file") from None
    parsed = parse_dive_ci(rules or "")
    return CiGate(name or (analysis.tags[0] if analysis.tags else analysis.image_id[:19]),
                  tuple(evaluate_ci(analysis.dive, parsed)))
