"""Building Dockerfiles on the simulator, the way Docker 20.10's classic builder does.

``build(context, resolve=..., cache=SimBuildCache())`` reads ``context/Dockerfile``, runs
every stage on ``overlay.Mount`` values and returns ``(BuildRecord, SimImage)``, emitting
the same typed events (``labkit.build.events``) as a Docker build::

    record, image = build("lesson3", resolve=engine.image_for_name, cache=my_cache)
    record.cached          # (False, True, True, False, ...) one per step, like Docker

What each instruction does (each checked against a real daemon in
``tests/test_simbuild_docker.py``):

* ``FROM name`` asks ``resolve(name) -> SimImage`` (the engine supplies images);
  ``FROM <earlier stage>`` and ``FROM scratch`` are handled here.
* ``RUN`` runs ``labkit.sim.shell`` (shell form as ``/bin/sh -c``, or the exec form) on a Mount
  over the current layers, with the image's ``Env`` plus the build args in scope and
  ``WorkingDir`` as the working directory. The upper directory becomes the new layer; a RUN
  that changed nothing makes *no* layer (``empty_layer`` in the history), as Docker 20.10
  does. A non-zero status raises ``BuildError`` (step, line, exit code, output).
* ``COPY``/``ADD`` copy from the context (after ``.dockerignore``) or ``--from=<stage>``:
  a directory source copies its *contents*; a destination ending in ``/`` (or several
  sources) is a directory; missing parent directories are made ``0755``; files keep their
  permission bits and become ``0:0`` (or ``--chown``; ``--from`` keeps the owners);
  a directory made for the destination is ``0755``. Every step makes a layer.
  ``ADD`` of a local tar (plain, gzip, bzip2, xz) unpacks it into the destination directory
  with the archive's owners, modes and times (``--chown`` does not apply to it); a file
  whose first tar header does not read (a non-tar, an empty tar) is copied as it is.
  What a step reads into memory (context files, an archive's content) is counted against
  ``Limits.memory_bytes`` *before* it is read, with the content of every image the build
  holds (``labkit.sim.budget``, ``labkit.sim.archive``): over it, ``LimitExceeded``.
* ``WORKDIR`` creates the directory (a layer when it did not exist, else an empty one).
* ``VOLUME`` only changes the config, but every later ``RUN`` runs with the volumes
  mounted: its writes under a volume are discarded and only the mountpoints the daemon
  creates stay in its layer (the classic builder's well-known trap).
* ``HEALTHCHECK`` (Docker's history text; zero fields inherited from the parent's, as the
  daemon's config merge does) and ``ONBUILD`` (recorded in ``OnBuild``) change the config.
* ``ENV``, ``ARG``, ``LABEL``, ``USER``, ``CMD``, ``ENTRYPOINT``, ``EXPOSE``, ``SHELL``,
  ``STOPSIGNAL``, ``MAINTAINER`` only change the config (empty history entries).
* Cache: every step probes with ``labkit.build.cache``'s key (the command ``docker history``
  shows) under its parent image; a hit reuses the image an earlier build made, exactly like
  the daemon's local cache. ``COPY --from`` keys on the checksum of the files in the stage's
  image, computed here the way the daemon does. The store is a ``SimBuildCache`` that the
  engine keeps between builds.

``RUN`` under ``USER`` runs with that user's permissions (``overlay.Cred``; the kernel's
checks, pinned by the kernel oracle) and creates files owned by it.

Not modelled (raises ``UnsupportedOperation``): ``FROM`` an image with ``ONBUILD`` triggers (Docker runs them), ``ADD`` of an archive
holding whiteout names, devices or fifos, or compressed with zstd, programs other than
BusyBox applets (see ``labkit.sim.shell``). A ``RUN`` that removes or renames a volume's
mountpoint succeeds here; Docker fails it (resource busy).
"""
from __future__ import annotations

import copy
import functools
import hashlib
import io
import os
import posixpath
import re
import secrets
import stat as _stat
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Callable, Iterable, Mapping

from ..build import cache as cachemod
from ..build import events as ev
from ..build.cache import exposed_ports
from ..build.context import list_context
from ..build.dockerfile import find_stage, parse
from ..build.events import record_from_events
from ..errors import BuildError, DockerfileError, LabkitError, LimitExceeded, UnsupportedOperation
from ..fs.layers import merge
from ..fs.layers import squash as squash_layers
from ..fs.node import LayerDir, Node, resolve_in_scope
from ..fs.overlay import Mount
from ..fs.users import id_of, user_cred
from ..fs.volumes import make_mountpoints, without_volume_writes
from ..oci.limits import Limits, current
from .archive import archive_entries, archive_size
from .budget import Held
from .image import SimImage, empty_config, layer_digest
from .shell import run_argv

__all__ = ["SimBuildCache", "build", "build_text", "image_source_checksum"]

SCRATCH = "scratch"
_FIX_DOCKER = "build this Dockerfile with the Docker engine (LABKIT_ENGINE=docker)"


