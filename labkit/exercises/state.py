"""The learner's real end state, as the checks of one ``check()`` call see it.

Everything goes through the public ``Engine`` interface (``Engine.open_image`` to read an image),
so a check means the same on the simulator and on a real daemon. Expensive views
(the saved image, its layer directories) are made once per call and cached; ``close()``
removes the temporary files.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping

from ..engine import session
from ..build.events import BuildRecord
from ..engine.base import Engine
from ..errors import ExerciseError, LabkitError
from ..fs.node import LayerDir
from ..values import ImageRef


class StateMissing(ExerciseError):
    """The state a check looks at does not exist (yet): the check fails with this message."""


class State:
    """Read-only access to the learner's images and containers for one exercise check."""

    def __init__(self, engine: Engine, args: Mapping[str, Any]) -> None:
        self.engine = engine
        self.args = dict(args)
        self._refs: dict[str, ImageRef] = {}
        self._images: dict[str, Any] = {}
        self._layers: dict[tuple[str, int, bool], LayerDir] = {}
        self._memo: dict[str, Any] = {}
        self._open = contextlib.ExitStack()       # the images opened by image()

    # -- arguments ----------------------------------------------------------------
    def arg(self, name: str) -> Any:
        if self.args.get(name) is None:
            raise StateMissing(f"this exercise needs {name}=...",
                               fix=f"call check(..., {name}=...)")
        return self.args[name]

    # -- images -------------------------------------------------------------------
    def image_ref(self, name: str = "image") -> ImageRef:
        """The image given as ``name=``: a tag ("app"), an id, an ImageRef or a BuildRecord."""
        if name not in self._refs:
            self._refs[name] = resolve_image(self.engine, self.arg(name))
        return self._refs[name]

    def image(self, name: str = "image"):
        """The image, readable (``Engine.open_image``) until ``close()``."""
        if name not in self._images:
            ref = self.image_ref(name)
            try:
                self._images[name] = self._open.enter_context(self.engine.open_image(ref))
            except LabkitError as exc:
                raise StateMissing(f"could not save image {_label(ref)}: {exc}") from None
        return self._images[name]

    def layer_count(self, name: str = "image") -> int:
        return len(self.image(name).layers)

    def layer_dir(self, i: int, name: str = "image", *, with_data: bool = False) -> LayerDir:
        """Layer ``i`` (bottom first; negative counts from the top) as a layer directory."""
        img = self.image(name)
        i = i % len(img.layers)
        key = (name, i, with_data)
        if key not in self._layers:
            self._layers[key] = img.layer_dir(i, with_data=with_data)
        return self._layers[key]

    def layer_dirs(self, name: str = "image", *, with_data: bool = False) -> list[LayerDir]:
        return [self.layer_dir(i, name, with_data=with_data) for i in range(self.layer_count(name))]

    def run(self, command: str, name: str = "image"):
        """Run ``command`` in a new container of the image (removed afterwards)."""
        return self.engine.run(self.image_ref(name), command, keep=False)

    def memo(self, key: str, make: Callable[[], Any]) -> Any:
        """``make()`` once per check() call, shared by the exercise's checks (e.g. an analysis)."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    # -- containers ---------------------------------------------------------------
    def container(self, name: str = "container") -> str:
        value = self.arg(name)
        cid = getattr(value, "container", value)   # a RunResult works too
        if not isinstance(cid, str) or not cid:
            raise StateMissing(f"{name}= should be a container id (engine.start(...) returns one)")
        try:
            self.engine.diff(cid)
        except LabkitError as exc:
            raise StateMissing(f"container {cid[:12]} not found: {exc}",
                               fix="pass the id engine.start(image) returned") from None
        return cid

    # -- housekeeping -------------------------------------------------------------
    def close(self) -> None:
        self._open.close()
        self._images.clear()


def _label(ref: ImageRef) -> str:
    return ref.tags[0] if ref.tags else ref.short_id


def resolve_image(engine: Engine, value: Any) -> ImageRef:
    """A learner's way of naming an image -> the engine's ``ImageRef``, or ``StateMissing``."""
    if isinstance(value, BuildRecord):              # a build names the image it made
        value = value.image
        if value is None:
            raise StateMissing("the build made no image", fix="fix the build error, then build again")
    if isinstance(value, ImageRef):
        wanted_ids, wanted_tags = {value.id}, set(value.tags)
    elif isinstance(value, str) and value:
        text = value.strip()
        wanted_ids = {text} if text.startswith("sha256:") else {"sha256:" + text}
        wanted_tags = {text, text if ":" in text.rsplit("/", 1)[-1] else f"{text}:latest"}
        try:
            wanted_tags.add(session.qualify(text))
        except Exception:  # an odd name: only the literal forms are tried
            pass
    else:
        raise StateMissing(f"image=... should be a tag, an image id or an ImageRef, not "
                           f"{type(value).__name__}")
    try:
        refs = engine.images()
    except LabkitError as exc:
        raise StateMissing(f"could not list images: {exc}") from None
    # an exact id first: a tag may since have moved to a newer build than the one named
    for match in (lambda r: r.id in wanted_ids, lambda r: bool(wanted_tags & set(r.tags))):
        found = next((ref for ref in refs if match(ref)), None)
        if found is not None:
            return found
    for ref in refs:  # a short id ("3f2a9c1b7d0e")
        for w in wanted_ids:
            short = w.split(":", 1)[1]
            if len(short) >= 12 and ref.id.split(":", 1)[-1].startswith(short):
                return ref
    shown = value if isinstance(value, str) else (value.tags[0] if value.tags else value.short_id)
    raise StateMissing(f"no image {shown!r} in the {engine.name} engine",
                       fix=f"build it first, e.g. engine.build('.', tag={shown!r}), and pass the "
                           f"same engine: check(..., engine=engine)")
