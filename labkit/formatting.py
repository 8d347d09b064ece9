"""Plain-text views of engine values for notebooks and the CLI (deterministic, nbval-friendly)."""
from __future__ import annotations

from typing import Sequence

from .engine.base import HistoryEntry, instruction_of


def format_history(entries: Sequence[HistoryEntry]) -> str:
    """``docker history``-like text, oldest first: layer number (or -), size, instruction."""
    rows = []
    for h in reversed(list(entries)):
        layer = "-" if h.layer_index is None else str(h.layer_index)
        rows.append(f"{layer:>5}  {h.size:>10,} B  {instruction_of(h.created_by)}")
    return "\n".join(["layer        size  instruction", *rows])


def format_build(record) -> str:
    """One line per step of a ``BuildRecord``: number, cache hit or miss, instruction, layer size."""
    total = len(record.steps)
    rows = []
    for s in record.steps:
        size = "" if s.layer_size is None else f"  ({s.layer_size:,} B)"
        rows.append(f"step {s.n}/{total}  {'cache hit ' if s.cached else 'built     '} {s.instruction}{size}")
    if record.failure is not None:
        rows.append(f"FAILED: {record.failure}")
    else:
        rows.append("built " + (", ".join(record.image.tags) if record.image and record.image.tags
                                else (record.image.short_id if record.image else "nothing")))
    return "\n".join(rows)