class SimBuildCache:
    """The simulator's build cache: (parent image id, step key) -> the image that step made.

    One per engine, kept between builds, like the daemon's local image cache. ``clear()``
    forgets everything (what ``docker builder prune``/removing the images would do)."""

    def __init__(self) -> None:
        self._children: dict[tuple[str, tuple[str, ...]], object] = {}

    def get(self, parent: str, key: tuple[str, ...]):
        return self._children.get((parent, tuple(key)))

    def put(self, parent: str, key: tuple[str, ...], image) -> None:
        self._children[(parent, tuple(key))] = image

    def clear(self) -> None:
        self._children.clear()

    def __len__(self) -> int:
        return len(self._children)

    def __repr__(self) -> str:
        return f"SimBuildCache({len(self)} entries)"


@dataclass
class _StageState:
    image: object                       # SimImage
    cmd_set: bool = False               # a CMD in this stage (an ENTRYPOINT then keeps it)


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


def _scratch():
    return SimImage((), empty_config(architecture=_arch()))


def build(context: str | Path, *, resolve: Callable[[str], object],
          dockerfile: str = "Dockerfile", cache: SimBuildCache | None = None,
          build_args: Mapping[str, str] | None = None, no_cache: bool = False,
          labels: Mapping[str, str] | None = None, target: str | None = None,
          squash: bool = False, on_event: Callable[[object], None] | None = None,
          limits: Limits | None = None):
    """Build ``context/dockerfile``; returns ``(BuildRecord, SimImage)``.

    Raises ``BuildError`` (with ``.record``: what ran until then) when a step fails,
    ``DockerfileError`` for a Dockerfile Docker would refuse, ``UnsupportedOperation`` for
    what the simulator does not model, ``LimitExceeded`` (with ``.record``) when the file
    content the build holds in memory would pass ``limits.memory_bytes`` (default
    ``limits.current()``; see ``labkit.sim.budget``), or an archive a budget of the reader."""
    root = Path(context)
    path = Path(dockerfile) if os.path.isabs(dockerfile) else root / dockerfile
    try:
        text = path.read_text()
    except OSError as exc:
        raise BuildError(f"cannot read the Dockerfile {path}: {exc.strerror}",
                         fix="pass the folder that holds the Dockerfile, or dockerfile=NAME") from exc
    return build_text(text, root, resolve=resolve, cache=cache, build_args=build_args,
                      no_cache=no_cache, labels=labels, target=target, squash=squash,
                      on_event=on_event, limits=limits)


def build_text(text: str, context: str | Path, *, resolve: Callable[[str], object],
               cache: SimBuildCache | None = None, build_args: Mapping[str, str] | None = None,
               no_cache: bool = False, labels: Mapping[str, str] | None = None,
               target: str | None = None, squash: bool = False,
               on_event: Callable[[object], None] | None = None, limits: Limits | None = None):
    """Like ``build`` with the Dockerfile given as text (the context is still a folder)."""

    build_args = dict(build_args or {})
    labels = dict(labels or {})
    df = parse(text, build_args=build_args)
    ctx = list_context(context)
    run = _Build(df, ctx, Path(context), resolve, cache if cache is not None else SimBuildCache(),
                 build_args, no_cache, on_event, limits if limits is not None else current())
    stages = list(df.stages)
    if target is not None:
        stages = stages[:df.stage(target).index + 1]
    total = len(df.meta_args) + sum(1 + len(s.instructions) for s in stages) + len(labels)
    run.total = total
    bases = run.resolve_bases(stages)
    try:
        plan = cachemod.plan(df, ctx, build_args=build_args, labels=labels,
                             bases=bases, target=target)
        failing = None
    except BuildError as exc:              # a COPY source is missing, --chmod ...: Docker
        if not exc.line:                   # runs every step before the one that fails
            raise
        failing = exc
        short = parse("\n".join(text.splitlines()[:exc.line - 1]) + "\n", build_args=build_args) \
            if exc.line > 1 else None
        plan = cachemod.plan(short, ctx, build_args=build_args, bases=bases) \
            if short is not None and short.stages else ()
    try:
        for p in plan:
            run.step(p)
        if failing is not None:
            n = len(plan) + 1
            ins = next((i for _, i in df.steps() if i.line == failing.line), None)
            run.emit(ev.StepStarted(n, total, ins.original if ins else ""))
            raise BuildError(failing.reason, step=n,
                             instruction=ins.original if ins else "", line=failing.line,
                             fix=failing.fix)
        final_stage = stages[-1].index
        image = run.finals[final_stage]
        if squash:
            image = run.squash(stages[-1], image)
        run.emit(ev.BuildSucceeded(image.id, ()))
    except BuildError as exc:
        run.emit(ev.BuildFailed(exc.step, exc.reason, exc.exit_code, exc.output))
        if exc.step:             # worded as the Docker engine words it: "step N (line L) failed: ..."
            where = f"step {exc.step}" + (f" (Dockerfile line {exc.line})" if exc.line else "")
            exc = BuildError(f"{where} failed: {exc.reason}", step=exc.step, instruction=exc.instruction,
                             exit_code=exc.exit_code, output=exc.output, line=exc.line, fix=exc.fix,
                             reason=exc.reason)
        exc.record = record_from_events(run.events, engine="sim")  # type: ignore[attr-defined]
        raise exc from None
    except LimitExceeded as exc:
        run.emit(ev.BuildFailed(run.current or None, exc.message))
        exc.record = record_from_events(run.events, engine="sim")  # type: ignore[attr-defined]
        raise
    return record_from_events(run.events, engine="sim"), image


