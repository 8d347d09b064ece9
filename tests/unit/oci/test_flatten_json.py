"""``labkit flatten --json`` text: ``json_text`` must be exactly what ``json.dumps`` makes of
``to_json`` (sorted keys), for every kind of entry and every name that needs escaping."""
from __future__ import annotations

import json
import tarfile

from labkit.oci.flatten import flatten, json_text, to_json
from labkit.fs.node import Node
from tarkit import ROOT_LEVEL, VALID, E, image_tar, layer_tar, merged_layers

NAMES = ["plain", 'quo"te', "back\\slash", "tab\there", "new\nline", "del\x7f", "\u00fcml\u00e4ut",
         "emoji\U0001F600", "surrogate\udcff", "ctl\x01", "sp ace", ""]


def test_json_text_is_json_dumps_of_to_json_for_the_oracle_images(tmp_path):
    kinds = set()
    for name, layers in (("valid", merged_layers(VALID)), ("root", [layer_tar(x) for x in ROOT_LEVEL])):
        tree = flatten(str(image_tar(layers, tmp_path / f"{name}.tar", f"labkit-oracle:{name}")), jobs=1)
        kinds |= {n.kind for n in tree.values()}
        assert json_text(tree) == json.dumps(to_json(tree), sort_keys=True)
    assert kinds == {"file", "dir", "symlink", "char", "block", "fifo"}


def test_json_text_escapes_like_json_dumps():
    tree = {}
    for i, name in enumerate(NAMES):
        tree[f"d{i}/{name}"] = Node.file(name.encode("utf-8", "surrogateescape"), mode=0o4755)
        tree[f"s{i}"] = Node.symlink(name or "x")
        tree[f"l{i}/{name}x"] = Node.symlink("/abs/" + name)
    tree["c"] = Node("char", mode=0o666, rdev=(1, 3))
    tree["b"] = Node("block", mode=0o660, rdev=(7, 0))
    tree["p"] = Node("fifo", mode=0o644)
    tree["d"] = Node.dir(0o2750)
    text = json_text(tree)
    assert text == json.dumps(to_json(tree), sort_keys=True)
    assert json.loads(text)["c"] == {"mode": 0o666, "rdev": [1, 3], "type": "char"}
    assert json_text({}) == "{}"


def test_cli_json_output_parses_to_the_tree(tmp_path, capsys):
    from labkit.cli import main as cli_main
    layers = [layer_tar([E("a/b", data=b"x"), E('q"/s', tarfile.SYMTYPE, link="a\\b")])]
    path = image_tar(layers, tmp_path / "j.tar", "labkit-oracle:json")
    capsys.readouterr()
    assert cli_main(["flatten", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == to_json(flatten(str(path)))
