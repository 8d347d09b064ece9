"""A model of the classic builder's cache (Docker 20.10): which steps hit, which miss, and why.

How the real builder decides (moby ``builder/dockerfile`` + ``image/cache``), and what
this model reproduces:

* Every step except ``FROM`` and a global ``ARG`` probes the cache with a *key*: the
  command of the container that would make the step — ``/bin/sh -c #(nop) ENV A=b`` for
  metadata steps (ENV, LABEL, ARG, WORKDIR, USER, EXPOSE, CMD, ENTRYPOINT, ...),
  ``/bin/sh -c #(nop) COPY file:<checksum> in /dest`` for COPY/ADD, and the command itself
  for RUN, prefixed by the build args the RUN sees (``|1 V=2 /bin/sh -c make``).
  ``docker history`` shows exactly these strings; ``StepPrediction.key`` is the same text
  (checked against the daemon; the exceptions are listed under "Known limits").
* A step hits when an image made earlier *from the same parent image* has the same key.
  So the cache is a tree; this model names each node by hashing its parent's name with
  the key, and ``CacheState`` is the set of nodes earlier builds made.
* The first miss busts the cache for the rest of that stage (the next stage starts again).
* ``ARG`` steps key on the Dockerfile's default, not on ``--build-arg``; a changed build
  arg first shows where it is *used*: in a substituted instruction (ENV, LABEL, COPY,
  WORKDIR, ...) or in any RUN after the ARG (RUN gets all declared build args in its key,
  unless an ``ENV`` of the same name shadows it).
* COPY/ADD keys hash the copied files' content, names, permission bits and owners —
  never their modification time (``labkit.build.context``). ``COPY --chown`` is part of the key.
* ``--no-cache`` misses everything. Build ``labels`` are extra ``LABEL`` steps Docker
  appends to the last stage.

Use::

    df = parse(open("Dockerfile").read())
    first = predict(df, "ctx")                  # nothing cached yet: every step misses
    # ... edit files in ctx ...
    after = predict(df, "ctx", cache=first.state)
    print(after)                                # one line per step: CACHED/BUILD and why

``CacheState.record(prediction, build_record)`` adds a real build (keeping its image ids).

Known limits: ``COPY --from=<stage>`` keys on the files of that stage's image, which the
model does not have. It assumes they change exactly when that stage was rebuilt; such
predictions carry ``certain=False`` (Docker still hits when a rebuilt stage produced
byte-identical files), and their ``key`` is the model's own token. Every step whose outcome
follows from such a step (later in its stage, in a stage built FROM it, or copying from it)
is uncertain too, and its reason names the step it depends on. HEALTHCHECK keys are
Docker's own text (the parsed struct, so ``--interval=60s`` and ``--interval=1m`` hit each
other); ONBUILD and MAINTAINER keys are their text. What a FROM image's config contributes
(ENV, WorkingDir, SHELL) is known when it is passed in ``bases``; its ONBUILD triggers are
not run.
"""
from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from ..errors import BuildError
from .context import BuildContext, CopySource, list_context
from .dockerfile import (
    DEFAULT_SHELL,
    Dockerfile,
    Instruction,
    Stage,
    find_stage,
    substitute,
    substitute_words,
)
from .healthcheck import Healthcheck, parse_healthcheck

BUILTIN_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
_VAR = re.compile(r"\$(?:\{([A-Za-z0-9_]+)|([A-Za-z0-9_]+))")


@dataclass(frozen=True)
class BaseImage:
    """What a step planner needs of a ``FROM`` image: its id (the root of its cache chain) and
    the config a stage starts from: ENV (shadows ARGs in expansion), WorkingDir, SHELL."""

    id: str
    env: tuple[tuple[str, str], ...] = ()
    workdir: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL

    @classmethod
    def of(cls, image_id: str, config: Mapping) -> "BaseImage":
        """From an image id and its config JSON (``config`` section read: Env, WorkingDir, Shell)."""
        c = config.get("config") or {}
        env = tuple(tuple(item.split("=", 1)) if "=" in item else (item, "")
                    for item in c.get("Env") or ())
        return cls(image_id, env, c.get("WorkingDir") or "", tuple(c.get("Shell") or DEFAULT_SHELL))