class _Build:
    def __init__(self, df, ctx, root: Path, resolve, cache: SimBuildCache,
                 build_args: dict[str, str], no_cache: bool, on_event, limits: Limits) -> None:
        self.df, self.ctx, self.root, self.resolve = df, ctx, root, resolve
        self.limits = limits
        self.held = Held(limits)             # the file content of every image this build holds
        self.current = 0                     # the step being run
        self.cache, self.build_args, self.no_cache = cache, build_args, no_cache
        self.on_event = on_event
        self.events: list = []
        self.total = 0
        self.bases: dict[str, object] = {}
        self.states: dict[int, _StageState] = {}
        self.finals: dict[int, object] = {}
        self.stage_starts: dict[int, object] = {}
        self.started = time.monotonic()

    def emit(self, event) -> None:
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    # ------------------------------------------------------------------ FROM
    def resolve_bases(self, stages) -> dict[str, cachemod.BaseImage]:
        """The FROM images, resolved once: what the plan starts each stage from."""
        out: dict[str, cachemod.BaseImage] = {}
        for st in stages:
            if st.base_stage is not None or st.base.lower() == SCRATCH or st.base in self.bases:
                continue
            try:
                img = self.resolve(st.base)
            except (LabkitError, LookupError) as exc:
                why = str(exc).splitlines()[0] if str(exc) else "not found"
                name = st.base.split("@", 1)[0]
                tagged = ":" in name.rsplit("/", 1)[-1]
                if (name.rsplit(":", 1)[0] if tagged else name) == "labkit/base":
                    # labkit's base image is made on this machine, never looked up: the Dockerfile
                    # is right, so say what stopped it (and that error's own fix), or, when the
                    # base is made fine, that this tag of it does not exist here
                    try:
                        made = tagged and bool(self.resolve("labkit/base"))
                    except (LabkitError, LookupError):
                        made = False
                    if made:
                        raise BuildError(f"FROM {st.base}: {why}", line=st.line,
                                         instruction=st.from_instruction.original,
                                         fix="start FROM labkit/base: its other tags name base images "
                                             "made from another busybox, which do not exist here") from exc
                    raise BuildError(f"FROM {st.base}: labkit's base image could not be made on this "
                                     f"machine: {why}", line=st.line,
                                     instruction=st.from_instruction.original,
                                     fix=getattr(exc, "fix", None) or "run `labkit doctor`: it says what "
                                         "this machine lacks and the command that fixes it") from exc
                raise BuildError(f"FROM {st.base}: {why}", line=st.line,
                                 instruction=st.from_instruction.original,
                                 fix="build that image first (this engine has no registry), or "
                                     "start FROM labkit/base") from exc
            self.bases[st.base] = img
            out[st.base] = cachemod.BaseImage.of(img.id, img.config)
        return out

    # ------------------------------------------------------------------ steps
    def step(self, p) -> None:
        ins = p.instruction
        t0 = time.monotonic()
        self.current = p.step
        self.emit(ev.StepStarted(p.step, self.total, ins.original))
        if p.stage_index < 0:              # a global ARG: no image
            return
        if ins.keyword == "FROM":
            st = self.df.stages[p.stage_index]
            if st.base_stage is not None:
                img = self.finals[st.base_stage]
            elif st.base.lower() == SCRATCH:
                img = _scratch()
            else:
                img = self.bases[st.base]
            state = _StageState(img)
            triggers = (img.config.get("config") or {}).get("OnBuild") or []
            if triggers:
                raise UnsupportedOperation(
                    f"FROM {st.base} (Dockerfile line {ins.line}): that image has ONBUILD "
                    f"triggers ({'; '.join(triggers)}), which Docker runs here; the simulator "
                    "does not run them", fix=_FIX_DOCKER)
            self.held.check(img.layers, self._where(p))
            self.states[p.stage_index] = state
            self.finals[p.stage_index] = img
            if img.layers or img.config.get("history"):
                self.emit(ev.StepFinished(p.step, img.short_id, time.monotonic() - t0))
            return
        state = self.states[p.stage_index]
        key = tuple(p.key)
        if ins.keyword == "COPY" and ins.flag("from") is not None:
            try:
                key = self._from_key(p)
            except BuildError as exc:
                raise BuildError(exc.reason, step=p.step, line=ins.line, instruction=ins.original,
                                 fix=exc.fix) from None
        parent = state.image.id if (state.image.layers or state.image.config.get("history")) else SCRATCH
        hit = None if self.no_cache else self.cache.get(parent, key)
        if ins.keyword == "CMD":
            state.cmd_set = True
        if hit is not None:
            self.emit(ev.StepCached(p.step))
            img = hit
        else:
            img = self._execute(p, state, key)
            self.cache.put(parent, key, img)
        self.held.check(img.layers, self._where(p))     # what RUN made is known only now
        state.image = img
        self.finals[p.stage_index] = img
        self.emit(ev.StepFinished(p.step, img.short_id, time.monotonic() - t0))

    @staticmethod
    def _where(p) -> str:
        """A step, as errors name it: ``step 2 (Dockerfile line 3) ADD big.tar.gz /x/``."""
        return f"step {p.step} (Dockerfile line {p.instruction.line}) {p.instruction.original}"

    # ------------------------------------------------------------------ executing
    def _execute(self, p, state: _StageState, key: tuple[str, ...]):
        ins = p.instruction
        kw = ins.keyword
        cfg = copy.deepcopy(dict(state.image.config))
        c = cfg.setdefault("config", {})
        layer: LayerDir | None = None
        # p holds the instruction resolved once by the plan (variables substituted, WORKDIR
        # made absolute, the stage's SHELL applied): it is executed as it is.
        if kw in ("ENV", "LABEL"):              # every pair sees the env from before the step
            if kw == "ENV":
                for k, v in p.pairs:
                    c["Env"] = _env_set(list(c.get("Env") or []), k, v or "")
            else:
                c["Labels"] = {**(c.get("Labels") or {}), **{k: v or "" for k, v in p.pairs}}
        elif kw == "ARG":
            pass                                # only the history records it
        elif kw == "USER":
            c["User"] = p.words[0]
        elif kw == "EXPOSE":
            c["ExposedPorts"] = {**(c.get("ExposedPorts") or {}),
                                 **{port: {} for port in exposed_ports(p.words)}}
        elif kw in ("CMD", "ENTRYPOINT"):
            c[kw.capitalize() if kw == "CMD" else "Entrypoint"] = list(p.words)
            if kw == "ENTRYPOINT" and not state.cmd_set:
                c["Cmd"] = None
        elif kw == "SHELL":
            c["Shell"] = list(p.words)
        elif kw == "STOPSIGNAL":
            c["StopSignal"] = p.words[0]
        elif kw == "MAINTAINER":
            cfg["author"] = ins.args
        elif kw == "WORKDIR":
            c["WorkingDir"] = p.words[0]
            layer = self._workdir(state, p.words[0], p)
        elif kw == "RUN":
            layer = self._run(p, state)
        elif kw in ("COPY", "ADD"):
            layer = self._copy(p, state)
        elif kw == "VOLUME":
            vols = dict(c.get("Volumes") or {})
            for v in p.words:
                v = v.strip()
                if not v:
                    raise DockerfileError("VOLUME specified can not be an empty string",
                                          line=ins.line, fix="name the directory, e.g. VOLUME /data")
                vols[v] = {}
            c["Volumes"] = vols
        elif kw == "HEALTHCHECK":
            health = p.healthcheck.config()
            for k, v in (c.get("Healthcheck") or {}).items():   # the daemon's merge() with the
                health.setdefault(k, v)                          # parent: zero fields inherited
            c["Healthcheck"] = health
        elif kw == "ONBUILD":
            trigger = re.sub(r"(?i)^\s*ONBUILD\s*", "", ins.original)
            first = trigger.split(None, 1)[0].upper() if trigger.strip() else ""
            if first == "ONBUILD":
                raise DockerfileError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed",
                                      line=ins.line, fix="write the trigger once: ONBUILD RUN ...")
            if first in ("FROM", "MAINTAINER"):
                raise DockerfileError(f"{first} isn't allowed as an ONBUILD trigger", line=ins.line,
                                      fix="use ONBUILD with RUN, COPY, ENV and the like")
            c["OnBuild"] = list(c.get("OnBuild") or []) + [trigger]
        else:
            raise UnsupportedOperation(f"the simulator does not model {kw} "
                                       f"(Dockerfile line {ins.line})", fix=_FIX_DOCKER)
        return self._commit(state.image, cfg, layer, key)

    def _commit(self, parent, cfg: dict, layer: LayerDir | None, key: tuple[str, ...]):
        now = _now_iso()
        entry: dict = {"created": now, "created_by": " ".join(key)}
        layers = tuple(parent.layers)
        rootfs = dict(cfg.get("rootfs") or {"type": "layers", "diff_ids": []})
        diff_ids = list(rootfs.get("diff_ids") or [])
        if layer:
            layers += (layer,)
            diff_ids.append(layer_digest(layer))
        else:
            entry["empty_layer"] = True
        rootfs["diff_ids"] = diff_ids
        cfg["rootfs"] = rootfs
        cfg["history"] = list(cfg.get("history") or []) + [entry]
        cfg["created"] = now
        cfg["container"] = secrets.token_hex(32)   # like Docker: every built image is new
        cfg["container_config"] = {"Cmd": list(key)}
        return SimImage(layers, cfg)

    def _mount(self, state: _StageState):
        return Mount(list(reversed(state.image.layers)), {})

    def _workdir(self, state: _StageState, workdir: str, p) -> LayerDir | None:
        mount = self._mount(state)
        parts = [x for x in workdir.split("/") if x]
        cur = ""
        try:
            for part in parts:
                cur += "/" + part
                try:
                    node = mount.stat(cur)
                except FileNotFoundError:
                    mount.mkdir(cur, 0o755)
                    continue
                if node.kind != "dir":
                    raise NotADirectoryError(20, "not a directory", cur)
        except OSError as exc:
            said = (f"Cannot mkdir: {workdir} is not a directory" if exc.filename == cur == "/" + "/".join(parts)
                    and exc.errno == 20 else f"WORKDIR {workdir}: mkdir {exc.filename}: {os.strerror(exc.errno)}")
            raise BuildError(said,
                             step=p.step, line=p.instruction.line,
                             instruction=p.instruction.original,
                             fix="choose a WORKDIR path that is not a file in the image") from exc
        return dict(mount.upper) or None

    def _run(self, p, state: _StageState) -> LayerDir | None:
        ins = p.instruction
        user = (state.image.config.get("config") or {}).get("User") or ""
        argv = list(p.words)
        env = dict(p.args_used)
        env.update(state.image.env)
        cwd = (state.image.config.get("config") or {}).get("WorkingDir") or "/"
        mount = self._mount(state)
        if user:
            try:
                mount.cred, home = user_cred(user, mount)
            except LabkitError as exc:
                raise BuildError(exc.message, step=p.step, line=ins.line,
                                 instruction=ins.original, fix=exc.fix) from None
            env.setdefault("HOME", home)
        try:
            volumes = make_mountpoints(mount, state.image.config)
        except LabkitError as exc:
            raise BuildError(exc.message, step=p.step, line=ins.line,
                             instruction=ins.original, fix=exc.fix) from None
        before = dict(mount.upper)
        self.emit(ev.StepRunning(p.step, secrets.token_hex(6)))
        result = run_argv(argv, mount, env=env, cwd=cwd)
        if result.output:
            self.emit(ev.StepOutput(p.step, result.output))
        if result.exit_code != 0:
            shown = " ".join(argv)
            raise BuildError(f"The command '{shown}' returned a non-zero code: {result.exit_code}",
                             step=p.step, instruction=ins.original, exit_code=result.exit_code,
                             output=result.output, line=ins.line,
                             fix="read the step's output above; fix the command and build again")
        return without_volume_writes(dict(mount.upper), before, volumes) or None

    # ------------------------------------------------------------------ COPY / ADD
    def _from_key(self, p) -> tuple[str, ...]:
        """The daemon's key for ``COPY --from``: the checksum of the files in the source
        image, in place of the plan's token (the plan does not have that image)."""
        ins = p.instruction
        checksum = image_source_checksum(self._from_image(p).layers, p.words[:-1], line=ins.line)
        chown_text = f"--chown={p.chown}" if p.chown else ""
        return p.key[:-1] + (f"#(nop) {ins.keyword} {chown_text}{checksum} in {p.words[-1]} ",)

    def _from_image(self, p):
        """The stage (or, as Docker allows, the image) a ``COPY --from`` names."""
        ins, ref = p.instruction, p.from_ref
        idx = find_stage(self.df.stages, ref)
        if idx is not None and idx in self.finals:
            return self.finals[idx]
        if ref not in self.bases:
            try:
                self.bases[ref] = self.resolve(ref)
            except (LabkitError, LookupError):
                raise BuildError(f"invalid from flag value {ref}: no such stage or image (the "
                                 "simulator has no registry to pull from)", line=ins.line,
                                 instruction=ins.original,
                                 fix="name a stage defined above, or an image this engine has") from None
        return self.bases[ref]

    def _copy(self, p, state: _StageState) -> LayerDir:
        ins = p.instruction
        srcs, dest = list(p.words[:-1]), p.words[-1]
        workdir = (state.image.config.get("config") or {}).get("WorkingDir") or "/"
        dest_abs = dest if dest.startswith("/") else posixpath.join(workdir, dest)
        mount = self._mount(state)
        identity = _parse_chown(p.chown, mount) if p.chown is not None else None
        from_ref = p.from_ref
        if from_ref is not None:
            items = _image_items(self._from_image(p).layers, srcs, ins)
            preserve = identity is None
        else:
            items = _context_items(self.ctx, self.root, srcs, ins)
            preserve = False
            if identity is None:
                identity = (0, 0)
        wildcard = any(re.search(r"[*?\[]", s) for s in srcs)
        if (len(srcs) > 1 or wildcard and len(items) > 1) and not dest.endswith("/"):
            raise BuildError(f"When using {ins.keyword} with more than one source file, the "
                             "destination must be a directory and end with a /", step=p.step,
                             line=ins.line, instruction=ins.original,
                             fix=f"write the destination as {dest}/")
        into_dir = dest.endswith("/") or len(srcs) > 1 or wildcard
        charge = self.held.charge(self._where(p))   # content read from the context, before reading it
        try:
            for it in items:
                if ins.keyword == "ADD" and from_ref is None and it.kind == "file":
                    opener = functools.partial(_open_item, it)
                    size = archive_size(it.name, opener, ins, charge, self.limits)
                    if size is not None:      # an archive: unpacked, holding what was counted
                        _untar(mount, archive_entries(it.name, opener, ins, size, self.limits),
                               dest_abs, it.name)
                        continue
                if from_ref is None:        # COPY --from shares the stage's content: no new bytes
                    charge.add(it.node.size if it.kind == "file" else
                               sum(n.size for _, n, _ in it.children if n.kind == "file"), repr(it.name))
                _copy_item(mount, it, dest_abs, into_dir, identity, preserve)
        except OSError as exc:
            raise BuildError(f"{ins.keyword} failed: {exc.filename}: {os.strerror(exc.errno)}",
                             step=p.step, line=ins.line, instruction=ins.original,
                             fix="check the destination path against what the image holds") from exc
        return dict(mount.upper)

    # ------------------------------------------------------------------ squash
    def squash(self, stage, image):
        base = self.stage_base(stage)
        nbase = len(base.layers)
        below, mine = image.layers[:nbase], image.layers[nbase:]
        if not mine:
            return image
        layer = squash_layers(list(mine), below=list(below))
        cfg = copy.deepcopy(dict(image.config))
        base_hist = len(base.config.get("history") or [])
        hist = [dict(h) for h in cfg.get("history") or []]
        for h in hist[base_hist:]:
            h["empty_layer"] = True
        hist.append({"created": _now_iso(),          # as Docker 20.10 --squash writes it
                     "comment": f"merge {image.id} to {base.id}"})
        cfg["history"] = hist
        ids = list(cfg["rootfs"]["diff_ids"][:nbase])
        ids.append(layer_digest(layer))
        cfg["rootfs"] = {"type": "layers", "diff_ids": ids}
        return SimImage(tuple(below) + (layer,), cfg)

    def stage_base(self, stage):
        if stage.base_stage is not None:
            return self.finals[stage.base_stage]
        if stage.base.lower() == SCRATCH:
            return _scratch()
        return self.bases[stage.base]


