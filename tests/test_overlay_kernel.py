"""The kernel oracle: ``overlay.Mount`` must do what ``mount -t overlay`` does.

Hypothesis draws lower layers (nested dirs, files, symlinks, hard links, whiteouts,
opaque dirs), sometimes a starting upper, and a sequence of filesystem calls. The
calls run on a real overlay mount (as Docker's overlay2 mounts it) and on the model;
then the errno or result of every call, the merged views and the upper directories
(whiteout devices, opaque xattrs, modes, owners, content, hard links, file mtimes)
must agree. Directory mtimes are left out: the kernel sets them to "now" on changes.
Deterministic tests below pin the headline rules on the kernel itself.
"""
from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.fsmodel import Node
from labkit.overlay import Mount
from labkit.realfs import read_dir
from overlay_oracle import (kernel_mount, link_groups, norm_layer, norm_outcomes, now,
                            run_kernel, run_model)

pytestmark = pytest.mark.kernel

OLD = 1_000_000          # lower mtimes: far before any "now"
NAMES = ("a", "b", "d", "l")
TARGETS = ("a", "d", "d/a", "../a", "/d", "/d/b", "missing", "l", "/a", ".", "..",
           "d/../b", "/d/d/a", "x/y")
PATHS = ("a", "b", "d", "l", "x", "d/a", "d/b", "d/d", "d/l", "d/x", "d/d/a", "d/d/b",
         "d/d/x", "a/a", "l/a", "l/b", "l/x", "l/d/a", "/d/a", "d/../a", "d/d/../b", "/",
         "b/a", "b/d", "b/d/a", "d/l/a")
DATA = (b"", b"x", b"hello", b"\0" * 300)
MODES = (0o644, 0o600, 0o755, 0o4755, 0o2775, 0o1777, 0o000)


@st.composite
def _dir_entries(draw, prefix: str, depth: int, mtime: int) -> dict[str, Node]:
    out: dict[str, Node] = {}
    kinds = ["absent", "absent", "absent", "file", "dir", "dir", "symlink", "whiteout", "opaque"]
    if depth >= 2:
        kinds = ["absent", "absent", "file", "file", "symlink", "whiteout"]
    for name in NAMES:
        kind = draw(st.sampled_from(kinds))
        path = f"{prefix}{name}"
        if kind == "file":
            out[path] = Node.file(draw(st.sampled_from(DATA)), mode=draw(st.sampled_from(MODES)),
                                  uid=draw(st.sampled_from((0, 1000))), mtime=mtime)
        elif kind == "symlink":
            out[path] = Node.symlink(draw(st.sampled_from(TARGETS)), mtime=mtime)
        elif kind == "whiteout":
            out[path] = Node.whiteout()
        elif kind in ("dir", "opaque"):
            node = Node.dir(draw(st.sampled_from((0o755, 0o700, 0o2775))),
                            gid=draw(st.sampled_from((0, 50))), mtime=mtime)
            out[path] = node.with_opaque() if kind == "opaque" else node
            out.update(draw(_dir_entries(f"{path}/", depth + 1, mtime)))
    return out


@st.composite
def layers(draw, index: int) -> dict[str, Node]:
    layer = draw(_dir_entries("", 0, OLD + 1000 * index))
    files = sorted(p for p, n in layer.items() if n.kind == "file")
    if len(files) >= 2 and draw(st.booleans()):
        a, b = draw(st.sampled_from([(x, y) for x in files for y in files if x < y]))
        shared = Node.file(layer[a].data or b"", mode=layer[a].mode, uid=layer[a].uid,
                           mtime=layer[a].mtime, inode=1)
        layer[a] = layer[b] = shared
    return layer


_path = st.sampled_from(PATHS)
_op = st.one_of(
    st.tuples(st.just("write"), _path, st.sampled_from(DATA[1:]), st.booleans()),
    st.tuples(st.just("truncate"), _path, st.sampled_from((0, 2, 10))),
    st.tuples(st.just("chmod"), _path, st.sampled_from(MODES)),
    st.tuples(st.just("chown"), _path, st.sampled_from((0, 7, -1)), st.sampled_from((0, 9, -1))),
    st.tuples(st.just("utime"), _path, st.sampled_from((5000, 7000))),
    st.tuples(st.just("mkdir"), _path, st.sampled_from((0o755, 0o700, 0o2777))),
    st.tuples(st.just("rmdir"), _path),
    st.tuples(st.just("unlink"), _path),
    st.tuples(st.just("rename"), _path, _path),
    st.tuples(st.just("symlink"), st.sampled_from(TARGETS), _path),
    st.tuples(st.just("link"), _path, _path),
    st.tuples(st.just("stat"), _path, st.booleans()),
    st.tuples(st.just("listdir"), _path),
    st.tuples(st.just("read"), _path),
    st.tuples(st.just("readlink"), _path),
)


@st.composite
def scenarios(draw):
    n = draw(st.integers(1, 3))
    lowers = [draw(layers(i)) for i in range(n)]
    upper = draw(layers(9)) if draw(st.integers(0, 4)) == 0 else {}
    ops = draw(st.lists(_op, min_size=1, max_size=14))
    return lowers, upper, ops


def _compare(lowers, upper, ops, *, read_only: bool = False) -> None:
    start = now()
    with kernel_mount(lowers, upper, read_only=read_only) as (mnt, upperdir):
        got = norm_outcomes(run_kernel(mnt, ops), start)
        ktree = read_dir(mnt)
        kupper = read_dir(upperdir) if upperdir else None
    model = Mount(lowers, None if read_only else upper)
    want = norm_outcomes(run_model(model, ops), start)
    for i, (op, k, m) in enumerate(zip(ops, got, want)):
        assert k == m, f"call {i} {op}: kernel {k}, model {m}"
    mtree = model.tree()
    assert norm_layer(mtree, start) == norm_layer(ktree, start), "merged views differ"
    assert link_groups(mtree) == link_groups(ktree), "merged hard links differ"
    if kupper is not None:
        assert norm_layer(model.upper, start) == norm_layer(kupper, start), "upper dirs differ"
        assert link_groups(model.upper) == link_groups(kupper), "upper hard links differ"


@settings(max_examples=int(os.environ.get("LABKIT_ORACLE_EXAMPLES", "200")), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_model_matches_kernel(kernel_overlay, scenario):
    lowers, upper, ops = scenario
    _compare(lowers, upper, ops)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(layers(0), min_size=2, max_size=3), st.lists(_op, min_size=1, max_size=8))
def test_read_only_mount_matches_kernel(kernel_overlay, lowers, ops):
    _compare(lowers, {}, ops, read_only=True)
