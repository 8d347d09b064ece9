"""The values labkit passes between its packages: frozen, engine-neutral, standard library only.

Every package may import this module; it imports nothing of labkit's. Re-running a notebook cell
never mutates one of these, so they are safe to share.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

LABEL = "org.labkit.managed"          # every object labkit creates carries LABEL=true
SESSION_LABEL = "org.labkit.session"  # ... and the session (kernel) that made it


@dataclass(frozen=True)
class ImageRef:
    id: str                            # "sha256:..." config digest (image id)
    tags: tuple[str, ...] = ()
    engine: str = ""                   # "sim" | "docker"

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[-1][:12]


@dataclass(frozen=True)
class HistoryEntry:
    created_by: str                    # the instruction, e.g. "RUN echo hi > /a"
    empty_layer: bool                  # True for ENV, CMD ... (no layer made)
    size: int                          # bytes of the layer it made (0 when empty)
    layer_index: int | None            # index into the image's layers, None when empty
    created: str = ""                  # RFC 3339 time as the engine reports it


_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s+")
_RUN = re.compile(r"^(?:\|\d+ (?:\S+=\S* )*)?/bin/sh -c ")


def instruction_of(created_by: str) -> str:
    """The Dockerfile instruction behind a history entry, as a learner wrote it.

    The classic builder records ``/bin/sh -c #(nop)  ENV X=1`` for metadata steps and COPY/ADD,
    ``/bin/sh -c echo hi`` (prefixed ``|N ARG=v ...`` when build args are in use) for RUN.
    """
    text = created_by.strip()
    if _NOP.match(text):
        return _NOP.sub("", text).strip()
    if _RUN.match(text):
        return "RUN " + _RUN.sub("", text, count=1)
    return text


@dataclass(frozen=True)
class Change:
    """One line of ``docker diff``: A added, C changed, D deleted."""
    kind: Literal["A", "C", "D"]
    path: str                          # absolute, like docker diff prints it ("/etc/hosts")

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


@dataclass(frozen=True)
class RunResult:
    container: str                     # container id (kept until removed or cleaned)
    exit_code: int
    output: str


@dataclass(frozen=True)
class ContainerSize:
    rw: int                            # bytes in the container's upper (writable) layer
    virtual: int                       # rw + the image's layers


@dataclass(frozen=True)
class TransferResult:
    """What one push or pull did on the engine: the image, and the word the engine used for each
    layer, bottom first, as Docker says it ("Pushed", "Layer already exists", "Pull complete",
    "Already exists"; a real daemon may also say "Mounted from <repo>")."""
    image: ImageRef
    statuses: tuple[str, ...]


@dataclass(frozen=True)
class LayerStorage:
    """Where the daemon keeps an image's layers: its storage driver and, when the driver names
    them (overlay2: each layer's ``diff`` directory), one directory per layer, bottom first."""
    driver: str
    dirs: tuple[Path, ...] = ()
