"""Lesson 08: a deleted secret is still in the image."""
from __future__ import annotations

from .spec import Check, Exercise, Verdict, failed, passed

KEY_NAME = "id_rsa"


def _own_layer(s) -> Verdict:
    n = s.layer_count()
    return passed() if n >= 2 else failed(f"the image has {n} layer(s): build your app on the base")


def _no_key_file(s) -> Verdict:
    found = []
    for i, layer in enumerate(s.layer_dirs()):
        for path, node in layer.items():
            if node.kind != "whiteout" and path.rsplit("/", 1)[-1] == KEY_NAME:
                found.append(f"layer {i} holds /{path}")
    return failed("; ".join(found[:3])) if found else passed()


def _no_key_content(s) -> Verdict:
    from ..secrets import scan
    for i, layer in enumerate(s.layer_dirs(with_data=True)):
        for path, node in layer.items():
            if node.kind == "file" and node.data and 0 < node.size <= (1 << 20):
                if any("private key" in kind for kind, _ in scan(path, node.data[:8192])):
                    return failed(f"layer {i} holds a private key at /{path}")
    return passed()


EXERCISES = (
    Exercise(
        id="08-a", title="No key in any layer",
        task=f"Build your image so that NO layer contains a file named {KEY_NAME} (deleting it "
             f"in a later step is not enough).",
        params=("image",),
        checks=(
            Check("own-layer", _own_layer, 1, success="the image adds layers to the base",
                  failure="the image should add at least one layer",
                  hints=("Build from the lesson's Dockerfile after fixing it.",)),
            Check("no-key-file", _no_key_file, 3, success=f"no layer holds a file named {KEY_NAME}",
                  failure=f"a layer still holds {KEY_NAME}",
                  hints=("Every layer ships with the image, even when a later layer deletes a file.",
                         "Look at each layer: labkit.open_image(engine.save(image, 'i.tar'))"
                         ".layer_dir(i) for i in range(len(img.layers)).",
                         f"Never COPY the key into the image: list {KEY_NAME} in .dockerignore, and "
                         f"do not create it in a RUN step.")),
            Check("no-key-content", _no_key_content, 1, hidden=True,
                  success="no layer holds a private key under another name",
                  failure="a layer holds a private key"),
        )),
)
