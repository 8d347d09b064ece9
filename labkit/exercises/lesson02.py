"""Lesson 02: build an overlay whose merged directory is assembled from three layers."""
from __future__ import annotations

from ..fs.overlay import UPPER, Mount
from .spec import Check, Exercise, Verdict, failed, passed
from .state import StateMissing

DIR = "conf"
WANT = ("a.conf", "b.conf", "c.conf")
FROM = {"a.conf": "upper", "b.conf": 0, "c.conf": 1}
HIDDEN = "conf/old.conf"


def _mount(s):
    m = s.arg("mount")
    if not isinstance(m, Mount):
        raise StateMissing(f"mount= should be a labkit.Mount, not {type(m).__name__}",
                           fix="mount = labkit.Mount([top_layer, bottom_layer], upper={})")
    return m


def _is_mount(s) -> Verdict:
    m = _mount(s)
    n = len(m.lowers)
    return passed() if n == 2 else failed(f"your mount has {n} lower layer(s)")


def _listing(s) -> Verdict:
    m = _mount(s)
    try:
        names = m.listdir(DIR)
    except OSError as exc:
        return failed(f"listdir('/{DIR}') fails: {exc.strerror}")
    return passed() if tuple(names) == WANT else failed(f"listdir('/{DIR}') is {names}")


def _origins(s) -> Verdict:
    m = _mount(s)
    wrong = []
    for name, want in FROM.items():
        want = UPPER if want == "upper" else want
        try:
            got = m.origin(f"{DIR}/{name}")
        except OSError:
            got = None
        if got != want:
            wrong.append(f"{name} comes from {'nowhere' if got is None else got}")
    return failed("; ".join(wrong)) if wrong else passed()


def _hidden(s) -> Verdict:
    m = _mount(s)
    lowers = list(m.lowers)
    node = lowers[1].get(HIDDEN) if len(lowers) > 1 else None
    if node is None or node.kind != "file":
        return failed(f"lower 1 holds no file /{HIDDEN}")
    return failed(f"/{HIDDEN} is still visible") if m.exists(HIDDEN) else passed()


def _writable(s) -> Verdict:
    return failed("the mount is read-only (upper=None)") if _mount(s).read_only else passed()


EXERCISES = (
    Exercise(
        id="02-a", title="A directory from three layers",
        task=f"Make a labkit.Mount with two lower layers and an upper layer in which "
             f"listdir('/{DIR}') is exactly {list(WANT)}: a.conf comes from the upper, b.conf from "
             f"lower 0 (the top lower), c.conf from lower 1 (the bottom). Lower 1 must also hold "
             f"a file /{HIDDEN} that the merged view does not show.",
        params=("mount",),
        checks=(
            Check("two-lowers", _is_mount, 1, success="a mount with two lower layers",
                  failure="the mount should have exactly two lower layers",
                  hints=("labkit.Mount(lowers, upper): lowers is a list of layer directories, "
                         "top first.",
                         "A layer directory is a dict {path: labkit.Node}; Node.dir(), "
                         "Node.file(b'...') and Node.whiteout() make entries.",)),
            Check("listing", _listing, 2, success=f"/{DIR} lists exactly {', '.join(WANT)}",
                  failure=f"listdir('/{DIR}') should be {list(WANT)}",
                  hints=("readdir merges the names of every layer's directory of that name, "
                         "and drops whiteouts.",
                         f"Each layer needs its own '{DIR}': Node.dir() entry next to its file.",)),
            Check("origins", _origins, 2, success="each file comes from the layer asked for",
                  failure="some files come from the wrong layer",
                  hints=("mount.origin(path) says which layer the merged view takes an entry from.",
                         "The highest layer holding a name wins; put each file only where it "
                         "should come from.",)),
            Check("hidden", _hidden, 1, success=f"/{HIDDEN} is stored below but hidden",
                  failure=f"lower 1 should store /{HIDDEN}, hidden from the merged view",
                  hints=("A higher layer can hide a lower name without deleting its bytes.",
                         f"Put {{'{HIDDEN}': Node.whiteout()}} in lower 0 (or in the upper).",)),
            Check("writable", _writable, 1, hidden=True, success="the mount is writable",
                  failure="the mount should have an upper layer"),
        )),
)
