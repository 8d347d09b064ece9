"""Typed build events, and the record of one build made from them.

Both engines report a build as a stream of ``BuildEvent`` values; nothing above the
engines sees Docker's raw JSON. ``parse_docker_stream(chunks)`` turns the dicts the
docker SDK's ``APIClient.build(decode=True)`` yields (classic builder, Docker 20.10)
into events, ONCE::

    {"stream": "Step 3/7 : RUN make"}            -> StepStarted(3, 7, "RUN make")
    {"stream": " ---> Using cache\\n"}             -> StepCached(3)
    {"stream": " ---> Running in 1a2b3c4d5e6f\\n"} -> StepRunning(3, "1a2b3c4d5e6f")
    {"stream": "make: ok\\n"}                      -> StepOutput(3, "make: ok\\n")
    {"stream": " ---> 9f8e7d6c5b4a\\n"}            -> StepFinished(3, "9f8e7d6c5b4a", seconds)
    {"aux": {"ID": "sha256:..."}} + "Successfully built/tagged" -> BuildSucceeded(id, tags)
    {"error": ..., "errorDetail": {"code": 3, ...}} -> BuildFailed(step, message, 3, output)

``record_from_events(events)`` folds them into a frozen ``BuildRecord`` of
``StepRecord`` values. Steps that make no image (a ``FROM``'s first line shows the base
image id; a global ``ARG`` shows nothing) are still recorded, with ``cached=False``.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable, Iterator, Mapping, Union

from ..values import ImageRef

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_STEP = re.compile(r"^Step (\d+)/(\d+) : ?(.*)$", re.S)
_ARROW = re.compile(r"^ ---> (.*)$")
_RUNNING = re.compile(r"^Running in ([0-9a-f]+)$")
_IMAGE = re.compile(r"^([0-9a-f]{12,64})$")
_REMOVING = re.compile(r"Removing intermediate container [0-9a-f]+$")
_BUILT = re.compile(r"^Successfully built ([0-9a-f]+)$")
_TAGGED = re.compile(r"^Successfully tagged (\S+)$")
_EXIT = re.compile(r"returned a non-zero code: (\d+)")


@dataclass(frozen=True)
class StepStarted:
    n: int
    total: int
    instruction: str          # as Docker prints it after "Step n/N : "


@dataclass(frozen=True)
class StepCached:
    n: int


@dataclass(frozen=True)
class StepRunning:
    n: int
    container: str            # short id of the build container


@dataclass(frozen=True)
class StepOutput:
    n: int | None             # None: output before the first step
    text: str
    stderr: bool = False


@dataclass(frozen=True)
class StepFinished:
    n: int
    image_id: str             # short id as printed (12 hex) or a full "sha256:..." id
    seconds: float


@dataclass(frozen=True)
class BuildWarning:
    text: str


@dataclass(frozen=True)
class BuildSucceeded:
    image_id: str             # "sha256:..." when the daemon sent it (aux), else the short id
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class BuildFailed:
    step: int | None
    message: str
    exit_code: int | None = None
    output: str = ""


BuildEvent = Union[StepStarted, StepCached, StepRunning, StepOutput, StepFinished,
                   BuildWarning, BuildSucceeded, BuildFailed]


@dataclass(frozen=True)
class StepRecord:
    n: int
    instruction: str
    cached: bool
    image_id: str | None = None
    seconds: float = 0.0
    layer_size: int | None = None
    output: str = ""

    @property
    def keyword(self) -> str:
        return self.instruction.split(None, 1)[0].upper() if self.instruction else ""


@dataclass(frozen=True)
class BuildRecord:
    steps: tuple[StepRecord, ...]
    image: ImageRef | None
    engine: str = ""
    failure: BuildFailed | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.image is not None and self.failure is None

    def step(self, n: int) -> StepRecord:
        for s in self.steps:
            if s.n == n:
                return s
        raise KeyError(n)

    @property
    def cached(self) -> tuple[bool, ...]:
        return tuple(s.cached for s in self.steps)


def parse_docker_stream(chunks: Iterable[Mapping], *,
                        clock: Callable[[], float] = time.monotonic) -> Iterator[BuildEvent]:
    """Docker's classic build stream (decoded dicts) -> typed events, as they arrive."""
    buf = ""
    step: int | None = None
    running = False
    started_at = clock()
    step_output: list[str] = []
    image_id: str | None = None
    short_built: str | None = None
    tags: list[str] = []
    preamble: list[str] = []
    done = False

    def on_line(line: str, stderr: bool) -> Iterator[BuildEvent]:
        nonlocal step, running, started_at, short_built
        text = line.rstrip("\n")
        m = _STEP.match(text)
        if step is None and not m:  # before the first step: the daemon's warnings
            if text.strip():
                preamble.append(text)
            return
        if m and not running:
            if preamble:
                yield BuildWarning("\n".join(preamble))
                preamble.clear()
            step, running = int(m.group(1)), False
            started_at = clock()
            step_output.clear()
            yield StepStarted(int(m.group(1)), int(m.group(2)), m.group(3).strip())
            return
        m = _ARROW.match(text)
        if m and step is not None:
            rest = m.group(1).strip()
            if rest == "Using cache":
                yield StepCached(step)
                return
            r = _RUNNING.match(rest)
            if r:
                running = True
                yield StepRunning(step, r.group(1))
                return
            if _IMAGE.match(rest) or rest == "":
                running = False
                if rest:
                    yield StepFinished(step, rest, max(0.0, clock() - started_at))
                return
            if rest.startswith("[Warning]"):
                yield BuildWarning(rest)
                return
        if _REMOVING.search(text):
            prefix = text[:_REMOVING.search(text).start()]  # type: ignore[union-attr]
            if prefix:
                step_output.append(prefix)
                yield StepOutput(step, prefix, stderr)
            return
        m = _BUILT.match(text)
        if m and not running:
            short_built = m.group(1)
            return
        m = _TAGGED.match(text)
        if m and not running:
            tags.append(m.group(1))
            return
        if text.startswith("[Warning]") and not running:
            yield BuildWarning(text)
            return
        if not running and (text.startswith("[WARNING]") or not text.strip()):
            if text.strip():
                yield BuildWarning(text)
            return
        step_output.append(line)
        yield StepOutput(step, line, stderr)

    stderr = False
    for chunk in chunks:
        if "stream" in chunk:
            raw = str(chunk["stream"])
            if "\x1b[91m" in raw:
                stderr = True
            text = _ANSI.sub("", raw)
            buf += text
            while "\n" in buf:
                line, buf = buf.split("\n", 1)
                yield from on_line(line + "\n", stderr)
            if "\x1b[0m" in raw:
                stderr = False
        elif "aux" in chunk and isinstance(chunk["aux"], Mapping) and "ID" in chunk["aux"]:
            image_id = str(chunk["aux"]["ID"])
        elif "error" in chunk or "errorDetail" in chunk:
            if buf:
                yield from on_line(buf, stderr)
                buf = ""
            if preamble:
                yield BuildWarning("\n".join(preamble))
                preamble.clear()
            detail = chunk.get("errorDetail") or {}
            message = str(detail.get("message") or chunk.get("error") or "build failed")
            code = detail.get("code")
            if code is None:
                m = _EXIT.search(message)
                code = int(m.group(1)) if m else None
            yield BuildFailed(step, message, int(code) if code is not None else None,
                              "".join(step_output))
            done = True
    if buf:
        yield from on_line(buf, stderr)
    if done:
        return
    final = image_id or short_built
    if final:
        yield BuildSucceeded(final, tuple(tags))
    else:
        yield BuildFailed(step, "the build stream ended before the build finished", None,
                          "".join(step_output))


