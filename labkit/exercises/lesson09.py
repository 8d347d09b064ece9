"""Lesson 09: distribution — a registry keeps each blob once; a push or pull moves only the
layers the other side lacks. (The efficiency exercise that used to live here is now "07-a".)"""
from __future__ import annotations

from ..daemon.registry import registry_name
from ..values import LABEL
from .spec import Check, Exercise, Verdict, failed, passed
from .state import StateMissing


def _manifest(s, name: str) -> dict:
    registry = s.arg("registry")
    try:
        return s.memo(f"manifest:{name}", lambda: registry.manifest(registry_name(s.arg(name))))
    except Exception as exc:   # the registry answers 404 / the model has no such tag
        raise StateMissing(f"{s.arg(name)!r} is not in the registry ({type(exc).__name__})",
                           fix=f"push it first: push(engine, registry, image, {s.arg(name)!r})") from None


def _blobs(s, name: str) -> list[str]:
    return [layer["digest"] for layer in _manifest(s, name)["layers"]]


def _both_pushed(s) -> Verdict:
    _blobs(s, "image")
    _blobs(s, "other")
    return passed()


def _shared_below(s) -> Verdict:
    first, second = _blobs(s, "image"), _blobs(s, "other")
    below = second[:-1]
    missing = [i for i, d in enumerate(below) if d not in first]
    if len(second) < 3:
        return failed(f"the second image has {len(second)} layer(s): it needs the base, a shared "
                      f"layer and its own top layer")
    return passed() if not missing else failed(
        f"layer(s) {missing} of the second image are not layers of the first: they were uploaded again")


def _own_top(s) -> Verdict:
    first, second = _blobs(s, "image"), _blobs(s, "other")
    return passed() if second[-1] not in first else failed(
        "the second image's top layer is also in the first: the two pushes are the same image")


def _labelled(s) -> Verdict:
    config = s.arg("registry").config(registry_name(s.arg("other")))
    labels = (config.get("config") or {}).get("Labels") or {}
    return passed() if labels.get(LABEL) == "true" else failed("the second image is not a labkit image")


EXERCISES = (
    Exercise(
        id="09-a", title="Ship only what changed",
        task="Push two versions of an app to the lesson's registry so that the second push "
             "uploads only its own top layer: every layer below it is a layer of the first.",
        params=("registry", "image", "other"),
        checks=(
            Check("both-pushed", _both_pushed, 1, success="both versions are in the registry",
                  failure="both versions should be in the registry",
                  hints=("push(engine, registry, record.image, 'name:tag') for each version, then "
                         "check('09-a', registry=registry, image='name:v1', other='name:v2').",)),
            Check("shared-below", _shared_below, 3,
                  success="every layer below the second version's top is a blob of the first",
                  failure="the second version should reuse the first version's lower layers",
                  hints=("A registry names blobs by digest: a layer is reused only when its bytes "
                         "are the same.",
                         "Build the second version with the same first steps as the first, and the "
                         "build cache on, so those steps reuse the very same layers.",
                         "Dockerfile.v1 and Dockerfile.v2 of labkit.example('dist09') differ only in "
                         "their last RUN: build v1, then v2 without no_cache, and push both.")),
            Check("own-top", _own_top, 1, success="the second version's top layer is its own",
                  failure="the second version should end with a layer of its own",
                  hints=("Change the last step of the second Dockerfile.",)),
            Check("labelled", _labelled, 1, hidden=True, success="a labkit image",
                  failure="push images labkit built"),
        )),
)