def _env_set(envlist: list[str], name: str, value: str) -> list[str]:
    out = list(envlist)
    for i, item in enumerate(out):
        if item.partition("=")[0] == name:
            out[i] = f"{name}={value}"
            return out
    out.append(f"{name}={value}")
    return out


# ---------------------------------------------------------------------- copy sources

@dataclass(frozen=True)
class _Item:
    """One thing to copy: a file/dir/symlink, with its descendants for a directory."""

    name: str                                   # as written / matched (for messages)
    kind: str                                   # file | dir | symlink
    node: Node                                  # mode, owner, link target
    reader: Callable[[], bytes] | None = None
    children: tuple[tuple[str, Node, Callable[[], bytes] | None], ...] = ()   # rel path, node
    source: Path | None = None                  # a context file: read as a stream (ADD archives)

    def data(self) -> bytes:
        return self.reader() if self.reader else b""


def _go_match(pattern: str, name: str) -> bool:
    import fnmatch  # noqa: PLC0415
    if pattern.count("/") != name.count("/"):
        return False
    return all(fnmatch.fnmatchcase(n, p) for p, n in zip(pattern.split("/"), name.split("/")))


def _context_items(ctx, root: Path, srcs: list[str], ins) -> list[_Item]:
    entries = {e.path: e for e in ctx.entries}

    def reader(rel: str) -> Callable[[], bytes]:
        return lambda: (root / rel).read_bytes()

    def node_of(e) -> Node:
        kind = "file" if e.kind == "hardlink" else e.kind
        mtime = int(time.time())          # a directory the daemon makes itself: build time
        if not getattr(e, "implied", False):
            try:
                mtime = int(os.lstat(root / e.path).st_mtime)
            except OSError:
                pass
        if kind == "symlink":
            return Node.symlink(e.linkname, uid=e.uid, gid=e.gid, mtime=mtime)
        if kind == "dir":
            return Node.dir(e.mode, uid=e.uid, gid=e.gid, mtime=mtime)
        if kind == "file":
            return Node("file", mode=e.mode, uid=e.uid, gid=e.gid, mtime=mtime, size=e.size,
                        sha256=e.sha256)
        raise UnsupportedOperation(f"{ins.keyword} of the special file {e.path!r} ({e.kind})",
                                   fix=_FIX_DOCKER)

    def resolve(rel: str) -> str:
        return resolve_in_scope(rel, lambda p: (entries[p].linkname if p in entries
                                                and entries[p].kind == "symlink" else None))

    def item(path: str, shown: str) -> _Item:
        if path == "":
            kids = tuple((e.path, node_of(e), reader(e.path) if e.kind in ("file", "hardlink") else None)
                         for e in ctx.entries)
            return _Item(shown, "dir", Node.dir(), None, kids)
        e = entries[path]
        n = node_of(e)
        if n.kind == "dir":
            pre = path + "/"
            kids = tuple((x.path[len(pre):], node_of(x),
                          reader(x.path) if x.kind in ("file", "hardlink") else None)
                         for x in ctx.entries if x.path.startswith(pre))
            return _Item(shown, "dir", n, None, kids)
        return _Item(shown, n.kind, n, reader(path) if n.kind == "file" else None,
                     source=root / path if n.kind == "file" else None)

    out: list[_Item] = []
    for src in srcs:
        rel = src.lstrip("/")
        rel = rel[2:] if rel.startswith("./") else rel
        rel = rel.rstrip("/") if rel not in ("", ".") else ""
        if re.search(r"[*?\[]", rel):
            for e in ctx.entries:
                if _go_match(rel, e.path):
                    out.append(item(e.path, e.path))
            continue
        target = resolve(rel) if rel else ""
        if target and target not in entries:
            raise BuildError(f"{ins.keyword} failed: file not found in build context or excluded "
                             f"by .dockerignore: stat {rel}: file does not exist", line=ins.line,
                             instruction=ins.original,
                             fix=f"create {rel} in the build context, or remove it from .dockerignore")
        out.append(item(target, src))
    return out


