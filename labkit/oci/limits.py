"""Resource budgets for untrusted tars and images: every reader checks input against one
``Limits`` value, so no input can make labkit use memory or time out of proportion to what
the image really holds.

Defaults fit any real image with room to spare (a Debian or Python base image has about
5,000-30,000 entries and paths under 200 bytes); raise one with ``--limit NAME=N`` on the
command line, ``LABKIT_LIMITS="NAME=N,NAME=N"`` in the environment, or ``Limits(NAME=N)``.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from ..errors import LabkitError, LimitExceeded

ENV = "LABKIT_LIMITS"


@dataclass(frozen=True)
class Limits:
    path_depth: int = 256                 # components in one path
    path_bytes: int = 4096                # bytes in one path (Linux PATH_MAX)
    entries_per_layer: int = 2_000_000
    entries_per_image: int = 4_000_000
    memory_bytes: int = 512 * 2**20       # file data held in memory at once (simulator)
    unpacked_bytes: int = 64 * 2**30      # bytes a layer may decompress to
    ratio: int = 2048                     # decompressed / compressed, checked past ratio_floor;
                                          # deflate tops out near 1032:1, so no real gzip layer
                                          # trips it (bzip2/xz bombs go much higher)
    ratio_floor: int = 256 * 2**20        # below this many decompressed bytes, any ratio is fine
    json_bytes: int = 64 * 2**20          # one manifest, index or config
    json_depth: int = 64                  # nesting of one JSON document

    def check(self, limit: str, value: int, what: str) -> None:
        """Raise ``LimitExceeded`` when ``value`` is over the budget named ``limit``."""
        allowed = getattr(self, limit)
        if value > allowed:
            raise LimitExceeded(what, limit, value, allowed)

    def replace(self, pairs: Mapping[str, int]) -> "Limits":
        return dataclasses.replace(self, **pairs)

    def check_stream(self, unpacked: int, compressed: int, what: str) -> None:
        """The budgets of one layer stream: ``unpacked`` bytes of tar read so far, from
        ``compressed`` bytes of a compressed blob (0 when the blob is not compressed).
        The ratio is only checked once more than ``ratio_floor`` bytes came out."""
        if unpacked > self.unpacked_bytes:
            raise LimitExceeded(f"{what}: bytes of tar", "unpacked_bytes", unpacked, self.unpacked_bytes)
        if compressed and unpacked > self.ratio_floor and unpacked > self.ratio * compressed:
            raise LimitExceeded(f"{what}: {unpacked} bytes decompressed from {compressed}, a ratio",
                                "ratio", unpacked // compressed, self.ratio)


class Tally:
    """Running totals of one read of an image (not a value: one per ``flatten``, analysis,
    verification), checked against ``limits`` as each layer is counted."""

    __slots__ = ("entries", "label", "limits")

    def __init__(self, limits: Limits, label: str = "the image") -> None:
        self.limits, self.entries, self.label = limits, 0, label

    def add_layer(self, entries: int, layer: str) -> None:
        """Count the ``entries`` of one more layer (named ``layer``)."""
        self.entries += entries
        if self.entries > self.limits.entries_per_image:
            raise LimitExceeded(f"{self.label}: entries up to {layer}", "entries_per_image",
                                self.entries, self.limits.entries_per_image)


NAMES = tuple(f.name for f in dataclasses.fields(Limits))


def parse(items: Iterable[str], where: str) -> dict[str, int]:
    """``["path_depth=500", ...]`` -> ``{"path_depth": 500}``; a clear error for anything else."""
    out: dict[str, int] = {}
    for item in items:
        name, sep, value = item.strip().partition("=")
        name = name.strip()
        if not item.strip():
            continue
        if not sep or name not in NAMES:
            raise LabkitError(f"{where}: {item!r} is not NAME=N with a known limit",
                              fix="limits are " + ", ".join(NAMES))
        try:
            n = int(value.strip().replace("_", ""))
        except ValueError:
            n = -1
        if n <= 0:
            raise LabkitError(f"{where}: the value of {name} must be a positive whole number, "
                              f"not {value.strip()!r}", fix=f"e.g. {name}={getattr(Limits(), name) * 2}")
        out[name] = n
    return out


def current(extra: Iterable[str] = ()) -> Limits:
    """The defaults, then ``LABKIT_LIMITS``, then ``extra`` (the command line's ``--limit``)."""
    env = parse(os.environ.get(ENV, "").split(","), ENV)
    return Limits().replace({**env, **parse(extra, "--limit")})
