"""``labkit clean --session`` also removes labkit's own untagged LABEL steps that nothing is
built on (what a build leaves when its session's image goes), and nothing else: not one
another image is built on, not an untagged image someone built FROM labkit's base (it
inherits labkit's label), not an image without labkit's label."""
from __future__ import annotations

import docker
import pytest

from labkit.values import LABEL

pytestmark = pytest.mark.docker


def _build(docker_client, tmp_path, text: str, labels: dict) -> str:
    (tmp_path / "Dockerfile").write_text(text)
    image, _ = docker_client.images.build(path=str(tmp_path), labels=labels, network_mode="none",
                                          rm=True, forcerm=True)
    return image.id


def test_session_clean_removes_orphaned_labkit_leaves_only(docker_client, docker_engine, tmp_path):
    base = docker_engine.base_image().tags[0]
    api = docker_client.api
    orphan = _build(docker_client, tmp_path, f"FROM {base}\nRUN echo orphan > /o\n", {LABEL: "true"})
    parent = _build(docker_client, tmp_path, f"FROM {base}\nRUN echo parent > /p\n", {LABEL: "true"})
    child = _build(docker_client, tmp_path, f"FROM {parent}\nRUN echo child > /c\n", {})
    api.tag(child, "labkit-test-not-labkits", "orphans")      # someone else's image on ours
    foreign = _build(docker_client, tmp_path, f"FROM {base}\nRUN echo foreign > /f\n", {})
    assert api.inspect_image(foreign)["Config"]["Labels"].get(LABEL) == "true"   # inherited
    try:
        removed = docker_engine.clean(session_only=True)
        assert any(orphan.split(":")[1][:12] in line for line in removed)
        with pytest.raises(docker.errors.ImageNotFound, match="(?i)no such image"):
            api.inspect_image(orphan)
        assert api.inspect_image(parent)["Id"] == parent        # something is built on it
        assert api.inspect_image(child)["Id"] == child
        assert api.inspect_image(foreign)["Id"] == foreign      # not labkit's
    finally:
        for image in (child, foreign, parent, orphan):
            try:
                api.remove_image(image, force=True)
            except Exception:  # noqa: BLE001 - removed by the clean, or with its child
                pass


def test_clean_removes_an_image_and_what_was_built_on_it_in_any_order(docker_client, docker_engine,
                                                                       tmp_path):
    """The daemon refuses to remove an image while one built on it exists, even forced; clean
    must not rely on creation times for the order (they tie within a second, and a cached
    build reuses an older image). Given the parent FIRST, both still go, and only what was
    really removed is reported."""
    base = docker_engine.base_image().tags[0]
    api = docker_client.api
    parent = _build(docker_client, tmp_path, f"FROM {base}\nRUN echo p > /p\n", {LABEL: "true"})
    child = _build(docker_client, tmp_path, f"FROM {parent}\nRUN echo c > /c\n", {LABEL: "true"})
    api.tag(parent, "labkit-test-clean-order", "parent")   # tagged: not pruned with the child
    rows = {r["Id"]: r for r in api.images(all=True, filters={"label": f"{LABEL}=true"})}
    try:
        removed = docker_engine._remove_images([rows[parent], rows[child]], False)  # noqa: SLF001
        assert len(removed) == 2 and removed[0].startswith(f"image {child.split(':')[1][:12]}")
        for image in (parent, child):
            with pytest.raises(docker.errors.ImageNotFound, match="(?i)no such image"):
                api.inspect_image(image)
    finally:
        for image in (child, parent):
            try:
                api.remove_image(image, force=True)
            except Exception:  # noqa: BLE001 - removed by the test itself
                pass