@dataclass(frozen=True)
class PlannedStep:
    """One step of a build, resolved once: the cache key the classic builder probes with and
    the instruction's arguments after variable substitution, which a builder executes as they
    are (it never substitutes again)."""

    step: int                              # Docker's "Step n/N" number
    stage: str                             # stage name, or its index as text
    stage_index: int
    instruction: Instruction
    key: tuple[str, ...]                   # the probe's command (empty for FROM / global ARG)
    parent: str = ""                       # model name of the parent image
    node: str = ""                         # model name of the image this step makes
    args_used: tuple[tuple[str, str], ...] = ()   # build args in a RUN's key
    vars_used: tuple[tuple[str, str], ...] = ()   # variables substituted into the text
    sources: tuple[tuple[str, tuple], ...] = ()   # (context path, fingerprint) of COPY/ADD
    from_stage: str | None = None          # COPY --from=<stage>
    from_stage_rebuilt: bool = False
    # resolved arguments: RUN/CMD/ENTRYPOINT the argv (shell form under the stage's SHELL);
    # COPY/ADD sources + destination; WORKDIR the absolute directory; VOLUME, EXPOSE, SHELL
    # their words; USER, STOPSIGNAL the value
    words: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str | None], ...] = ()   # ENV, LABEL, ARG (name, value or default)
    chown: str | None = None               # COPY/ADD --chown, substituted
    from_ref: str | None = None            # COPY --from, substituted (a stage or an image)
    healthcheck: Healthcheck | None = None

    @property
    def created_by(self) -> str:
        """The key as ``docker history`` prints it."""
        return " ".join(self.key)

    @property
    def probes(self) -> bool:
        return bool(self.key)


@dataclass(frozen=True)
class StepPrediction:
    step: int
    stage: str
    instruction: str                       # as Docker prints it after "Step n/N : "
    line: int                              # 1-based Dockerfile line (0 for build labels)
    hit: bool
    reason: str
    key: str = ""                          # what docker history will show for this step
    certain: bool = True

    def __str__(self) -> str:
        mark = "CACHED" if self.hit else "BUILD "
        return f"step {self.step:>2} {mark} {self.instruction}  -- {self.reason}"


@dataclass(frozen=True)
class CacheEntry:
    """One image an earlier build made: parent + key -> node, and what went into the key."""

    parent: str
    node: str
    keyword: str
    text: str                              # the instruction as written
    key: tuple[str, ...]
    args_used: tuple[tuple[str, str], ...] = ()
    vars_used: tuple[tuple[str, str], ...] = ()
    sources: tuple[tuple[str, tuple], ...] = ()
    build: int = 0                         # which recorded build made it (newest wins)
    image_id: str | None = None            # the real image, when recorded from a BuildRecord


@dataclass(frozen=True)
class CacheState:
    """What earlier builds left in the cache. Immutable: ``record`` returns a new state."""

    entries: tuple[CacheEntry, ...] = ()
    builds: int = 0

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(e.node for e in self.entries)

    def children(self, parent: str) -> list[CacheEntry]:
        """Entries made on ``parent``, newest first."""
        return sorted((e for e in self.entries if e.parent == parent), key=lambda e: -e.build)

    def record(self, build: "Prediction", record: object | None = None) -> "CacheState":
        """The state after ``build`` ran. With a ``BuildRecord`` of the real build, each entry
        also keeps the real image id (the record's steps must be the same steps)."""
        ids: dict[int, str | None] = {}
        if record is not None:
            real = {s.n: s for s in getattr(record, "steps")}
            for p in build.plan:
                if p.step not in real:
                    raise BuildError(f"the build record has no step {p.step} "
                                     f"({p.instruction.original}); it is not a record of this "
                                     "Dockerfile", fix="record the build you predicted")
                ids[p.step] = real[p.step].image_id
        n = self.builds + 1
        by_node = {e.node: e for e in self.entries}   # keeps first-seen order
        for p in build.plan:
            if p.probes:  # a rebuilt node is the newest image with that key
                by_node[p.node] = CacheEntry(
                    parent=p.parent, node=p.node, keyword=p.instruction.keyword,
                    text=p.instruction.original, key=p.key, args_used=p.args_used,
                    vars_used=p.vars_used, sources=p.sources, build=n, image_id=ids.get(p.step))
        return CacheState(tuple(by_node.values()), n)


