"""The one interface both engines implement, and the values they return.

Images are referred to by ``ImageRef``; everything an engine returns is a frozen
value, so re-running a notebook cell never mutates something shared.
The simulator engine (``engine.sim``) and the Docker engine (``engine.docker``)
implement every method; where the simulator does not model something it raises
``UnsupportedOperation`` naming the Docker engine as the way to see it.
"""
from __future__ import annotations

import abc
import contextlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence, Union

from ..build.events import BuildRecord
from ..errors import EngineError
from ..oci.image import Image, open_image
from ..values import Change, ContainerSize, HistoryEntry, ImageRef, LayerStorage, RunResult, TransferResult


ImageLike = Union[ImageRef, str, BuildRecord]
"""How a learner names an image: an ``ImageRef``, a tag or id, or the ``BuildRecord`` of its build."""


def image_arg(image: ImageLike) -> ImageRef | str:
    """The image an engine method was given: a ``BuildRecord`` stands for the image it built;
    a failed build (no image) is refused with the fix."""
    if isinstance(image, BuildRecord):
        if image.image is None:
            raise EngineError("the build made no image" + (f" ({image.failure})" if image.failure else ""),
                              fix="fix the build error, then build again")
        return image.image
    if isinstance(image, (ImageRef, str)) and image:
        return image
    raise EngineError(f"an image should be an ImageRef, a tag or id, or a BuildRecord, not {image!r}",
                      fix="pass what engine.build(...) returned, or the image's tag")


class Engine(abc.ABC):
    """What a lesson can do with images and containers, on either engine."""

    name: str = ""

    @abc.abstractmethod
    def describe(self) -> str:
        """One visible line: which engine this is and what it runs on."""

    @abc.abstractmethod
    def base_image(self) -> ImageRef:
        """labkit's offline base image (scratch + static busybox), built when missing."""

    @abc.abstractmethod
    def build(self, context: str | Path, *, dockerfile: str = "Dockerfile", tag: str | None = None,
              no_cache: bool = False, buildargs: Mapping[str, str] | None = None,
              on_event: Callable[[object], None] | None = None):
        """Build a Dockerfile; returns a ``labkit.build.events.BuildRecord``."""

    @abc.abstractmethod
    def history(self, image: ImageRef | str) -> list[HistoryEntry]:
        """Newest first, as ``docker history`` prints it."""

    @abc.abstractmethod
    def save(self, image: ImageRef | str, dest: str | Path) -> Path:
        """Write a ``docker save`` tar of the image to ``dest``."""

    @abc.abstractmethod
    def run(self, image: ImageRef | str, command: str | Sequence[str], *, keep: bool = True) -> RunResult:
        """Run a command in a new container (no network); keep it for diff/size unless keep=False."""

    @abc.abstractmethod
    def start(self, image: ImageRef | str) -> str:
        """A long-lived container (no network) to exec into and diff step by step; returns its id."""

    @abc.abstractmethod
    def exec(self, container: str, command: str | Sequence[str]) -> RunResult:
        """Run a command in an existing container."""

    @abc.abstractmethod
    def diff(self, container: str) -> list[Change]:
        """``docker diff``: the container's changes against its image, sorted by path."""

    @abc.abstractmethod
    def container_size(self, container: str) -> ContainerSize:
        """``docker ps -s``: bytes in the writable layer, and with the image."""

    @abc.abstractmethod
    def commit(self, container: str, tag: str | None = None) -> ImageRef:
        """Make a new image from a container's changes."""

    @abc.abstractmethod
    def tag(self, image: ImageRef | str, tag: str) -> ImageRef:
        """Give an image another name."""

    @abc.abstractmethod
    def images(self) -> list[ImageRef]:
        """The images labkit made in this engine."""

    def ref(self, image: ImageLike) -> ImageRef:
        """The image's current ``ImageRef`` (full id, every tag) from an id, a name, an older ref
        or a ``BuildRecord``."""
        return self._ref_of(image_arg(image))

    @abc.abstractmethod
    def _ref_of(self, image: ImageRef | str) -> ImageRef:
        """``ref`` of an ImageRef or a name the engine knows."""

    @abc.abstractmethod
    def diff_ids(self, image: ImageRef | str) -> tuple[str, ...]:
        """The image's layer diffIDs (config ``rootfs.diff_ids``), bottom first."""

    @abc.abstractmethod
    def load(self, source: str | Path) -> list[ImageRef]:
        """``docker load`` a ``docker save`` tar; returns the images it held."""

    @abc.abstractmethod
    def push(self, image: ImageRef | str, registry, name: str) -> TransferResult:
        """Push a labkit image to ``registry`` as ``name`` ("repo:tag", used as given): the
        simulator pushes to ``labkit.daemon.registry.Registry`` (the model), Docker to a running
        ``labkit.daemon.registry.RealRegistry``. Refuses images labkit did not make."""

    @abc.abstractmethod
    def pull(self, registry, name: str) -> TransferResult:
        """Pull ``name`` ("repo:tag") from ``registry`` (same kinds as ``push``); the image is
        then known locally under ``name`` (no registry address in its tags)."""

    @abc.abstractmethod
    def layer_storage(self, image: ImageRef | str) -> LayerStorage:
        """Where the daemon stores the image's layers (read only); the simulator has no daemon
        storage and raises ``UnsupportedOperation``."""

    @abc.abstractmethod
    def remove(self, ref: ImageRef | str) -> None:
        """Remove an image or container labkit made (refuses anything unlabelled)."""

    def _history_sizes(self, image: ImageRef | str) -> list[int]:
        """Bytes of each history entry's layer, oldest first (0 for config-only steps)."""
        return [h.size for h in reversed(self.history(image))]

    def _with_step_sizes(self, record, *, squashed: bool = False):
        """Fill ``layer_size`` of the final stage's steps from the built image's history: the
        bytes of the layer each step made (0 when it only changed the config)."""
        if record.image is None or squashed:
            return record
        froms = [i for i, step in enumerate(record.steps) if step.keyword == "FROM"]
        tail = record.steps[(froms[-1] + 1) if froms else 0:]
        sizes = self._history_sizes(record.image)
        if not tail or len(tail) > len(sizes):
            return record
        size_of = dict(zip((step.n for step in tail), sizes[len(sizes) - len(tail):]))
        steps = tuple(replace(step, layer_size=size_of.get(step.n)) for step in record.steps)
        return replace(record, steps=steps)

    @contextlib.contextmanager
    def open_image(self, image: ImageLike, *, verify: bool = True) -> Iterator[Image]:
        """The engine's image as labkit's readable ``Image`` (layers, config, history, digests),
        for the ``with`` block: the one bridge from an engine to the image reading API. The image
        is saved like ``docker save`` to a temporary tar, removed at the end of the block.
        ``verify=False`` leaves the digest checks to the first full read of each layer."""
        ref = self.ref(image)
        with tempfile.TemporaryDirectory(prefix="labkit-image-") as tmp:
            with open_image(self.save(ref, Path(tmp) / "image.tar"), verify=verify) as img:
                yield img

    def layer_dirs(self, image: ImageLike) -> list:
        """The image's layers as layer directories (bottom first), read through ``open_image``."""
        with self.open_image(image) as img:
            return [img.layer_dir(i, with_data=True) for i in range(len(img.layers))]

    def close(self) -> None:
        """Release what the engine holds open (the Docker client's connections); the simulator
        holds nothing. The engine is not used afterwards."""

    @abc.abstractmethod
    def clean(self, *, session_only: bool = False, dry_run: bool = False) -> list[str]:
        """Remove every object carrying labkit's label (only those); returns what was removed."""