def record_from_events(events: Iterable[BuildEvent], *, engine: str = "docker") -> BuildRecord:
    """Fold build events into one BuildRecord (steps in order, the image, any failure)."""
    steps: dict[int, StepRecord] = {}
    order: list[int] = []
    image: ImageRef | None = None
    failure: BuildFailed | None = None
    warnings: list[str] = []
    for ev in events:
        if isinstance(ev, StepStarted):
            steps[ev.n] = StepRecord(ev.n, ev.instruction, cached=False)
            order.append(ev.n)
        elif isinstance(ev, StepCached) and ev.n in steps:
            steps[ev.n] = replace(steps[ev.n], cached=True)
        elif isinstance(ev, StepOutput) and ev.n in steps:
            steps[ev.n] = replace(steps[ev.n], output=steps[ev.n].output + ev.text)
        elif isinstance(ev, StepFinished) and ev.n in steps:
            steps[ev.n] = replace(steps[ev.n], image_id=ev.image_id, seconds=ev.seconds)
        elif isinstance(ev, BuildWarning):
            warnings.append(ev.text)
        elif isinstance(ev, BuildSucceeded):
            full = ev.image_id if ev.image_id.startswith("sha256:") or len(ev.image_id) == 64 \
                else ev.image_id
            if len(full) == 64:
                full = "sha256:" + full
            image = ImageRef(id=full, tags=ev.tags, engine=engine)
        elif isinstance(ev, BuildFailed):
            failure = ev
    return BuildRecord(steps=tuple(steps[n] for n in order), image=image, engine=engine,
                       failure=failure, warnings=tuple(warnings))
