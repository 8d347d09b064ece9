"""Lesson 04: deleting a file from a lower layer leaves a whiteout."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed

TARGET = "/etc/group"


def _deleted(s) -> Verdict:
    changes = s.engine.diff(s.container())
    if any(c.kind == "D" and c.path == TARGET for c in changes):
        return passed()
    return failed("docker diff shows " + (", ".join(map(str, changes[:6])) or "no changes"))


def _only_that(s) -> Verdict:
    others = [c.path for c in s.engine.diff(s.container()) if c.kind == "D" and c.path != TARGET]
    return failed(f"also deleted: {', '.join(others[:5])}") if others else passed()


def _whiteout_on_top(s) -> Verdict:
    node = s.layer_dir(-1).get(TARGET.lstrip("/"))
    if node is not None and node.kind == "whiteout":
        return passed()
    what = "no entry" if node is None else f"a {node.kind}"
    return failed(f"the top layer holds {what} for {TARGET}")


def _still_stored(s) -> Verdict:
    layers = s.layer_dirs()
    holders = [i for i, layer in enumerate(layers[:-1])
               if (n := layer.get(TARGET.lstrip("/"))) is not None and n.kind == "file"]
    return passed() if holders else failed(f"no lower layer holds {TARGET}")


def _gone(s) -> Verdict:
    r = s.run(f"test -e {TARGET}")
    return passed() if r.exit_code != 0 else failed(f"{TARGET} is still visible in a new container")


EXERCISES = (
    Exercise(
        id="04-a", title="Delete, and see the whiteout",
        task=f"In a container of labkit's base image, delete {TARGET} so that docker diff "
             f"reports it as deleted (D).",
        params=("container",),
        checks=(
            Check("deleted", _deleted, 3, success=f"docker diff reports D {TARGET}",
                  failure=f"docker diff should report D {TARGET}",
                  hints=("Deleting a file that lives in an image layer is recorded in the "
                         "container's writable layer.",
                         "Use engine.exec(c, ...) on a container from engine.start(...), then "
                         "look at engine.diff(c).",
                         f"engine.exec(c, 'rm {TARGET}')")),
            Check("only-that", _only_that, 1, hidden=True, success=f"only {TARGET} was deleted",
                  failure=f"nothing but {TARGET} should be deleted"),
        )),
    Exercise(
        id="04-b", title="The whiteout in a layer",
        task=f"Commit the container of 04-a as an image: its top layer must hold the whiteout "
             f"for {TARGET}.",
        params=("image",),
        checks=(
            Check("whiteout", _whiteout_on_top, 2, success=f"the top layer holds a whiteout for {TARGET}",
                  failure=f"the top layer should hold a whiteout for {TARGET}",
                  hints=("engine.commit(container) turns the writable layer into a new image layer.",
                         "Commit the container in which you deleted the file, and check the image "
                         "commit returns.",
                         "img = engine.commit(c, tag='deleted'); check('04-b', image='deleted', "
                         "engine=engine)")),
            Check("still-stored", _still_stored, 1, success=f"a lower layer still stores {TARGET}",
                  failure=f"a lower layer should still store {TARGET}",
                  hints=("A whiteout hides a file; it does not remove it from the layers below.",
                         "Start from an image that has the file, e.g. engine.base_image().")),
            Check("gone", _gone, 1, hidden=True, success=f"{TARGET} is hidden in new containers",
                  failure=f"{TARGET} should be hidden in containers of the image"),
        )),
)


# -- 04-c: a directory replaced, not merged --------------------------------------------------
DATA = "srv/data"
FRESH = "srv/data/fresh.txt"


def _top_opaque(s) -> Verdict:
    node = s.layer_dir(-1).get(DATA)
    if node is not None and node.opaque:
        return passed()
    what = "no entry" if node is None else ("a plain directory" if node.kind == "dir" else f"a {node.kind}")
    return failed(f"the top layer holds {what} for /{DATA}")


def _fresh_on_top(s) -> Verdict:
    node = s.layer_dir(-1).get(FRESH)
    return passed() if node is not None and node.kind == "file" else failed(f"the top layer has no /{FRESH}")


def _old_still_below(s) -> Verdict:
    below = [layer for layer in s.layer_dirs()[:-1] if f"{DATA}/b.txt" in layer]
    return passed() if below else failed(f"no lower layer stores /{DATA}/b.txt: start from the "
                                         f"whiteouts04 example image")


def _only_fresh(s) -> Verdict:
    r = s.run(f"ls -A /{DATA}")
    names = r.output.split()
    return passed() if names == ["fresh.txt"] else failed(f"/{DATA} lists {names}")


EXERCISES = EXERCISES + (
    Exercise(
        id="04-c", title="Replace a directory: opaque",
        task=f"Build labkit.example('whiteouts04'). In a container of it, replace /{DATA} by a new, "
             f"empty directory and write /{FRESH} into it; commit the container. The committed "
             f"image's top layer must mark /{DATA} opaque.",
        params=("image",),
        checks=(
            Check("opaque", _top_opaque, 2, success=f"the top layer marks /{DATA} opaque",
                  failure=f"the top layer should hold /{DATA} as an opaque directory",
                  hints=("Deleting a directory and creating one of the same name makes the new "
                         "one opaque: it hides everything the lower layers have there.",
                         f"engine.exec(c, 'rm -rf /{DATA} && mkdir /{DATA} && echo hi > /{FRESH}'), "
                         "then engine.commit(c).",)),
            Check("fresh", _fresh_on_top, 1, success=f"the top layer adds /{FRESH}",
                  failure=f"the top layer should add /{FRESH}",
                  hints=(f"Write /{FRESH} in the same container before you commit.",)),
            Check("old-below", _old_still_below, 1, success=f"the old /{DATA} is still stored below",
                  failure=f"a lower layer should still store the old /{DATA}",
                  hints=("Start the container from the image of labkit.example('whiteouts04').",)),
            Check("only-fresh", _only_fresh, 1, hidden=True,
                  success=f"/{DATA} shows only fresh.txt in new containers",
                  failure=f"/{DATA} should show only fresh.txt"),
        )),
)