def _tree_resolve(tree: Mapping[str, Node], path: str) -> str:
    return resolve_in_scope(path, lambda p: (tree[p].linkname if p in tree
                                             and tree[p].kind == "symlink" else None))


def _image_items(layers, srcs: list[str], ins) -> list[_Item]:
    tree = merge(list(layers))
    out: list[_Item] = []

    def reader_of(n: Node) -> Callable[[], bytes]:
        return lambda: n.data if n.data is not None else b""

    for src in srcs:
        rel = src.strip("/")
        matches = [p for p in tree if _go_match(rel, p)] if re.search(r"[*?\[]", rel) \
            else [_tree_resolve(tree, rel)]
        for path in matches:
            n = tree.get(path) if path else Node.dir()
            if n is None:
                raise BuildError(f"COPY failed: stat {src}: file does not exist in the stage's "
                                 "image", line=ins.line, instruction=ins.original,
                                 fix=f"make {src} in that stage, or fix the path")
            if n.kind == "dir":
                pre = path + "/" if path else ""
                kids = tuple((p[len(pre):], m, reader_of(m) if m.kind == "file" else None)
                             for p, m in sorted(tree.items()) if p.startswith(pre) and p != path)
                out.append(_Item(src, "dir", n, None, kids))
            else:
                out.append(_Item(src, n.kind, n, reader_of(n) if n.kind == "file" else None))
    return out


