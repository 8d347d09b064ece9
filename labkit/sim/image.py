"""An image of the simulator: its layer directories and a Docker-style config, as one value.

``SimImage(layers, config)`` holds the layers bottom first (``layers[0]`` is the base) and
the image config JSON Docker would write (``architecture``, ``os``, ``config`` with ``Env``,
``Cmd``, ``Entrypoint``, ``WorkingDir``, ``User``, ``Labels``, ``ExposedPorts``, ``rootfs``
with ``diff_ids``, ``history``). Like Docker, the image id is the digest of the config::

    img.id        # "sha256:" + sha256 of the canonical config JSON
    img.diff_ids  # one "sha256:..." per layer: the digest of its uncompressed tar

Every change makes a new value (``with_layer``, ``with_config``), so a notebook cell can be
run again without changing an image another cell holds.
"""
from __future__ import annotations

import copy
import hashlib
import io
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Mapping

from ..fs.layers import size_on_disk
from ..fs.node import LayerDir
from ..oci.tar.writer import write_layer
from ..values import HistoryEntry

__all__ = ["SimImage", "canonical_json", "empty_config", "layer_digest"]


class _Sha256Sink(io.RawIOBase):
    """A write-only stream that only hashes what it is given."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        self.hash.update(b)
        return len(b)


def layer_digest(layer: LayerDir) -> str:
    """``"sha256:"`` + the digest of ``layer``'s uncompressed tar (``oci.tar.writer.layer_bytes``),
    written through the hash piece by piece: the tar itself is never held in memory."""
    sink = _Sha256Sink()
    write_layer(layer, sink)  # type: ignore[arg-type]
    return "sha256:" + sink.hash.hexdigest()


def canonical_json(value: Any) -> bytes:
    """The bytes an image id is computed over: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def empty_config(*, architecture: str = "amd64") -> dict:
    """The config of ``FROM scratch`` as Docker's builder starts it (PATH set, nothing else)."""
    return {
        "architecture": architecture,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": None, "Entrypoint": None, "WorkingDir": "", "User": "", "Labels": None,
                   "ExposedPorts": None},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }


@dataclass(frozen=True, eq=False)
class SimImage:
    """Layers (bottom first) + config. Two SimImages are equal when their ids are."""

    layers: tuple[LayerDir, ...]
    config: Mapping[str, Any] = field(default_factory=empty_config)
    history: tuple[HistoryEntry, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "config", copy.deepcopy(dict(self.config)))
        if not self.history:
            object.__setattr__(self, "history", _history(self.config, self.layers))

    @cached_property
    def id(self) -> str:
        return "sha256:" + hashlib.sha256(canonical_json(self.config)).hexdigest()

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @cached_property
    def diff_ids(self) -> tuple[str, ...]:
        """``sha256:`` digests of each layer's uncompressed tar (``layer_digest``)."""
        return tuple(layer_digest(layer) for layer in self.layers)

    @property
    def env(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for item in (self.config.get("config") or {}).get("Env") or []:
            k, _, v = item.partition("=")
            out[k] = v
        return out

    def with_config(self, config: Mapping[str, Any]) -> "SimImage":
        return SimImage(self.layers, config)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SimImage) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"SimImage({self.short_id}, {len(self.layers)} layers)"


def _history(config: Mapping[str, Any], layers: tuple[LayerDir, ...]) -> tuple[HistoryEntry, ...]:
    out: list[HistoryEntry] = []
    index = 0
    for h in config.get("history") or []:
        empty = bool(h.get("empty_layer"))
        size = 0
        if not empty and index < len(layers):
            size = size_on_disk(layers[index])
        out.append(HistoryEntry(h.get("created_by", ""), empty, size,
                                None if empty else index, h.get("created", "")))
        index += 0 if empty else 1
    return tuple(out)
