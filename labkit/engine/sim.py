"""The simulator engine: images, containers and builds in pure Python, no daemon.

A first-class engine, not a test double: images are layer directories, a container is an
``overlay.Mount`` over its image's layers with an empty upper, RUN and ``run`` go through
``labkit.sim.shell``, builds through ``labkit.sim.builder`` with the classic builder's cache rules.
State lives in this object (one per kernel). Where Docker does more, the simulator says so:
it adds no ``/etc/hosts``-style runtime files, runs no real binaries, and has no daemon-side
storage to measure (see ``NOT_MODELLED``).

The file content of its images lives in memory, so what one image (built, loaded or pulled)
holds is bounded by ``memory_bytes`` of the engine's ``limits`` (``SimEngine(limits=...)``; by
default ``oci.limits.current()`` at each call, so ``LABKIT_LIMITS`` applies): going over is a
``LimitExceeded`` raised before the content is read (``labkit.sim.budget``).
"""
from __future__ import annotations

import io
import secrets
import shlex
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Mapping, Sequence

from ..errors import EngineError, LabkitError, UnsupportedOperation
from ..fs.layers import diff, size_on_disk
from ..fs.overlay import Mount
from ..fs.users import user_cred
from ..fs.volumes import make_mountpoints, without_volume_writes
from ..oci.image import chain_ids, open_image
from ..oci.limits import Limits, current
from ..oci.tar.unpack import read_layer
from ..oci.tar.writer import layer_bytes
from ..oci.write import write_image_tar
from ..sim import builder as simbuild
from ..sim.budget import Held, over_budget
from ..sim.image import SimImage, layer_digest
from ..sim.shell import run
from ..values import (
    LABEL,
    SESSION_LABEL,
    Change,
    ContainerSize,
    HistoryEntry,
    ImageRef,
    LayerStorage,
    RunResult,
    TransferResult,
)
from . import baseimage, session
from .base import Engine, ImageLike, image_arg

NOT_MODELLED = (
    "runtime files Docker adds to every container (/etc/hosts, /etc/hostname, /etc/resolv.conf, /.dockerenv)",
    "real programs: RUN and run() go through labkit's small shell interpreter (labkit.sim.shell)",
    "daemon storage (docker system df, storage drivers other than overlay2)",
)


@dataclass
class _Container:
    id: str
    image_id: str
    mount: object          # overlay.Mount
    env: dict[str, str]
    cwd: str
    running: bool
    volumes: tuple[str, ...] = ()       # resolved mountpoints of the image's volumes
    made: dict = field(default_factory=dict)   # the upper right after they were made

    def layer(self) -> dict:
        """The container's writable layer as Docker keeps it: writes under volumes left out."""
        return without_volume_writes(dict(self.mount.upper), self.made, list(self.volumes))


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _env(config: Mapping) -> dict[str, str]:
    env = {}
    for item in (config.get("config") or {}).get("Env") or []:
        k, _, v = item.partition("=")
        env[k] = v
    return env


def _script(command: str | Sequence[str]) -> str:
    if isinstance(command, str):
        return command
    cmd = list(command)
    if len(cmd) >= 3 and cmd[0] in ("/bin/sh", "sh") and cmd[1] == "-c":
        return cmd[2]
    return shlex.join(cmd)


