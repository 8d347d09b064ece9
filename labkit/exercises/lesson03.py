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
)