@dataclass(frozen=True)
class Prediction:
    steps: tuple[StepPrediction, ...]      # the steps that probe the cache, in order
    plan: tuple[PlannedStep, ...]          # every step, FROM and global ARG included
    state: CacheState                      # the cache after this build (if it succeeds)
    total: int = 0                         # Docker's N in "Step n/N"

    @property
    def hits(self) -> tuple[bool, ...]:
        return tuple(s.hit for s in self.steps)

    def __str__(self) -> str:
        return "\n".join(str(s) for s in self.steps)


# ---------------------------------------------------------------------------

def _node(parent: str, key: Sequence[str]) -> str:
    return hashlib.sha256((parent + "\0" + json.dumps(list(key))).encode()).hexdigest()[:32]


def _go_quote_list(items: Sequence[str]) -> str:
    return "[" + " ".join(json.dumps(i, ensure_ascii=False) for i in items) + "]"


@dataclass
class _StageState:
    env: dict[str, str] = field(default_factory=dict)
    args: dict[str, str | None] = field(default_factory=dict)   # declared in this stage
    workdir: str = ""
    shell: tuple[str, ...] = DEFAULT_SHELL
    node: str = ""


def plan(dockerfile: Dockerfile, context: BuildContext | str | None = None, *,
         build_args: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
         bases: Mapping[str, BaseImage] | None = None,
         target: str | None = None) -> tuple[PlannedStep, ...]:
    """Every step of the build with its cache key and resolved arguments (no cache knowledge
    needed). ``bases`` maps a FROM image name to what the build starts from there (its id,
    ENV, WorkingDir, SHELL); an image not in it is known by name only."""
    build_args = dict(build_args if build_args is not None else dict(dockerfile.build_args))
    ctx = list_context(context) if isinstance(context, (str, Path)) else context
    bases = dict(bases or {})
    stages = list(dockerfile.stages)
    if target is not None:
        stages = stages[:dockerfile.stage(target).index + 1]
    meta = dict(dockerfile.meta_values)
    steps: list[PlannedStep] = []
    n = 0
    for ins in dockerfile.meta_args:
        n += 1
        steps.append(PlannedStep(n, "", -1, ins, ()))
    finals: dict[int, _StageState] = {}
    for st in stages:
        n += 1
        steps.append(PlannedStep(n, st.label, st.index, st.from_instruction, ()))
        if st.base_stage is not None:
            parent_state = finals[st.base_stage]
            state = _StageState(env=dict(parent_state.env), workdir=parent_state.workdir,
                                shell=parent_state.shell, node=parent_state.node)
        else:
            base = bases.get(st.base) or BaseImage(st.base)
            state = _StageState(env=dict(base.env), workdir=base.workdir, shell=base.shell,
                                node="image:" + base.id)
        extra = list(st.instructions)
        if labels and st is stages[-1]:
            for k in sorted(labels):
                extra.append(Instruction("LABEL", f"{k}={labels[k]}", 0, 0,
                                         f"LABEL {k}={labels[k]}", pairs=((k, labels[k]),)))
        for ins in extra:
            n += 1
            step = _plan_step(n, st, ins, state, ctx, build_args, meta, dockerfile, finals)
            state.node = step.node
            steps.append(step)
        finals[st.index] = state
    return tuple(steps)


