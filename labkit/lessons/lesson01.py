"""Lesson 01 helpers: how many steps of a history made a layer, and where one path lives in
an image's layer stack (which layer added it, changed it, deleted it)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from ..errors import LabkitError
from ..fs.layers import apply
from ..fs.node import Tree, norm_path
from ..ui.viz import history_bottom_first
from ..values import HistoryEntry, instruction_of


@dataclass(frozen=True)
class StepCount:
    """What the steps of a history did: made a layer, or changed only the image's config."""
    steps: int
    layers: int
    config_only: int

    def __str__(self) -> str:
        return (f"{self.steps} steps: {self.layers} made a layer, "
                f"{self.config_only} changed only the config")


def count_steps(history: Sequence[HistoryEntry]) -> StepCount:
    """Count the steps of ``history`` (either order) that made a layer and those that did not."""
    made = sum(1 for h in history if not h.empty_layer and h.layer_index is not None)
    return StepCount(steps=len(history), layers=made, config_only=len(history) - made)


@dataclass(frozen=True)
class PathEvent:
    """One layer's effect on one path."""
    layer: int
    action: Literal["added", "changed", "deleted"]
    instruction: str                   # the step that made the layer, as written in a Dockerfile

    def __str__(self) -> str:
        return f"layer {self.layer}: {self.action:<7}  by  {self.instruction or '(no history)'}"


def path_history(image, path: str) -> tuple[PathEvent, ...]:
    """Every layer of an opened image (``labkit.open_image``) that adds, changes or deletes
    ``path``, bottom first. A path deleted with its parent directory (a whiteout of the
    directory, or an opaque directory) counts as deleted by that layer."""
    key = norm_path(path)
    if not key:
        raise LabkitError("the root directory is in every layer",
                          fix="ask about a path inside the image, e.g. '/app/version.txt'")
    steps = {h.layer_index: instruction_of(h.created_by) for h in image.history
             if h.layer_index is not None}
    events: list[PathEvent] = []
    tree: Tree = {}
    for i in range(len(image.layers)):
        layer = image.layer_dir(i)
        before = tree.get(key)
        tree = apply(tree, layer)
        after = tree.get(key)
        action = None
        if before is None and after is not None:
            action = "added"
        elif before is not None and after is None:
            action = "deleted"
        elif after is not None and key in layer:
            action = "changed"
        if action:
            events.append(PathEvent(i, action, steps.get(i, "")))
    return tuple(events)


def format_path_history(path: str, events: Sequence[PathEvent]) -> str:
    """``path_history`` as text, one line per layer that touched the path."""
    shown = "/" + norm_path(path)
    if not events:
        return f"{shown}: no layer touches it"
    return "\n".join([f"{shown}:", *(f"  {e}" for e in events)])


def layer_table(image) -> str:
    """One row per layer of an opened image, bottom first: its index, the start of its diffID
    (the layer's id: the SHA-256 of its uncompressed tar), its size as ``docker history``
    counts it, and the instruction that made it."""
    steps = {h.layer_index: instruction_of(h.created_by) for h in image.history
             if h.layer_index is not None}
    rows = [f"{'layer':>5}  {'diffID':<19}  {'size':>12}  instruction"]
    for la in image.layers:
        rows.append(f"{la.index:>5}  {la.diff_id[:19]:<19}  {max(la.size, 0):>10,} B  "
                    f"{steps.get(la.index, '') or '(no history)'}")
    return "\n".join(rows)


def format_recorded(history: Sequence[HistoryEntry]) -> str:
    """Each step as the builder recorded it (``created_by``) above the instruction it comes
    from (``instruction_of``), oldest first."""
    rows = []
    for h in history_bottom_first(history):
        mark = "-" if h.empty_layer or h.layer_index is None else str(h.layer_index)
        rows += [f"{mark:>2}  recorded:    {h.created_by}".rstrip(), f"{'':>2}  instruction: {instruction_of(h.created_by)}"]
    return "\n".join(rows)
