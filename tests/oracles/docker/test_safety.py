"""labkit never touches what it did not make: run after every other test (``runs_last``), when the
sentinel has lived through the whole suite."""
from __future__ import annotations

import pytest

from labkit.cli import main
from labkit.errors import EngineError


@pytest.mark.runs_last
def test_unlabelled_objects_survive_the_suite_and_labkit_clean(sentinel, docker_client, docker_engine,
                                                               capsys):
    made = docker_engine.start(docker_engine.base_image())      # something labkit made
    with pytest.raises(EngineError, match="not made by labkit"):
        docker_engine.remove(sentinel["container"])
    with pytest.raises(EngineError, match="not made by labkit"):
        docker_engine.remove(sentinel["image"])
    with pytest.raises(EngineError, match="not made by labkit"):
        docker_engine.tag(sentinel["image"], "stolen")
    assert main(["clean", "--session"]) == 0
    out = capsys.readouterr().out
    assert f"container {made[:12]}" in out
    assert docker_client.api.inspect_container(sentinel["container"])["Id"] == sentinel["container"]
    assert docker_client.api.inspect_image(sentinel["image"])["Id"] == sentinel["image"]
    assert not docker_client.api.containers(all=True, filters={"id": made})