def exposed_ports(specs: Iterable[str]) -> list[str]:
    """``EXPOSE`` specs as the image config's ``ExposedPorts`` keys (Docker's
    ``nat.ParsePortSpecs``): ``80`` -> ``80/tcp``, ``443/TCP`` -> ``443/tcp``, a range
    ``8000-8002/udp`` -> three ports, ``[ip:]host:container`` exposes the container port.
    Raises ``BuildError`` with Docker's message for a bad spec."""
    out: list[str] = []
    for raw in specs:
        parts = raw.split(":")
        container = parts[-1]
        host = parts[-2] if len(parts) >= 2 else ""
        ip = ":".join(parts[:-2]) if len(parts) >= 3 else ""
        bits = container.split("/")
        if not container or not bits[0]:
            proto, container = "", ""
        elif len(bits) == 1 or not bits[1]:
            proto, container = "tcp", bits[0]
        else:
            proto, container = bits[1], bits[0]
        if ip and not _is_ip(ip.strip("[]")):
            raise BuildError(f"invalid IP address: {ip}", fix="EXPOSE takes PORT[/PROTO] (tcp, udp, sctp)")
        if not container:
            raise BuildError(f"No port specified: {raw}<empty>", fix="EXPOSE takes PORT[/PROTO]")
        span = _port_range(container)
        if span is None:
            raise BuildError(f"Invalid containerPort: {container}",
                             fix="a port is 0-65535, or a range like 8000-8010")
        if host and _port_range(host) is None:
            raise BuildError(f"Invalid hostPort: {host}", fix="EXPOSE takes PORT[/PROTO]")
        if proto.lower() not in ("tcp", "udp", "sctp"):
            raise BuildError(f"Invalid proto: {proto}", fix="the protocol is tcp, udp or sctp")
        out += [f"{n}/{proto.lower()}" for n in range(span[0], span[1] + 1)]
    return out


def _port_range(text: str) -> tuple[int, int] | None:
    lo, dash, hi = text.partition("-")
    if not lo.isdigit() or (dash and not hi.isdigit()) or not lo.isascii() or not hi.isascii():
        return None
    start, end = int(lo), int(hi) if dash else int(lo)
    if start > 65535 or end > 65535 or end < start:
        return None
    return start, end


def _is_ip(text: str) -> bool:
    import ipaddress  # noqa: PLC0415
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _expansion_env(state: _StageState) -> dict[str, str]:
    env = {k: v for k, v in state.args.items() if v is not None}
    env.update(state.env)                  # ENV wins over ARG
    return env