def image_source_checksum(layers, srcs: Iterable[str], *, line: int | None = None) -> str:
    """The checksum the daemon puts in a ``COPY --from`` key (``file:``/``dir:``/``multi:``).

    For files in an image (not the context) the daemon hashes a tar header built from the
    file itself (moby ``remotecontext.NewFileHash``): the path inside the image, the mode
    *with its type bits*, owners, ``uname``/``gname`` as the daemon host names the ids
    (modelled: ``root`` for 0, empty otherwise), then the content.
    """
    tree = merge(list(layers))

    def one(path: str) -> str:
        n = tree[path] if path else Node.dir()
        name = path + ("/" if n.kind == "dir" else "")
        bits = {"file": _stat.S_IFREG, "dir": _stat.S_IFDIR, "symlink": _stat.S_IFLNK}.get(n.kind, 0)
        flag = {"file": "0", "dir": "5", "symlink": "2"}.get(n.kind, "0")
        header = (("name", name), ("mode", str(bits | (n.mode & 0o7777))), ("uid", str(n.uid)),
                  ("gid", str(n.gid)), ("size", str(n.size if n.kind == "file" else 0)),
                  ("typeflag", flag), ("linkname", n.linkname if n.kind == "symlink" else ""),
                  ("uname", "root" if n.uid == 0 else ""), ("gname", "root" if n.gid == 0 else ""),
                  ("devmajor", "0"), ("devminor", "0"))
        h = hashlib.sha256("".join(k + v for k, v in header).encode("utf-8", "surrogateescape"))
        if n.kind == "file":
            h.update(n.data or b"")
        return h.hexdigest()

    keys: list[str] = []
    for src in srcs:
        rel = src.strip("/")
        paths = [p for p in tree if _go_match(rel, p)] if re.search(r"[*?\[]", rel) \
            else [_tree_resolve(tree, rel)]
        for path in paths:
            node = tree.get(path) if path else Node.dir()
            if node is None:
                raise BuildError(f"COPY failed: stat {src}: file does not exist in the stage's image",
                                 line=line, fix=f"make {src} in that stage, or fix the path")
            if node.kind == "dir":
                pre = path + "/" if path else ""
                subs = [one(p) for p in tree if p.startswith(pre)] + ([one(path)] if path else [])
                keys.append("dir:" + hashlib.sha256(",".join(sorted(subs)).encode()).hexdigest())
            else:
                keys.append("file:" + one(path))
    if len(keys) == 1:
        return keys[0]
    return "multi:" + hashlib.sha256(",".join(keys).encode()).hexdigest()


