"""``layers.diff`` (what ``docker diff`` lists) case by case, the expectations written by hand
from Docker's rules (moby's overlay2 changes: A/C/D, parents of a change are C, a deleted
directory is reported alone, a directory's mtime alone is no change); the real daemon checks
the same rules on one container in tests/oracles/kernel/test_layers.py."""
from __future__ import annotations

import pytest

from labkit.fs.layers import diff
from labkit.fs.node import Node

T = {"mtime": 1_000}
W = Node.whiteout()
BASE = {"d": Node.dir(**T), "d/a": Node.file(b"a", **T), "d/b": Node.file(b"bb", **T),
        "g": Node.dir(**T), "g/x": Node.dir(**T), "g/x/f": Node.file(b"f", **T),
        "o": Node.dir(**T), "o/old": Node.file(b"o", **T), "f": Node.file(b"same", **T)}

CASES = {
    "add a file": ({"d": Node.dir(**T), "d/new": Node.file(b"n")}, ["C /d", "A /d/new"]),
    "add a directory tree": ({"n": Node.dir(), "n/f": Node.file(b"f")}, ["A /n", "A /n/f"]),
    "delete a file": ({"d": Node.dir(**T), "d/a": W}, ["C /d", "D /d/a"]),
    "delete a directory: only it": ({"g": W}, ["D /g"]),
    "delete under a deeper directory": ({"g": Node.dir(**T), "g/x": Node.dir(**T), "g/x/f": W},
                                        ["C /g", "C /g/x", "D /g/x/f"]),
    "a directory becomes a file": ({"g": Node.file(b"now a file", **T)}, ["C /g"]),
    "a file becomes a directory": ({"f": Node.dir(**T), "f/in": Node.file(b"i")}, ["C /f", "A /f/in"]),
    "opaque directory hides the old children": (
        {"o": Node.dir(**T).with_opaque(), "o/n": Node.file(b"n")}, ["C /o", "A /o/n", "D /o/old"]),
    "a directory's mtime alone": ({"g": Node.dir(mtime=2_000)}, []),
    "a directory's mode": ({"g": Node.dir(0o700, **T)}, ["C /g"]),
    "a file's mtime alone": ({"f": Node.file(b"same", mtime=2_000)}, ["C /f"]),
    "a file's mode": ({"f": Node.file(b"same", mode=0o600, **T)}, ["C /f"]),
    "a file's owner": ({"f": Node.file(b"same", uid=7, **T)}, ["C /f"]),
    "a file's group": ({"f": Node.file(b"same", gid=7, **T)}, ["C /f"]),
    "a file's size": ({"f": Node.file(b"longer", **T)}, ["C /f"]),
    "same size and mtime, other bytes": ({"f": Node.file(b"SAME", **T)}, ["C /f"]),
    "the same file copied up": ({"f": Node.file(b"same", **T)}, []),
    "a file becomes a symlink": ({"f": Node.symlink("d", **T)}, ["C /f"]),
    "whiteout of nothing": ({"nothing": W}, []),
}


@pytest.mark.parametrize("name", CASES)
def test_diff_lists_what_docker_diff_lists(name):
    upper, expect = CASES[name]
    assert [str(c) for c in diff([BASE], upper)] == expect


def test_lowers_stack_bottom_first():
    top = {"d": Node.dir(**T), "d/a": W, "d/c": Node.file(b"c", **T)}
    assert [str(c) for c in diff([BASE, top], {"d": Node.dir(**T), "d/c": W})] == ["C /d", "D /d/c"]
    assert [str(c) for c in diff([BASE, top], {"d": Node.dir(**T), "d/a": Node.file(b"a")})] == \
        ["C /d", "A /d/a"]
    symlinked = {"s": Node.symlink("d", **T)}
    assert [str(c) for c in diff([BASE, symlinked], {"s": Node.symlink("g", **T)})] == ["C /s"]