class SimEngine(Engine):
    name = "sim"

    def __init__(self, limits: Limits | None = None) -> None:
        self._limits = limits                     # None: oci.limits.current() at each call
        self._images: dict[str, object] = {}      # image id -> simimage.SimImage
        self._tags: dict[str, str] = {}           # full tag -> image id
        self._containers: dict[str, _Container] = {}
        self._cache: object | None = None         # simbuild.SimBuildCache, made on first build

    @property
    def limits(self) -> Limits:
        """The budgets loads and builds keep to (``memory_bytes``: file content held per image)."""
        return self._limits if self._limits is not None else current()

    def describe(self) -> str:
        return "labkit engine: sim (labkit's overlay simulator, no Docker daemon)"

    # -- images -----------------------------------------------------------------
    def _image(self, image: ImageRef | str):
        key = image.id if isinstance(image, ImageRef) else image
        if key in self._tags:
            key = self._tags[key]
        elif ":" not in key or not key.startswith("sha256:"):
            for name in (key, session.qualify(key)):
                if name in self._tags:
                    key = self._tags[name]
                    break
        found = self._images.get(key) or next(
            (img for iid, img in self._images.items() if iid.split(":")[-1].startswith(key.split(":")[-1])
             and len(key.split(":")[-1]) >= 12), None)
        if found is None:
            raise EngineError(f"image {key!r}: not found in the simulator",
                              fix="list what this kernel made with engine.images()")
        return found

    def _ref(self, img) -> ImageRef:
        return ImageRef(img.id, tuple(sorted(t for t, i in self._tags.items() if i == img.id)), self.name)

    def _store(self, img, tag: str | None = None) -> ImageRef:
        self._images[img.id] = img
        if tag:
            self._tags[tag] = img.id
        return self._ref(img)

    def image(self, image: ImageRef | str):
        """The simulator's own value for an image (``SimImage``): layers, config, history."""
        return self._image(image)

    def layer_dirs(self, image: ImageLike) -> list:
        return [dict(layer) for layer in self._image(image_arg(image)).layers]

    def _ref_of(self, image: ImageRef | str) -> ImageRef:
        return self._ref(self._image(image))

    def diff_ids(self, image: ImageRef | str) -> tuple[str, ...]:
        return self._image(image).diff_ids

    def load(self, source: str | Path) -> list[ImageRef]:
        """A ``docker save`` tar (legacy or OCI) as a simulator image, under the tags it names.
        The id is the simulator's (digest of the canonical config JSON): the same as Docker's for
        images the simulator saved, possibly another for a config Docker serialised itself."""
        limits = self.limits
        with open_image(source, limits=limits) as saved:      # verified: Layer.size is measured
            total = 0
            for layer in saved.layers:       # bytes of content, before any of it is read
                total += max(layer.size, 0)
                if total > limits.memory_bytes:
                    raise over_budget(f"image {saved.source or source}: its layers up to layer "
                                      f"{layer.index}", total, limits)
            layers = tuple(saved.layer_dir(i, with_data=True) for i in range(len(saved.layers)))
            Held(limits).check(layers, f"image {saved.source or source}")
            img, tags = SimImage(layers, dict(saved.config)), saved.ref.tags
        for tag in tags:
            self._store(img, tag)
        return [self._store(img)]

    def layer_storage(self, image: ImageRef | str) -> LayerStorage:
        self._image(image)
        raise UnsupportedOperation("the simulator has no daemon storage: its layers live in memory",
                                   fix="see a daemon's layer directories with the Docker engine "
                                       "(LABKIT_ENGINE=docker)")

    # -- registries (labkit.daemon.registry.Registry, the in-memory model) ------------------
    @staticmethod
    def _model(registry, verb: str) -> None:
        if getattr(registry, "kind", "") != "model":
            raise EngineError(f"the simulator {verb} labkit's registry model only",
                              fix="use open_registry(engine); a RealRegistry needs the Docker engine")

    def push(self, image: ImageRef | str, registry, name: str) -> TransferResult:
        self._model(registry, "pushes to")
        img = self._image(image)
        if ((img.config.get("config") or {}).get("Labels") or {}).get(LABEL) != "true":
            raise EngineError(f"image {getattr(image, 'id', image)} is not a labkit image",
                              fix="labkit pushes only images it built (label org.labkit.managed=true)")
        report = registry.push_image([layer_bytes(layer) for layer in img.layers], img.config, name)
        return TransferResult(self._ref(img), report.statuses)

    def pull(self, registry, name: str) -> TransferResult:
        """Downloads (in the model's words) the layers whose chainID no local image has."""
        self._model(registry, "pulls from")
        have = {c for img in self._images.values() for c in chain_ids(img.diff_ids)}
        plan = registry.plan_pull(name, have)
        limits = self.limits
        layers = [read_layer(io.BytesIO(registry.layer_tar(d["digest"])), with_data=True,
                             name=f"layer {i} of {name}", limits=limits)
                  for i, d in enumerate(registry.manifest(name)["layers"])]
        Held(limits).check(layers, f"image {name}")   # the model's tars are in memory already
        ref = self._store(SimImage(tuple(layers), registry.config(name)), name)
        return TransferResult(ref, plan.statuses)

    def base_image(self) -> ImageRef:
        diff_id = baseimage.base_diff_id()   # made once per busybox file, then cached
        tag = baseimage.base_tag(diff_id)
        if tag in self._tags:
            return self._ref(self._images[self._tags[tag]])
        img = SimImage((baseimage.base_layer(),), baseimage.base_config(diff_id, {LABEL: "true"}))
        self._store(img, f"{baseimage.BASE_REPO}:latest")  # Dockerfiles say FROM labkit/base
        return self._store(img, tag)

    def build(self, context: str | Path, *, dockerfile: str = "Dockerfile", tag: str | None = None,
              no_cache: bool = False, buildargs: Mapping[str, str] | None = None,
              on_event: Callable[[object], None] | None = None, squash: bool = False):
        if self._cache is None:
            self._cache = simbuild.SimBuildCache()
        record, img = simbuild.build(Path(context), dockerfile=dockerfile, resolve=self._resolve,
                                     build_args=dict(buildargs or {}), cache=self._cache,
                                     no_cache=no_cache, on_event=on_event, squash=squash,
                                     labels={LABEL: "true", SESSION_LABEL: session.session_id()},
                                     limits=self.limits)
        ref = self._store(img, session.qualify(tag) if tag else None)
        return self._with_step_sizes(replace(record, image=ref), squashed=squash)

    def _resolve(self, name: str):
        """FROM name -> SimImage: labkit's base under any of its names, or an image built here."""
        if name.split(":")[0] == baseimage.BASE_REPO:
            self.base_image()
            return self._image(name if ":" in name else f"{name}:latest")
        return self._image(name)

    def history(self, image: ImageRef | str) -> list[HistoryEntry]:
        return list(self._image(image).history)[::-1]   # SimImage keeps it oldest first

    def save(self, image: ImageRef | str, dest: str | Path) -> Path:
        img = self._image(image)
        write_image_tar([layer_bytes(l) for l in img.layers], img.config, Path(dest),
                        repo_tags=self._ref(img).tags)
        return Path(dest)

    # -- containers -------------------------------------------------------------
    def _new_container(self, image: ImageRef | str, running: bool) -> _Container:
        img = self._image(image)
        cfg = img.config.get("config") or {}
        mount = Mount(list(reversed(img.layers)), {})
        try:
            volumes = make_mountpoints(mount, img.config)
        except LabkitError as exc:
            raise EngineError(exc.message, fix=exc.fix) from None
        mount.take_events()          # the daemon's own mkdirs are not the container's doing
        env = _env(img.config)
        if cfg.get("User"):
            try:
                mount.cred, home = user_cred(cfg["User"], mount)
            except LabkitError as exc:
                raise EngineError(exc.message, fix=exc.fix) from None
            env.setdefault("HOME", home)
        c = _Container(secrets.token_hex(32), img.id, mount, env,
                       cfg.get("WorkingDir") or "/", running, tuple(volumes), dict(mount.upper))
        self._containers[c.id] = c
        return c

    def _container(self, container: str) -> _Container:
        found = self._containers.get(container) or next(
            (c for cid, c in self._containers.items() if len(container) >= 12 and cid.startswith(container)), None)
        if found is None:
            raise EngineError(f"container {container[:12]}: not found in the simulator")
        return found

    def _exec(self, c: _Container, command: str | Sequence[str]) -> RunResult:
        result = run(_script(command), c.mount, env=c.env, cwd=c.cwd)
        return RunResult(c.id, result.exit_code, result.output)

    def run(self, image: ImageRef | str, command: str | Sequence[str], *, keep: bool = True) -> RunResult:
        c = self._new_container(image, running=False)
        result = self._exec(c, command)
        if not keep:
            del self._containers[c.id]
        return result

    def start(self, image: ImageRef | str) -> str:
        return self._new_container(image, running=True).id

    def exec(self, container: str, command: str | Sequence[str]) -> RunResult:
        c = self._container(container)
        if not c.running:
            raise EngineError(f"container {container[:12]} has stopped; exec needs a running one",
                              fix="make one with engine.start(image), or chain commands: "
                                  "engine.run(image, 'cmd1 && cmd2')")
        return self._exec(c, command)

    def mount(self, container: str):
        """The container's ``overlay.Mount`` (lower layers, upper, merged) — simulator only."""
        return self._container(container).mount

    def diff(self, container: str) -> list[Change]:
        c = self._container(container)
        return diff(list(self._images[c.image_id].layers), c.layer())

    def container_size(self, container: str) -> ContainerSize:
        c = self._container(container)
        rw = size_on_disk(c.layer())
        return ContainerSize(rw, rw + sum(size_on_disk(layer) for layer in self._images[c.image_id].layers))

    def commit(self, container: str, tag: str | None = None) -> ImageRef:
        c = self._container(container)
        base = self._images[c.image_id]
        upper = c.layer()
        config = {**base.config}
        config["config"] = {**(base.config.get("config") or {}),
                            "Labels": {**((base.config.get("config") or {}).get("Labels") or {}),
                                       LABEL: "true", SESSION_LABEL: session.session_id()}}
        entry: dict = {"created": _now(), "created_by": "labkit commit"}
        layers = tuple(base.layers)
        diff_ids = list(base.config["rootfs"]["diff_ids"])
        if upper:
            diff_ids.append(layer_digest(upper))
            layers += (upper,)
        else:            # nothing changed: Docker's commit adds no layer, only a history entry
            entry["empty_layer"] = True
        config["rootfs"] = {"type": "layers", "diff_ids": diff_ids}
        config["history"] = [*base.config.get("history", []), entry]
        config["created"] = _now()
        img = SimImage(layers, config)
        return self._store(img, session.qualify(tag) if tag else None)

    # -- naming and cleaning ----------------------------------------------------
    def tag(self, image: ImageRef | str, tag: str) -> ImageRef:
        img = self._image(image)
        return self._store(img, session.qualify(tag))

    def images(self) -> list[ImageRef]:
        return [self._ref(img) for img in self._images.values()]

    def remove(self, ref: ImageRef | str) -> None:
        key = ref.id if isinstance(ref, ImageRef) else ref
        if key in self._containers or any(len(key) >= 12 and cid.startswith(key) for cid in self._containers):
            del self._containers[self._container(key).id]
            return
        img = self._image(ref)
        del self._images[img.id]
        for t in [t for t, i in self._tags.items() if i == img.id]:
            del self._tags[t]

    def clean(self, *, session_only: bool = False, dry_run: bool = False) -> list[str]:
        removed = [f"container {cid[:12]}" for cid in self._containers]
        removed += [f"image {iid.split(':')[-1][:12]}" for iid in self._images]
        if not dry_run:
            self._containers.clear()
            self._images.clear()
            self._tags.clear()
            self._cache = None
        return removed