def _parse_chown(spec: str, mount) -> tuple[int, int]:
    """``--chown=user[:group]``: numbers, or names from the image's /etc/passwd and /etc/group;
    a missing group means the user's name/number again (moby ``parseChownFlag``)."""
    user, _, group = spec.partition(":")
    group = group or user


    def lookup(db: str, name: str) -> int:
        if name.isdigit():
            return int(name)
        found = id_of(mount, db, name)
        if found is not None:
            return found
        raise BuildError(f"--chown={spec}: no {'user' if db == 'passwd' else 'group'} named "
                         f"{name!r} in the image's /etc/{db}",
                         fix="use numeric ids, or add the user in an earlier RUN")
    return lookup("passwd", user), lookup("group", group)


def _mkdirs(mount, path: str, identity: tuple[int, int] | None) -> None:
    """``MkdirAllAndChownNew(path, 0755, identity)``: only new directories get the owner."""
    cur = ""
    for part in [x for x in path.split("/") if x]:
        cur += "/" + part
        try:
            node = mount.stat(cur)
            if node.kind != "dir":
                raise NotADirectoryError(20, os.strerror(20), cur)
        except FileNotFoundError:
            mount.mkdir(cur, 0o755)
            if identity is not None and identity != (0, 0):
                mount.chown(cur, *identity)


