"""The Docker oracle for layer unpacking: hand-made layer tars -> docker load -> docker
create -> docker export must list exactly what ``labkit flatten --json`` lists.

Valid cases are batched into two images (every case under its own top-level directory;
root-level cases in the second image); each invalid case is loaded on its own and Docker
and labkit must both refuse it. Everything made here carries ``org.labkit.managed=true``
and is removed by id.
"""
from __future__ import annotations

import hashlib

import pytest
from tarkit import (INVALID, ROOT_LEVEL, SYM, VALID, E, compare, export_json, flatten_json, image_tar, layer_tar,
                    merged_layers)

from labkit.cli import main as cli_main

pytestmark = pytest.mark.docker


@pytest.mark.parametrize("layout,gzip", [("docker", False)])
def test_valid_cases_match_docker_export(docker_client, tmp_path, capsys, layout, gzip):
    path = image_tar(merged_layers(VALID), tmp_path / "valid.tar", "labkit-oracle:valid",
                     layout=layout, gzip=gzip)
    flat = flatten_json(path, capsys)
    exported = export_json(docker_client, path)
    compare(flat, exported)
    # spot checks that the cases did what they were meant to (independent of both sides)
    assert "wh/a" not in flat and "wh/b" not in flat and "wh/keep" in flat
    assert "opq/d/x" not in flat and "opl/d/x" not in flat and "pxo/d/x" not in flat
    assert flat["hl/h"]["sha256"] == hashlib.sha256(b"shared").hexdigest()
    assert flat["hl2/h"]["sha256"] == hashlib.sha256(b"old").hexdigest()
    assert flat["wrd/d/x"]["type"] == "file"   # a dir over a whiteout is not opaque
    assert "c00/a" not in flat
    assert {p: flat[p]["type"] for p in ("c0n/a", "c0n/b")} == {"c0n/a": "char", "c0n/b": "char"}


def test_root_level_names_and_oci_gzip_layout(docker_client, tmp_path, capsys):
    layers = [layer_tar(entries) for entries in ROOT_LEVEL]
    path = image_tar(layers, tmp_path / "root.tar", "labkit-oracle:root", layout="oci", gzip=True)
    flat = flatten_json(path, capsys)
    compare(flat, export_json(docker_client, path))
    assert {"dotdot_x", "slashdotdot_x", "rootkeep", "rootnew", "hl_dotdot"} <= set(flat)


@pytest.mark.parametrize("case", sorted(INVALID))
def test_docker_and_labkit_refuse_the_same_layers(docker_client, tmp_path, capsys, case):
    path = image_tar([layer_tar(e) for e in INVALID[case]], tmp_path / "bad.tar", f"labkit-oracle:bad-{case}")
    capsys.readouterr()
    rc = cli_main(["flatten", str(path), "--json"])
    err = capsys.readouterr().err
    docker_error = None
    try:
        with open(path, "rb") as f:
            images = docker_client.images.load(f.read())
    except Exception as exc:  # docker.errors.APIError / ImageLoadError
        docker_error = str(exc)
    else:
        for image in images:
            docker_client.images.remove(image.id, force=True)
    assert docker_error, f"Docker accepted {case}"
    assert rc == 1, f"labkit accepted {case}"
    assert err.count("\n") == 1 and err.startswith("labkit flatten:"), err


def test_truncated_layer_refused_by_both(docker_client, tmp_path, capsys):
    full = layer_tar([E("big", data=b"x" * 5000), E("after", data=b"y")])
    path = image_tar([full[:2048]], tmp_path / "trunc.tar", "labkit-oracle:trunc")
    capsys.readouterr()
    assert cli_main(["flatten", str(path)]) == 1
    err = capsys.readouterr().err
    assert "'big'" in err and "5000" in err
    import docker
    # the daemon's tar reader stops short of big's 5000 bytes ("unexpected EOF"), reported in the
    # load's JSON stream (ImageLoadError) or as the HTTP answer (APIError); not a connection error
    with pytest.raises((docker.errors.ImageLoadError, docker.errors.APIError), match="EOF"):
        with open(path, "rb") as f:
            for image in docker_client.images.load(f.read()):
                docker_client.images.remove(image.id, force=True)


def test_more_layers_than_docker_loads_is_refused_by_both(docker_client, tmp_path, capsys):
    # Docker's layer store stops at 125 layers ("max depth exceeded"); labkit says so too
    layers = [layer_tar([E(f"f{i}", data=b"%d" % i)]) for i in range(126)]
    path = image_tar(layers, tmp_path / "deep.tar", "labkit-oracle:deep")
    capsys.readouterr()
    assert cli_main(["flatten", str(path), "--json"]) == 1
    assert "at most 125" in capsys.readouterr().err
    import docker
    with pytest.raises((docker.errors.ImageLoadError, docker.errors.APIError), match="max depth exceeded"):
        for image in docker_client.images.load(path.read_bytes()):
            docker_client.images.remove(image.id, force=True)


def test_flatten_tree_output_without_docker(tmp_path, capsys):
    # the readable form: one line per path, modes like ls -l, link targets, sizes
    layers = [layer_tar([E("d/f", data=b"abc", mode=0o600), E("s", SYM, link="d/f")]),
              layer_tar([E("d/.wh.f"), E("d/g", data=b"12345")])]
    path = image_tar(layers, tmp_path / "t.tar", "labkit-oracle:tree")
    capsys.readouterr()
    assert cli_main(["flatten", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("drwxr-xr-x") and lines[0].endswith(" d/")
    assert lines[1].startswith("-rw-r--r--") and lines[1].endswith("    g") and " 5 " in lines[1]
    assert lines[2].startswith("lrwxrwxrwx") and lines[2].endswith("s -> d/f")
