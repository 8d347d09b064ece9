"""Lesson 01: an image is a stack of layers; only some build steps make one."""
from __future__ import annotations

from pathlib import Path

from ..fs.layers import merge
from ..fs.node import Node
from ..oci.tar.writer import layer_bytes
from ..oci.write import write_image_tar
from .answers import HashedAnswer, normalize
from .spec import Check, Exercise, Verdict, failed, passed

CONFIG = "srv/config.txt"
STAGE = "STAGE=lesson01"
HUNT = "layer-hunt.tar"
HUNT_PATH = "/etc/app.conf"
_EPOCH = 946684800
# sha256(salt + answer): the answers themselves are not stored
_HUNT_LAYER = HashedAnswer("5b1e0c2d9a7f4e63",
                           "c5cd5940ed9813ea074b0d28f4b5d14faf60b46bb805b7f4ce81b7a09c8332e1")
_HUNT_EMPTY = HashedAnswer("e07a3c19d2b84f56",
                           "9ea89c8f076e27d7df9b25715902ab892e677a50d4c355c591a9c2c9b3ab4f14")


def make_hunt(dest: Path) -> Path:
    """A saved image of 5 layers whose history also holds steps that made no layer; the file
    /etc/app.conf is written by more than one layer."""

    def d() -> Node:
        return Node.dir(0o755, mtime=_EPOCH)

    def f(text: str, mode: int = 0o644) -> Node:
        return Node.file(text.encode(), mode, mtime=_EPOCH)

    layers = [
        {"etc": d(), "etc/hostname": f("hunt\n"), "srv": d()},
        {"etc": d(), "etc/app.conf": f("mode = dev\n")},
        {"srv": d(), "srv/data": d(), "srv/data/cache.bin": f("x" * 4096),
         "etc": d(), "etc/app.conf.bak": f("mode = dev\n")},
        {"etc": d(), "etc/app.conf": f("mode = prod\n")},
        {"opt": d(), "opt/app": d(), "opt/app/app.conf": f("mode = test\n"),
         "srv": d(), "srv/data": Node.whiteout()},
    ]
    steps = [("ADD rootfs.tar /", False), ("ENV MODE=dev", True), ("COPY app.conf /etc/app.conf", False),
             ("RUN mkdir -p /srv/data && fill-cache && cp /etc/app.conf /etc/app.conf.bak", False),
             ("WORKDIR /srv", True), ("COPY prod.conf /etc/app.conf", False),
             ("LABEL stage=hunt", True),
             ("RUN rm -r /srv/data && install-tests /opt/app", False), ("CMD [\"cat\", \"/etc/app.conf\"]", True)]
    created = "2000-01-01T00:00:00Z"
    config = {"created": created, "config": {"Cmd": ["cat", HUNT_PATH], "Env": ["MODE=dev"],
                                             "WorkingDir": "/srv"},
              "history": [{"created": created, "created_by": text, **({"empty_layer": True} if empty else {})}
                          for text, empty in steps]}
    path = dest / HUNT
    write_image_tar([layer_bytes(layer) for layer in layers], config, path,
                    repo_tags=("labkit/hunt:01",))
    return path


# -- 01-a: build a stack to order ------------------------------------------------------------

def _exists(s) -> Verdict:
    s.image_ref()
    return passed()


def _four_layers(s) -> Verdict:
    n = s.layer_count()
    return passed() if n == 4 else failed(f"your image has {n} layer(s)")


def _config_in_layer_2(s) -> Verdict:
    holders = [i for i, layer in enumerate(s.layer_dirs()) if CONFIG in layer]
    if not holders:
        return failed(f"no layer of your image holds /{CONFIG}")
    if holders[0] != 2:
        return failed(f"/{CONFIG} first appears in layer {holders[0]}")
    node = s.layer_dir(2)[CONFIG]
    if node.kind != "file":
        return failed(f"/{CONFIG} in layer 2 is a {node.kind}, not a file")
    return passed()


def _stage_env(s) -> Verdict:
    env = list((s.image().config.get("config") or {}).get("Env") or [])
    if STAGE in env:
        return passed()
    names = [e.split("=", 1)[0] for e in env if not e.startswith("PATH=")]
    return failed("your image sets " + (", ".join(names) if names else "no variable besides PATH"))