def _used(text: str, env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    names = {a or b for a, b in _VAR.findall(text)}
    return tuple(sorted((k, env.get(k, "")) for k in names))


def _plan_step(n: int, st: Stage, ins: Instruction, state: _StageState,
               ctx: BuildContext | None, build_args: Mapping[str, str],
               meta: Mapping[str, str | None], dockerfile: Dockerfile,
               finals: Mapping[int, _StageState]) -> PlannedStep:
    kw = ins.keyword
    esc = dockerfile.escape
    env = _expansion_env(state)

    def sub(text: str) -> str:
        return substitute(text, env, escape=esc, line=ins.line)

    def nop(comment: str) -> tuple[str, ...]:
        return state.shell + ("#(nop) ", comment)

    extra: dict = {"vars_used": _used(ins.args, env)}
    if kw == "RUN":
        if ins.flag("mount") is not None:
            raise BuildError("the --mount option requires BuildKit; Docker's classic builder "
                             "refuses it", line=ins.line, instruction=ins.original,
                             fix="drop --mount (or build with BuildKit, which labkit does not model)")
        cmd = ins.words if ins.json else state.shell + (ins.args,)
        allowed = {k: v for k, v in state.args.items() if v is not None and k not in state.env}
        for k in BUILTIN_ARGS:
            if k in build_args and k not in state.env and k not in state.args:
                allowed.setdefault(k, build_args[k])
        used = sorted(f"{k}={v}" for k, v in allowed.items()
                      if k not in BUILTIN_ARGS or k in state.args)
        key = tuple(cmd)
        if allowed:
            key = (f"|{len(used)}", *used, *cmd)
        extra["args_used"] = tuple(sorted((k, v) for k, v in allowed.items()
                                          if k not in BUILTIN_ARGS or k in state.args))
        extra["vars_used"] = ()
        extra["words"] = tuple(cmd)
    elif kw in ("ENV", "LABEL"):
        pairs = [(sub(k), sub(v or "")) for k, v in ins.pairs]
        key = nop(kw + "".join(f" {k}={v}" for k, v in pairs))
        extra["pairs"] = tuple(pairs)
        if kw == "ENV":
            for k, v in pairs:
                state.env[k] = v
    elif kw == "ARG":
        words = []
        declared = []
        for k, v in ins.pairs:
            name = sub(k)
            default = sub(v) if v is not None else None
            words.append(name if default is None else f"{name}={default}")
            declared.append((name, default))
            if name in build_args:
                state.args[name] = build_args[name]
            elif default is None:
                state.args[name] = meta.get(name)
            else:
                state.args[name] = default
        key = nop("ARG " + " ".join(words))
        extra["pairs"] = tuple(declared)
    elif kw == "WORKDIR":
        path = sub(ins.args)
        if not path.startswith("/"):
            path = posixpath.join(state.workdir or "/", path)
        state.workdir = posixpath.normpath(path) if path != "/" else "/"
        if state.workdir.startswith("//"):
            state.workdir = "/" + state.workdir.lstrip("/")
        key = state.shell + ("#(nop) WORKDIR " + state.workdir,)
        extra["words"] = (state.workdir,)
    elif kw == "USER":
        extra["words"] = (sub(ins.args),)
        key = nop("USER " + extra["words"][0])
    elif kw == "EXPOSE":
        ports: list[str] = []
        for w in ins.words:
            ports.extend(substitute_words(w, env, escape=esc, line=ins.line))
        try:
            exposed_ports(ports)
        except BuildError as exc:
            raise BuildError(exc.message, line=ins.line, instruction=ins.original,
                             fix=exc.fix) from None
        key = nop("EXPOSE " + " ".join(sorted(ports)))
        extra["words"] = tuple(ports)
    elif kw in ("CMD", "ENTRYPOINT"):
        cmd = ins.words if ins.json else state.shell + (ins.args,)
        key = nop(f"{kw} {_go_quote_list(cmd)}")
        extra["vars_used"] = ()
        extra["words"] = tuple(cmd)
    elif kw == "SHELL":
        state.shell = tuple(ins.words)          # the step runs, and is recorded, under it
        key = nop("SHELL [" + " ".join(ins.words) + "]")   # Go's %v of the list: no quotes
        extra["vars_used"] = ()
        extra["words"] = tuple(ins.words)
    elif kw == "VOLUME":
        vols = [sub(w) for w in (ins.words if ins.json else ins.args.split())]
        key = nop("VOLUME [" + " ".join(vols) + "]")        # Go's %v of the list: no quotes
        extra["words"] = tuple(vols)
    elif kw == "HEALTHCHECK":
        extra["healthcheck"] = parse_healthcheck(ins.args, dict(ins.flags), line=ins.line)
        key = nop(extra["healthcheck"].history_text())
    elif kw in ("COPY", "ADD"):
        key, more = _copy_key(ins, state, ctx, sub, st, dockerfile, finals)
        extra.update(more)
    else:  # STOPSIGNAL, MAINTAINER, ONBUILD: keyed on their text
        rest = ins.original.split(None, 1)[1] if " " in ins.original.strip() else ""
        key = nop(f"{kw} {sub(rest) if kw == 'STOPSIGNAL' else rest}")
        if kw == "STOPSIGNAL":
            extra["words"] = (sub(ins.args),)
    key = tuple(key)
    return PlannedStep(n, st.label, st.index, ins, key, parent=state.node,
                       node=_node(state.node, key), **extra)


def _copy_key(ins: Instruction, state: _StageState, ctx: BuildContext | None, sub, st: Stage,
              dockerfile: Dockerfile,
              finals: Mapping[int, _StageState]) -> tuple[tuple[str, ...], dict]:
    kw = ins.keyword
    if ins.flag("chmod") is not None:
        raise BuildError("the --chmod option requires BuildKit; Docker's classic builder refuses it",
                         line=ins.line, instruction=ins.original,
                         fix="drop --chmod and RUN chmod after the copy")
    words = [sub(w) for w in ins.words]
    srcs, dest = words[:-1], words[-1]
    chown = ins.flag("chown")
    chown_text = f"--chown={sub(chown)}" if chown else ""
    extra: dict = {"words": tuple(words), "chown": sub(chown) if chown else None}
    src_ref = ins.flag("from")
    if src_ref is not None:
        ref = sub(src_ref)
        extra["from_ref"] = ref
        idx = find_stage(dockerfile.stages[:st.index], ref)
        if idx is None and ref.isdigit():
            why = "refers to current build stage" if int(ref) == st.index else "index out of bounds"
            raise BuildError(f"invalid from flag value {ref}: {why}", line=ins.line,
                             instruction=ins.original, fix="name a stage defined above this instruction")
        if idx is None or idx not in finals:    # an image: the daemon copies out of it
            checksum = f"from-image:{ref}:" + ",".join(srcs)
        else:
            src_stage = dockerfile.stages[idx]
            checksum = f"from-stage:{src_stage.label}@{finals[idx].node}:" + ",".join(srcs)
            extra["from_stage"] = src_stage.label
    else:
        if ctx is None:
            raise BuildError(f"{kw} needs the build context to compute its cache key",
                             line=ins.line, instruction=ins.original,
                             fix="pass the context directory to predict()/plan()")
        for s in srcs:
            if re.match(r"^[a-z]+://", s):
                raise BuildError(f"{kw} {s}: downloading is not available offline",
                                 line=ins.line, instruction=ins.original,
                                 fix="put the file into the build context and COPY it")
        source: CopySource = ctx.copy_source(srcs, instruction=kw, line=ins.line)
        checksum = source.key
        extra["sources"] = tuple(sorted((e.path, e.fingerprint) for e in source.entries))
    key = state.shell + (f"#(nop) {kw} {chown_text}{checksum} in {dest} ",)
    return key, extra


# ---------------------------------------------------------------------------

def predict(dockerfile: Dockerfile, context: BuildContext | str | None = None, *,
            cache: CacheState | None = None, build_args: Mapping[str, str] | None = None,
            no_cache: bool = False, labels: Mapping[str, str] | None = None,
            bases: Mapping[str, BaseImage] | None = None,
            target: str | None = None) -> Prediction:
    """Predict hit/miss (and why) for every step that probes the cache.

    ``cache`` is what earlier builds left (``CacheState()`` for none); the result's
    ``state`` is the cache after this build, ready for the next prediction.
    """
    cache = cache or CacheState()
    ctx = list_context(context) if isinstance(context, (str, Path)) else context
    steps = plan(dockerfile, ctx, build_args=build_args, labels=labels, bases=bases, target=target)
    # The daemon probes under the parent IMAGE and takes the newest image made there with the
    # same key, so a step rebuilt (--no-cache, or under a new parent) is a new image: its
    # identity here is the planned node plus the build that made it. Images made earlier in
    # this build count too (a second identical stage hits the first).
    newest: dict[tuple[str, tuple[str, ...]], CacheEntry] = {}
    for e in sorted(cache.entries, key=lambda e: e.build):
        newest[(e.parent, e.key)] = e
    actual: dict[str, str] = {}
    generation = cache.builds + 1
    resolved: list[PlannedStep] = []
    out: list[StepPrediction] = []
    busted: dict[int, PlannedStep] = {}
    rebuilt: set[str] = set()
    doubt: dict[str, PlannedStep] = {}      # stage -> its first step the model cannot be sure of
    final_steps: dict[str, PlannedStep] = {}
    for p in steps:
        p = replace(p, parent=actual.get(p.parent, p.parent))
        if not p.probes:
            resolved.append(replace(p, node=actual.get(p.node, p.node)))
            continue
        final_steps[p.stage] = p
        certain = True
        match = newest.get((p.parent, p.key))
        if no_cache or p.stage_index in busted or match is None:
            actual[p.node] = f"{p.node}.{generation}"
        else:
            actual[p.node] = match.node
        p = replace(p, node=actual[p.node])
        resolved.append(p)
        if no_cache:
            hit, why = False, "--no-cache: the cache is not consulted"
        elif p.stage_index in busted:
            first = busted[p.stage_index]
            hit = False
            why = (f"an earlier step missed (step {first.step}: {first.instruction.original}): "
                   f"the cache is busted for the rest of stage {p.stage}")
        elif match is not None:
            hit, why = True, _hit_reason(p)
            if p.from_stage is not None and p.from_stage in rebuilt:
                certain = False
        else:
            hit, why = False, _miss_reason(p, cache, steps, ctx)
            base = dockerfile.stages[p.stage_index].base_stage
            if base is not None and dockerfile.stages[base].label in rebuilt \
                    and not cache.children(p.parent):
                why = (f"{p.instruction.keyword}: this stage builds FROM stage "
                       f"{dockerfile.stages[base].label}, which was rebuilt: nothing is cached "
                       "on its new image")
            if p.from_stage is not None and p.from_stage in rebuilt:
                certain = False
                why += (f" (stage {p.from_stage} was rebuilt; Docker still hits if the copied "
                        "files came out byte-identical)")
        stage = dockerfile.stages[p.stage_index]
        after = doubt.get(p.stage) or (doubt.get(dockerfile.stages[stage.base_stage].label)
                                       if stage.base_stage is not None else None) \
            or (doubt.get(p.from_stage) if p.from_stage is not None else None)
        if certain and after is not None and not no_cache:
            certain = False
            why += (f" (uncertain: it follows step {after.step}, {after.instruction.original}, "
                    "whose outcome the model cannot know)")
        if not certain:
            doubt.setdefault(p.stage, p)
        if not hit:
            busted.setdefault(p.stage_index, p)
            rebuilt.add(p.stage)
            newest[(p.parent, p.key)] = CacheEntry(p.parent, p.node, p.instruction.keyword,
                                                   p.instruction.original, p.key, build=generation)
        out.append(StepPrediction(p.step, p.stage, p.instruction.original, p.instruction.line,
                                  hit, why, p.created_by, certain))
    pred = Prediction(tuple(out), tuple(resolved), cache, total=len(steps))
    return replace(pred, state=cache.record(pred))


def _hit_reason(p: PlannedStep) -> str:
    kw = p.instruction.keyword
    if kw == "RUN":
        args = f" and build args {_fmt_args(p.args_used)}" if p.args_used else ""
        return f"same command{args} on the same parent image as an earlier build"
    if kw in ("COPY", "ADD"):
        if p.from_stage is not None:
            return f"same files from stage {p.from_stage} on the same parent image"
        return (f"same {len(p.sources)} context entr{'y' if len(p.sources) == 1 else 'ies'} "
                "(content, names, modes, owners; mtime is ignored) on the same parent image")
    return f"same {kw} on the same parent image as an earlier build"


def _fmt_args(args: Iterable[tuple[str, str]]) -> str:
    return ", ".join(f"{k}={v}" for k, v in args) or "(none)"


def _miss_reason(p: PlannedStep, cache: CacheState, steps: Sequence[PlannedStep],
                 ctx: BuildContext | None) -> str:
    kw = p.instruction.keyword
    text = p.instruction.original
    siblings = cache.children(p.parent)
    if not siblings:
        prev = [s for s in steps if s.stage_index == p.stage_index and s.step < p.step]
        probed = [s for s in prev if s.probes]
        if not probed:
            return (f"{kw}: nothing is cached on this base yet "
                    f"({prev[0].instruction.original if prev else 'FROM'})")
        if p.parent in cache.nodes:
            return (f"{kw}: new step — no earlier build ran anything after step "
                    f"{probed[-1].step} ({probed[-1].instruction.original})")
        return f"{kw}: no earlier build reached this step"
    same_text = [e for e in siblings if e.keyword == kw and e.text == text]
    if same_text:
        e = same_text[0]
        if kw in ("COPY", "ADD") and p.from_stage is not None:
            return f"{kw} --from={p.from_stage}: stage {p.from_stage} was rebuilt, its files may differ"
        if kw in ("COPY", "ADD"):
            return f"{text}: " + _source_diff(dict(e.sources), dict(p.sources), ctx)
        if kw == "RUN":
            return f"{text}: " + _args_diff(dict(e.args_used), dict(p.args_used))
        changed = _vars_diff(dict(e.vars_used), dict(p.vars_used))
        if changed:
            return f"{text}: {changed} — the substituted text changed (first use)"
        return f"{text}: the resolved instruction changed (was '{' '.join(e.key)}')"
    moved = any(e.keyword == kw and e.text == text for e in cache.entries)
    hint = " — it was cached at another position before: moving steps busts the cache" \
        if moved else ""
    same_kw = [e for e in siblings if e.keyword == kw]
    if same_kw:
        return f"{kw}: instruction text changed (was '{same_kw[0].text}'){hint}"
    return (f"{kw}: no earlier build ran this instruction on this parent image (the cache "
            f"holds '{siblings[0].text}' there): steps were added, removed or reordered{hint}")


def _args_diff(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    parts = []
    for k in sorted(set(old) | set(new)):
        if k in old and k in new and old[k] != new[k]:
            parts.append(f"ARG {k} changed ({old[k]} -> {new[k]})")
        elif k in new and k not in old:
            parts.append(f"ARG {k} is now set ({new[k]})")
        elif k in old and k not in new:
            parts.append(f"ARG {k} is no longer set (was {old[k]})")
    if not parts:
        return "the command's key changed"
    return "; ".join(parts) + ": a RUN sees the build args in its environment, so this is " \
                              "their first use"


def _vars_diff(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    parts = [f"${k} changed ({old.get(k, '')!r} -> {new.get(k, '')!r})"
             for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    return "; ".join(parts)


def _source_diff(old: Mapping[str, tuple], new: Mapping[str, tuple],
                 ctx: BuildContext | None) -> str:
    parts: list[str] = []
    gone = [p for p in old if p not in new]
    added = [p for p in new if p not in old]
    renamed: dict[str, str] = {}
    for g in gone:
        twin = next((a for a in added if new[a] == old[g] and a not in renamed.values()), None)
        if twin is not None:
            renamed[g] = twin
    for g, a in renamed.items():
        parts.append(f"{g} renamed to {a} (same content: names are part of the key)")
    for path in sorted(set(old) | set(new)):
        a, b = old.get(path), new.get(path)
        if a == b or path in renamed or path in renamed.values():
            continue
        if a is None:
            parts.append(f"{path} is new in the context")
        elif b is None:
            if ctx is not None and ctx.ignore.excludes(path) and (Path(ctx.root) / path).exists():
                parts.append(f".dockerignore now excludes {path}")
            else:
                parts.append(f"{path} is gone from the context")
        else:
            what = []
            if a[0] != b[0]:
                what.append(f"type {a[0]} -> {b[0]}")
            if a[4] != b[4]:
                what.append("content changed")
            if a[1] != b[1]:
                what.append(f"mode {a[1]:04o} -> {b[1]:04o}")
            if (a[2], a[3]) != (b[2], b[3]):
                what.append(f"owner {a[2]}:{a[3]} -> {b[2]}:{b[3]}")
            if a[5] != b[5]:
                what.append(f"link target {a[5]!r} -> {b[5]!r}")
            if a[6] != b[6]:
                what.append("device numbers changed")
            parts.append(f"{path}: " + ", ".join(what))
    if not parts:
        return "the copied files are the same but the key changed (destination or --chown)"
    return "; ".join(parts)