def _remove_tree(mount, path: str) -> None:
    node = mount.stat(path, follow=False)
    if node.kind == "dir":
        for child in mount.listdir(path):
            _remove_tree(mount, posixpath.join(path, child))
        mount.rmdir(path)
    else:
        mount.unlink(path)


def _place(mount, path: str, node: Node, reader, owner: tuple[int, int]) -> None:
    """One tar entry unpacked the way Docker's untar does it (replace unless dir over dir)."""
    try:
        old = mount.stat(path, follow=False)
    except FileNotFoundError:
        old = None
    if old is not None and not (old.kind == "dir" and node.kind == "dir"):
        _remove_tree(mount, path)
        old = None
    if node.kind == "dir":
        if old is None:
            mount.mkdir(path, node.mode)
        mount.chown(path, *owner)
        mount.chmod(path, node.mode)
    elif node.kind == "symlink":
        mount.symlink(node.linkname, path)
        if owner != (0, 0):
            mount.chown(path, *owner, follow=False)
        return
    else:
        mount.write(path, reader() if reader else b"")
        mount.chown(path, *owner)
        mount.chmod(path, node.mode)
    if node.mtime:
        mount.utime(path, node.mtime)


def _copy_item(mount, it: _Item, dest: str, into_dir: bool, identity, preserve: bool) -> None:
    def owner(n: Node) -> tuple[int, int]:
        return (n.uid, n.gid) if preserve else identity

    if it.kind == "dir":
        existed = mount.exists(dest)
        _mkdirs(mount, dest, None)
        if not existed and not preserve and identity != (0, 0):
            mount.chown(dest, *identity)
        for rel, n, reader in it.children:
            _place(mount, posixpath.join(dest, rel), n, reader, owner(n))
        return
    target = dest
    if into_dir or dest.endswith("/"):
        target = posixpath.join(dest, posixpath.basename(it.name.rstrip("/")))
    else:
        try:
            if mount.stat(dest).kind == "dir":
                target = posixpath.join(dest, posixpath.basename(it.name.rstrip("/")))
        except OSError:
            pass
    _mkdirs(mount, posixpath.dirname(target) or "/", None if preserve else identity)
    _place(mount, target, it.node, it.reader, owner(it.node))


# ---------------------------------------------------------------------- ADD of an archive

def _open_item(it: _Item) -> IO[bytes]:
    """A file to copy as a stream: a context file is read from disk piece by piece."""
    return open(it.source, "rb") if it.source is not None else io.BytesIO(it.data())


def _untar(mount, entries: Iterable, dest: str, name: str) -> None:
    """Docker's untar of an ``ADD`` archive into ``dest`` (a directory, made ``0755`` when
    missing): names stay inside ``dest`` (``../x`` lands at ``dest/x``), owners, modes and
    times come from the archive (``--chown`` is not applied), an existing entry is replaced
    unless both are directories, a ``./`` entry is skipped (``dest`` keeps its metadata), and
    directory times are set last."""
    _mkdirs(mount, dest, None)
    dir_times: list[tuple[str, int]] = []
    for e in entries:
        if e.whiteout:
            raise UnsupportedOperation(
                f"ADD {name}: the archive holds the whiteout name {e.raw_name!r}; Docker's "
                "result for that is not a plain unpack, and the simulator does not model it",
                fix=_FIX_DOCKER)
        node = e.node
        if not e.path:
            continue     # "." (and "./"): Docker skips it, since the destination is a directory
        if node.kind in ("char", "block", "fifo", "whiteout"):
            raise UnsupportedOperation(f"ADD {name}: the archive holds the device or fifo "
                                       f"{e.raw_name!r}", fix=_FIX_DOCKER)
        target = posixpath.join(dest, e.path)
        _mkdirs(mount, posixpath.dirname(target), None)
        if e.hardlink:
            try:
                old = mount.stat(target, follow=False)
            except FileNotFoundError:
                old = None
            if old is not None:
                _remove_tree(mount, target)
            mount.link(posixpath.join(dest, e.hardlink), target)
            if mount.stat(target, follow=False).kind != "symlink":
                mount.chown(target, node.uid, node.gid)
                mount.chmod(target, node.mode)
                mount.utime(target, node.mtime)
            continue
        if node.kind == "dir":
            _place(mount, target, node, None, (node.uid, node.gid))
            dir_times.append((target, node.mtime))
            continue
        data = node.data if node.data is not None else b""
        _place(mount, target, node, lambda data=data: data, (node.uid, node.gid))
        if node.kind == "symlink":
            mount.utime(target, node.mtime, follow=False)
    for path, mtime in reversed(dir_times):
        mount.utime(path, mtime)