def _config_survives(s) -> Verdict:
    node = merge(s.layer_dirs()).get(CONFIG)
    if node is None or node.kind != "file" or node.size == 0:
        return failed(f"/{CONFIG} is missing or empty in the final image")
    return passed()


# -- 01-b: which layer holds it --------------------------------------------------------------

def _hunt_layer(s) -> Verdict:
    given = normalize(s.arg("layer"))
    if not given.isdigit():
        return failed(f"{given[:20]!r} is not a layer number (0, 1, 2 ...)")
    return passed() if _HUNT_LAYER.matches(given) else failed(f"layer {given} is not the one")


def _hunt_empty(s) -> Verdict:
    return passed() if _HUNT_EMPTY.matches(s.arg("empty_steps")) else failed("not that many")


EXERCISES = (
    Exercise(
        id="01-a", title="A stack to order",
        task=f"Build an image with exactly 4 layers in which layer 2 (counting from 0 at the bottom) "
             f"is the one that adds /{CONFIG}, and which sets ENV {STAGE}. "
             f"labkit.example('layers01-exercise') is a start.",
        params=("image",),
        checks=(
            Check("exists", _exists, 1, success="the image exists", failure="no such image",
                  hints=("Build the image first with engine.build(context, tag=...).",
                         "Pass the tag you built with: check('01-a', image='mytag', engine=engine).",)),
            Check("four-layers", _four_layers, 2, success="exactly 4 layers",
                  failure="the image should have exactly 4 layers",
                  hints=("Count the numbered rows of labkit.format_history(engine.history(image)).",
                         "FROM brings the base's layers (labkit's base has 1); RUN, COPY and ADD "
                         "add one each; ENV, WORKDIR, LABEL and CMD add none.",
                         "FROM labkit/base, then exactly 3 RUN/COPY/ADD steps.")),
            Check("config-in-layer-2", _config_in_layer_2, 2,
                  success=f"layer 2 adds /{CONFIG}",
                  failure=f"layer 2 should be the first layer that holds /{CONFIG}",
                  hints=("Layers are numbered in the order their steps run, the base is layer 0.",
                         f"The second step that makes a layer must be the one that writes /{CONFIG}.",
                         f"FROM labkit/base, a RUN that does something else, COPY config.txt "
                         f"/{CONFIG}, then one more RUN.")),
            Check("stage-env", _stage_env, 1, success=f"the image sets {STAGE}",
                  failure=f"the image's config should set {STAGE}",
                  hints=("A variable set with ENV is part of the image's config, not of a layer.",
                         f"Add the line ENV {STAGE} anywhere after FROM: it adds no layer.")),
            Check("config-survives", _config_survives, 1, hidden=True,
                  success=f"/{CONFIG} is in the final image",
                  failure=f"/{CONFIG} should still be there (with content) at the top"),
        )),
    Exercise(
        id="01-b", title="Layer hunt",
        task=f"material('01-b') writes {HUNT}, a saved image. Which layer holds the {HUNT_PATH} you "
             f"would see in a container of it, and how many steps of its history made no layer?",
        params=("layer", "empty_steps"),
        checks=(
            Check("layer", _hunt_layer, 2, success=f"that layer holds the {HUNT_PATH} you see",
                  failure=f"not the layer whose {HUNT_PATH} you see",
                  hints=(f"More than one layer writes {HUNT_PATH}; the highest one wins.",
                         "labkit.LayerExplorer.from_image(labkit.open_image(path)) lets you "
                         "walk the layers and see what each one changes.",
                         "path_history(open_image(path), '/etc/app.conf') from labkit.lessons.lesson01 "
                         "lists each layer that adds, changes or deletes it.")),
            Check("empty-steps", _hunt_empty, 1, success="that many steps changed only the config",
                  failure="count the history steps that made no layer",
                  hints=("image.history lists every step; the ones that made no layer have "
                         "empty_layer=True.",
                         "labkit.format_history(image.history) marks them with '-'; or use "
                         "count_steps from labkit.lessons.lesson01.")),
        )),
)

MATERIALS = {"01-b": make_hunt}
