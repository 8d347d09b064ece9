"""The simulator's memory budget: the bytes of file content it holds (``Limits.memory_bytes``).

The simulator keeps the content of every file of its images in memory (``Node.data``), and an
``ADD`` of an archive unpacks into memory. So that no input (a 1 MB gzip of a GB of zeros, a
big saved image) can exhaust the machine's memory, what would be held is counted *before* it
is read, and held against ``memory_bytes`` of an ``oci.limits.Limits``:

* ``Held`` totals the content of layers, each layer and each content ``bytes`` object once
  (hard links, the layers images share and what ``COPY --from`` copies share theirs);
* ``Charge`` adds what one build step is about to read on top of that: the sizes of the
  context files it copies, the sizes an ``ADD`` archive's headers declare (counted in a first
  pass that keeps no content), each before the content is read;
* ``SimEngine.load`` checks the content sizes measured when the image was verified.

Going over raises ``LimitExceeded`` naming ``memory_bytes`` and how to raise it. The budget
is per build and per image (an image never holds more), not for the whole engine.
"""
from __future__ import annotations

from typing import Iterable

from ..errors import LimitExceeded
from ..fs.node import LayerDir
from ..oci.limits import Limits

__all__ = ["Charge", "Held", "content_bytes", "over_budget"]

WHAT = "bytes of file content the simulator would hold in memory"


def over_budget(where: str, value: int, limits: Limits) -> LimitExceeded:
    """The error for ``value`` bytes of content held, ``where`` naming what needed them."""
    return LimitExceeded(f"{where}: {WHAT}", "memory_bytes", value, limits.memory_bytes)


def content_bytes(layers: Iterable[LayerDir]) -> int:
    """Bytes of file content ``layers`` hold in memory, each ``bytes`` object once."""
    held = Held(None)
    held.add(layers)
    return held.total


class Held:
    """The file content a build (or an image) holds: the layers added so far, each layer and
    each content ``bytes`` object counted once. Not a value: one per build."""

    __slots__ = ("limits", "total", "_layers", "_data")

    def __init__(self, limits: Limits | None) -> None:
        self.limits = limits
        self.total = 0
        self._layers: dict[int, LayerDir] = {}   # id -> layer, kept so that ids stay unique
        self._data: set[int] = set()             # ids of the content counted (kept by the layers)

    def add(self, layers: Iterable[LayerDir]) -> int:
        """Count the layers not counted yet; returns the new total."""
        seen, data_ids = self._layers, self._data
        for layer in layers:
            if id(layer) in seen:
                continue
            seen[id(layer)] = layer
            for node in layer.values():
                data = node.data
                if data and id(data) not in data_ids:
                    data_ids.add(id(data))
                    self.total += len(data)
        return self.total

    def check(self, layers: Iterable[LayerDir], where: str) -> None:
        """``add`` the layers, then ``LimitExceeded`` if the total is over the budget."""
        total = self.add(layers)
        if self.limits is not None and total > self.limits.memory_bytes:
            raise over_budget(where, total, self.limits)

    def charge(self, where: str) -> "Charge":
        """A ``Charge`` for one step that starts from what is held now."""
        assert self.limits is not None
        return Charge(self.total, self.limits, where)


class Charge:
    """What one step is about to read into memory, on top of the ``held`` bytes: ``add`` each
    piece *before* reading it, so a piece that does not fit is never read."""

    __slots__ = ("total", "limits", "where")

    def __init__(self, held: int, limits: Limits, where: str) -> None:
        self.total, self.limits, self.where = held, limits, where

    def add(self, n: int, at: str = "") -> None:
        """Count ``n`` more bytes (``at`` names them for the error, e.g. the archive entry)."""
        self.total += n
        if self.total > self.limits.memory_bytes:
            raise over_budget(f"{self.where}{': ' + at if at else ''}", self.total, self.limits)
