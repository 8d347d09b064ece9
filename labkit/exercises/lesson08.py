"""Lesson 08: a deleted secret is still in the image.

08-a: no layer holds the key. 08-b: the build still USES the key (the secret-key example's
fetch step), yet the shipped image keeps nothing of it: a throw-away stage, not a later ``rm``.
"""
from __future__ import annotations

from ..analysis.efficiency import analyze
from ..analysis.secrets import scan
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
    for i, layer in enumerate(s.layer_dirs(with_data=True)):
        for path, node in layer.items():
            if node.kind == "file" and node.data and 0 < node.size <= (1 << 20):
                if any("private key" in kind for kind, _ in scan(path, node.data[:8192])):
                    return failed(f"layer {i} holds a private key at /{path}")
    return passed()


DEPS_FILE = "app/deps.txt"          # what the secret-key example's fetch step writes
DEPS_LINE = "private dependencies fetched"


def _deps_made(s) -> Verdict:
    out = s.run(f"cat /{DEPS_FILE}").output.strip()
    return passed() if out == DEPS_LINE else failed(f"cat /{DEPS_FILE} printed {out[:80]!r}")


def _no_findings(s) -> Verdict:
    found = s.memo("analysis", lambda: analyze(s.image())).secrets
    if not found:
        return passed()
    f = found[0]
    return failed(f"layer {f.added_by} holds /{f.path} ({f.kind})")


def _no_key_whiteout(s) -> Verdict:
    for i, layer in enumerate(s.layer_dirs()):
        for path, node in layer.items():
            if node.kind == "whiteout" and path.rsplit("/", 1)[-1] == KEY_NAME:
                return failed(f"layer {i} deletes /{path}: the key was in a layer below")
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
                         "Look at each layer: `with engine.open_image(image) as img:`, then "
                         "img.layer_dir(i) for i in range(len(img.layers)).",
                         f"Never COPY the key into the image: list {KEY_NAME} in .dockerignore, and "
                         f"do not create it in a RUN step.")),
            Check("no-key-content", _no_key_content, 1, hidden=True,
                  success="no layer holds a private key under another name",
                  failure="a layer holds a private key"),
        )),
    Exercise(
        id="08-b", title="Use the key, ship none of it",
        task=f"In the secret-key example (with the key written by write_fake_key), change the "
             f"Dockerfile so the build still fetches the dependencies with the key (/{DEPS_FILE} "
             f"must say so) but no layer of the final image ever held the key.",
        params=("image",),
        checks=(
            Check("deps-made", _deps_made, 1, success=f"/{DEPS_FILE} is there",
                  failure=f"/{DEPS_FILE} should hold the line the fetch step writes",
                  hints=("Keep the step that reads the key and writes the dependencies.",
                         f"Copy its result into the final image: COPY --from=<stage> ... /{DEPS_FILE}.")),
            Check("no-key-file", _no_key_file, 2, success=f"no layer holds a file named {KEY_NAME}",
                  failure=f"a layer still holds {KEY_NAME}",
                  hints=("A RUN rm in a later step only hides the key: the layer below still stores it.",
                         "Only the LAST stage of a multi-stage build ships; earlier stages are "
                         "thrown away.",
                         "Look at fixed.Dockerfile in the example: the key goes into a stage "
                         "'FROM labkit/base AS fetch', and the final stage copies only /out/deps.txt.")),
            Check("no-findings", _no_findings, 1,
                  success="the secrets scanner finds nothing in any layer",
                  failure="the secrets scanner finds a secret",
                  hints=("labkit.lessons.lesson08.scan_layers(engine, image) lists every finding.",)),
            Check("no-key-whiteout", _no_key_whiteout, 1, hidden=True,
                  success="no layer deletes a key (none was ever there)",
                  failure="a layer deletes a key, so the key was shipped below it"),
        )),
)
