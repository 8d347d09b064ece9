"""Lesson 00 (start here): an image is a stack of layers."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed

HELLO = "hello.txt"


def _exists(s) -> Verdict:
    s.image_ref()
    return passed()


def _three_layers(s) -> Verdict:
    n = s.layer_count()
    return passed() if n == 3 else failed(f"your image has {n} layer(s)")


def _top_adds_hello(s) -> Verdict:
    top = s.layer_dir(-1)
    node = top.get(HELLO)
    if node is None or node.kind != "file":
        listed = sorted(p for p, n in top.items() if n.kind == "file")[:5]
        return failed("the top layer holds " + (", ".join("/" + p for p in listed) or "no files"))
    below = [i for i, layer in enumerate(s.layer_dirs()[:-1]) if HELLO in layer]
    if below:
        return failed(f"/{HELLO} is already in layer {below[0]}, so the top layer changes it "
                      f"instead of adding it")
    return passed()


def _readable(s) -> Verdict:
    r = s.run(f"cat /{HELLO}")
    return passed() if r.exit_code == 0 and r.output.strip() else failed("it is missing or empty")


EXERCISES = (
    Exercise(
        id="00-a", title="Three layers",
        task="Build an image with exactly 3 layers whose top layer adds /hello.txt "
             "(with some text in it).",
        params=("image",),
        checks=(
            Check("exists", _exists, 1, success="the image exists",
                  failure="no such image",
                  hints=("Build the image first with engine.build(context, tag=...).",
                         "Pass the tag you built with: check('00-a', image='mytag', engine=engine).",
                         "Write a Dockerfile, build it with ref = engine.build(dir, tag='three'), "
                         "then check('00-a', image='three', engine=engine).")),
            Check("three-layers", _three_layers, 2, success="exactly 3 layers",
                  failure="the image should have exactly 3 layers",
                  hints=("Only some Dockerfile instructions make a layer; the base image brings its own.",
                         "FROM brings the base's layers; RUN, COPY and ADD add one each; ENV, CMD, "
                         "WORKDIR and LABEL add none.",
                         "labkit's base has 1 layer, so FROM it plus exactly 2 RUN/COPY steps "
                         "makes 3; look at engine.history(image).")),
            Check("top-adds-hello", _top_adds_hello, 2, success="the top layer adds /hello.txt",
                  failure="the top layer should add /hello.txt",
                  hints=("The order of instructions is the order of layers.",
                         "The LAST instruction that makes a layer must create /hello.txt, and no "
                         "earlier one may.",
                         "End the Dockerfile with: RUN echo hello > /hello.txt")),
            Check("readable", _readable, 1, hidden=True, success="/hello.txt has content",
                  failure="/hello.txt should be readable and not empty"),
        )),
)
