"""Lesson 03: the container's writable layer and copy-on-write."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed

MIB = 1 << 20


def _exists(s) -> Verdict:
    s.container()
    return passed()


def _big(s) -> Verdict:
    rw = s.engine.container_size(s.container()).rw
    return passed() if rw > MIB else failed(f"its writable layer holds {rw:,} bytes")


def _in_diff(s) -> Verdict:
    changes = s.engine.diff(s.container())
    added = [c for c in changes if c.kind in ("A", "C")]
    return passed() if added else failed("docker diff lists no added or changed paths")


# -- 03-b: a hard link breaks on copy-up ------------------------------------------------------
LINK_A, LINK_B, OLD = "/data/a", "/data/b", "v1\n"


def _cat(s, path: str) -> str | None:
    r = s.engine.exec(s.container(), f"cat {path}")
    return r.output if r.exit_code == 0 else None


def _linked_image(s) -> Verdict:
    b = _cat(s, LINK_B)
    if b is None:
        return failed(f"the container has no {LINK_B}")
    a = _cat(s, LINK_A)
    if a is None or not a.startswith(OLD):
        return failed(f"{LINK_A} should still start with the image's line {OLD.strip()!r}")
    return passed()


def _a_changed(s) -> Verdict:
    a = _cat(s, LINK_A)
    if a is None:
        return failed(f"the container has no {LINK_A}")
    return passed() if a != OLD else failed(f"{LINK_A} still holds only {OLD.strip()!r}")


def _b_kept(s) -> Verdict:
    b = _cat(s, LINK_B)
    if b == OLD:
        return passed()
    return failed(f"{LINK_B} holds {b!r}" if b is not None else f"{LINK_B} is gone")


def _b_not_in_diff(s) -> Verdict:
    touched = [str(c) for c in s.engine.diff(s.container()) if c.path == LINK_B]
    return failed(f"docker diff lists {touched[0]}") if touched else passed()


EXERCISES = (
    Exercise(
        id="03-a", title="A heavy writable layer",
        task="Start a container and make its writable layer hold more than 1 MiB "
             "(1,048,576 bytes), without changing the image.",
        params=("container",),
        checks=(
            Check("exists", _exists, 1, success="the container exists", failure="no such container",
                  hints=("A container comes from engine.start(image).",
                         "c = engine.start(engine.base_image()), then check('03-a', container=c, "
                         "engine=engine).",)),
            Check("rw-over-1mib", _big, 2, success="the writable layer holds more than 1 MiB",
                  failure="the writable layer should hold more than 1 MiB",
                  hints=("Everything a container writes lands in its writable (upper) layer; "
                         "engine.container_size(c).rw measures it.",
                         "Write a file of more than a mebibyte inside the container with "
                         "engine.exec(c, ...).",
                         "engine.exec(c, 'dd if=/dev/zero of=/tmp/big bs=1024 count=2048')")),
            Check("seen-in-diff", _in_diff, 1, hidden=True, success="docker diff shows the new data",
                  failure="docker diff should show the files that take the space"),
        )),
    Exercise(
        id="03-b", title="A hard link breaks",
        task=f"Build labkit.example('hardlinks03'): in its image {LINK_A} and {LINK_B} are one file "
             f"(a hard link) holding {OLD.strip()!r}. In a container of it, append a line to "
             f"{LINK_A} only, and show that {LINK_B} no longer follows.",
        params=("container",),
        checks=(
            Check("linked-image", _linked_image, 1, success="a container of the hard-link image",
                  failure="use a container of the image built from labkit.example('hardlinks03')",
                  hints=("record = engine.build(labkit.example('hardlinks03'), tag='links'); "
                         "c = engine.start(record.image)",)),
            Check("a-changed", _a_changed, 1, success=f"{LINK_A} has the new line",
                  failure=f"append a line to {LINK_A}",
                  hints=("engine.exec(c, ...) runs a shell command in the container.",
                         f"engine.exec(c, 'echo v2 >> {LINK_A}')")),
            Check("b-kept", _b_kept, 2, success=f"{LINK_B} kept the old content: the link broke on copy-up",
                  failure=f"{LINK_B} should still hold only {OLD.strip()!r}",
                  hints=("Docker mounts overlayfs with index=off: a copy-up copies one NAME, "
                         "the other name stays in the lower layer.",
                         f"Write only to {LINK_A}; do not touch {LINK_B}.")),
            Check("b-untouched", _b_not_in_diff, 1, hidden=True,
                  success=f"docker diff does not list {LINK_B}",
                  failure=f"{LINK_B} should not be changed in the container"),
        )),
)
