"""labkit.layers against the real systems: ``merge`` against the kernel's overlayfs,
``diff`` against ``docker diff``, plus squash/apply properties and the layer limits."""
from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tarkit import BLK, CHR, DIR, E, layer_tar

from labkit.errors import LayerError
from labkit.fs.layers import (
    KERNEL_MAX_LOWERS,
    MAX_DOCKER_LAYERS,
    apply,
    check_layer_count,
    diff,
    merge,
    squash,
)
from labkit.fs.node import Node
from labkit.oci.tar.unpack import read_layer
from labkit.values import LABEL, Change

W = Node.whiteout()


def view(tree: dict) -> dict:
    """What a merged view shows of each path (what the kernel can tell us)."""
    return {p: (n.kind, n.mode, n.uid, n.size, n.sha256, n.linkname, n.mtime if n.kind != "dir" else 0)
            for p, n in tree.items()}


# --------------------------------------------------------------------------- merge vs kernel

def mount_view(layers: list[dict], base: Path) -> dict:
    """Write each layer dir to disk, mount them read-only with overlayfs, read the view.
    The layers are this file's own (set-id bits and device nodes included): trusted."""
    from labkit.fs.realfs import TRUSTED, read_dir, write_dir  # noqa: PLC0415
    dirs = []
    for i, layer in enumerate([{}] + list(layers)):   # an empty bottom: >= 2 lowers
        d = base / f"l{i}"
        write_dir(layer, d, trust=TRUSTED)
        dirs.append(str(d))
    mnt = base / "m"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(reversed(dirs)),
                    str(mnt)], check=True, capture_output=True)
    try:
        return read_dir(mnt, with_data=True)
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


STACKS = {
    "whiteouts and opaque": [
        {"a": Node.dir(), "a/f": Node.file(b"1"), "a/g": Node.file(b"2"), "b": Node.dir(),
         "b/x": Node.file(b"x"), "c": Node.file(b"c")},
        {"a": Node.dir(), "a/f": W, "b": Node.dir(0o700).with_opaque(), "b/y": Node.file(b"y"), "c": W},
    ],
    "type replacements": [
        {"f": Node.file(b"file"), "d": Node.dir(), "d/x": Node.file(b"x"), "s": Node.symlink("d")},
        {"f": Node.dir(0o711), "f/in": Node.file(b"in"), "d": Node.file(b"now file", mode=0o600),
         "s": Node.dir(), "s/z": Node.file(b"z")},
        {"f": Node.symlink("/nowhere")},
    ],
    "dir over dir takes attributes": [
        {"d": Node.dir(0o755, mtime=5), "d/x": Node.file(b"x")},
        {"d": Node.dir(0o2750, uid=3, mtime=9)},
    ],
}

names = st.sampled_from(["a", "b", "a/x", "a/y", "b/x", "a/x/z"])
nodes = st.sampled_from([Node.file(b"1"), Node.file(b"22", mode=0o600), Node.dir(), Node.dir(0o700),
                         Node.dir().with_opaque(), Node.symlink("a"), W])


def well_formed(layer: dict) -> dict:
    """Drop entries whose parent is not a dir of the same layer (as a real dir can't hold them)."""
    out: dict = {}
    for p in sorted(layer, key=lambda q: q.count("/")):
        par = p.rpartition("/")[0]
        if par and (par not in out or out[par].kind != "dir"):
            continue
        out[p] = layer[p]
    return out


stacks = st.lists(st.dictionaries(names, nodes, max_size=6).map(well_formed), min_size=1, max_size=4)


@pytest.mark.kernel
@pytest.mark.parametrize("case", sorted(STACKS))
def test_merge_matches_kernel_overlayfs(kernel_overlay, tmp_path, case):
    layers = STACKS[case]
    assert view(merge(layers)) == view(mount_view(layers, tmp_path))


@pytest.mark.kernel
@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(stacks)
def test_merge_matches_kernel_overlayfs_on_random_stacks(kernel_overlay, tmp_path_factory, layers):
    assert view(merge(layers)) == view(mount_view(layers, tmp_path_factory.mktemp("stack")))


# A whiteout deletes a directory with everything under it, from every layer below it; a
# directory above the whiteout starts empty. (layers BOTTOM first, the kernel's merged paths)
SUBTREE = {"d": Node.dir(), "d/x": Node.file(b"x"), "d/sub": Node.dir(), "d/sub/y": Node.file(b"y"),
           "d/sub/deep": Node.dir(), "d/sub/deep/z": Node.file(b"z"), "keep": Node.file(b"k")}
MORE = {"d": Node.dir(), "d/more": Node.dir(), "d/more/m": Node.file(b"m")}
WHITEOUT_STACKS = {
    "whiteout-of-the-dir": ([SUBTREE, {"d": W}], ["keep"]),
    "whiteout-of-a-dir-of-two-layers": ([SUBTREE, MORE, {"d": W}], ["keep"]),
    "new-dir-above-the-whiteout": (
        [SUBTREE, {"d": W}, {"d": Node.dir(0o700), "d/new": Node.file(b"n")}], ["d", "d/new", "keep"]),
    "new-file-above-the-whiteout": ([SUBTREE, MORE, {"d": W}, {"d": Node.file(b"file")}], ["d", "keep"]),
    "whiteout-of-a-grandchild-dir": ([SUBTREE, {"d": Node.dir(), "d/sub": W}], ["d", "d/x", "keep"]),
    "same-names-again-above-a-whiteout": (
        [SUBTREE, {"d": Node.dir(), "d/sub": W},
         {"d": Node.dir(), "d/sub": Node.dir(), "d/sub/y": Node.file(b"new")}],
        ["d", "d/sub", "d/sub/y", "d/x", "keep"]),
}


@pytest.mark.kernel
@pytest.mark.parametrize("case", sorted(WHITEOUT_STACKS))
def test_whiteout_of_a_dir_hides_its_subtree_in_merge_and_apply(kernel_overlay, tmp_path, case):
    layers, paths = WHITEOUT_STACKS[case]
    kernel = view(mount_view(layers, tmp_path))      # kinds, modes, sizes, content digests
    assert sorted(kernel) == paths
    assert view(merge(layers)) == kernel
    assert view(apply(merge(layers[:-1]), layers[-1])) == kernel


# Only a char device 0/0 is a whiteout: a char device 0/5 or 5/0 (or a block device 0/0) is a
# device node that stays visible and hides the file below it, whether the layer is given as
# Nodes or read from a layer tar by read_layer.
UNDER_DEVICES = {"dev": Node.dir(), "dev/c05": Node.file(b"below"), "dev/c50": Node.file(b"below"),
                 "dev/b00": Node.file(b"below"), "dev/c00": Node.file(b"below"), "dev/x": Node.file(b"x")}
DEVICE_TAR = layer_tar([E("dev", DIR), E("dev/c05", CHR, dev=(0, 5), mode=0o640),
                        E("dev/c50", CHR, dev=(5, 0), mode=0o640), E("dev/b00", BLK, mode=0o640),
                        E("dev/c00", CHR, mode=0o640)])


def _device_layer(source: str) -> dict:
    if source == "tar":
        return read_layer(io.BytesIO(DEVICE_TAR))
    dev = {"mode": 0o640, "mtime": 1_600_000_000}
    return {"dev": Node.dir(mtime=1_600_000_000), "dev/c05": Node("char", rdev=(0, 5), **dev),
            "dev/c50": Node("char", rdev=(5, 0), **dev), "dev/b00": Node("block", **dev),
            "dev/c00": W}


@pytest.mark.kernel
@pytest.mark.parametrize("source", ["nodes", "tar"])
def test_only_char_0_0_is_a_whiteout_in_merge_and_read_layer(kernel_overlay, tmp_path, source):
    layer = _device_layer(source)
    assert {p: (n.kind, n.rdev) for p, n in layer.items()} == {
        "dev": ("dir", (0, 0)), "dev/c05": ("char", (0, 5)), "dev/c50": ("char", (5, 0)),
        "dev/b00": ("block", (0, 0)), "dev/c00": ("whiteout", (0, 0))}
    kernel = mount_view([UNDER_DEVICES, layer], tmp_path)

    def seen(tree: dict) -> dict:      # view() and the device numbers
        return {p: v + (tree[p].rdev,) for p, v in view(tree).items()}
    assert {p: (n.kind, n.rdev) for p, n in kernel.items()} == {
        "dev": ("dir", (0, 0)), "dev/c05": ("char", (0, 5)), "dev/c50": ("char", (5, 0)),
        "dev/b00": ("block", (0, 0)), "dev/x": ("file", (0, 0))}
    assert seen(merge([UNDER_DEVICES, layer])) == seen(kernel)
    assert seen(apply(merge([UNDER_DEVICES]), layer)) == seen(kernel)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(stacks, stacks)
def test_squash_and_apply_agree_with_merge(below, layers):
    expected = merge([*below, *layers])
    assert view(merge([*below, squash(layers, below)])) == view(expected)
    assert view(merge([squash([*below, *layers])])) == view(expected)
    tree = merge(below)
    snapshot = dict(tree)
    result = tree
    for layer in layers:
        result = apply(result, layer)
    assert view(result) == view(expected)
    assert tree == snapshot   # apply returns a new value


def test_merge_has_no_whiteouts_or_opaque_marks_and_renumbers_hard_links():
    a = {"f": Node.file(b"1", inode=1), "g": Node.file(b"1", inode=1), "o": Node.dir().with_opaque()}
    b = {"h": Node.file(b"2", inode=1), "i": Node.file(b"2", inode=1), "f": W}
    tree = merge([a, b])
    assert all(n.kind != "whiteout" and not n.opaque and not n.xattrs for n in tree.values())
    assert tree["g"].inode != tree["h"].inode and tree["h"].inode == tree["i"].inode


# --------------------------------------------------------------------------- diff vs docker diff

SCRIPT = """
set -e
echo new > /new
echo more >> /data/a
rm /data/b
rm -r /gone
mkdir /made && echo y > /made/y
chmod 700 /keep
touch -d '2001-02-03 04:05:06' /touched
rm -r /data/sub && mkdir /data/sub && echo z > /data/sub/z
rm /link && mkdir /link
echo f > /dirfile.tmp && rm -r /dirfile && mv /dirfile.tmp /dirfile
touch /same
"""


@pytest.mark.docker
def test_diff_matches_docker_diff(docker_client, tmp_path):
    from labkit.engine.baseimage import base_layer  # noqa: PLC0415
    from labkit.fs.realfs import read_dir  # noqa: PLC0415
    from labkit.oci.tar.writer import layer_bytes  # noqa: PLC0415
    from labkit.oci.write import write_image_tar  # noqa: PLC0415
    t = {"mtime": 1_000_000}
    data = {"data": Node.dir(**t), "data/a": Node.file(b"a", **t), "data/b": Node.file(b"b", **t),
            "data/sub": Node.dir(**t), "data/sub/x": Node.file(b"x", **t), "data/sub/w": Node.file(b"w", **t),
            "gone": Node.dir(**t), "gone/deep": Node.dir(**t), "gone/deep/f": Node.file(b"f", **t),
            "keep": Node.dir(**t), "keep/k": Node.file(b"k", **t), "touched": Node.dir(**t),
            "touched/t": Node.file(b"t", **t), "link": Node.symlink("data", **t),
            "dirfile": Node.dir(**t), "dirfile/q": Node.file(b"q", **t), "same": Node.file(b"", **t)}
    path = tmp_path / "img.tar"
    write_image_tar([layer_bytes(base_layer()), layer_bytes(data)],
                    {"config": {"Labels": {LABEL: "true"}, "Cmd": ["sh"]}}, path,
                    repo_tags=["labkit-oracle:diff"])
    image = docker_client.images.load(path.read_bytes())[0]
    container = None
    try:
        container = docker_client.containers.run(image.id, ["sh", "-c", SCRIPT], detach=True,
                                                 labels={LABEL: "true"}, network_mode="none")
        assert container.wait(timeout=60)["StatusCode"] == 0, container.logs()
        container.reload()
        graph = container.attrs["GraphDriver"]["Data"]
        lowers = [read_dir(Path(d), with_data=True) for d in reversed(graph["LowerDir"].split(":"))]
        upper = read_dir(Path(graph["UpperDir"]), with_data=True)
        kinds = {0: "C", 1: "A", 2: "D"}
        docker_changes = sorted((Change(kinds[c["Kind"]], c["Path"]) for c in container.diff() or []),
                                key=lambda c: c.path)
    finally:
        if container is not None:
            container.remove(force=True)
        docker_client.images.remove(image.id, force=True)
    ours = diff(lowers, upper)
    assert [str(c) for c in ours] == [str(c) for c in docker_changes]
    assert "C /touched" not in [str(c) for c in ours]   # a dir's mtime alone is no change
    assert {"A /new", "D /data/b", "D /gone", "C /keep", "D /data/sub/x"} <= {str(c) for c in ours}


# --------------------------------------------------------------------------- limits

def test_layer_limits():
    check_layer_count(MAX_DOCKER_LAYERS)
    check_layer_count(KERNEL_MAX_LOWERS, "kernel")
    with pytest.raises(LayerError, match="129 layers .* at most 128"):
        check_layer_count(129)
    with pytest.raises(LayerError, match="at most 125"):
        check_layer_count(126, "docker")
    with pytest.raises(LayerError, match="at most 500"):
        check_layer_count(501, "kernel")
    with pytest.raises(LayerError, match="unknown driver"):
        check_layer_count(1, "aufs")


@pytest.mark.kernel
def test_kernel_refuses_more_than_500_lowers(kernel_overlay, tmp_path):
    dirs = []
    for i in range(KERNEL_MAX_LOWERS + 1):
        d = tmp_path / f"{i}"
        d.mkdir()
        dirs.append(d.name)
    mnt = tmp_path / "m"
    mnt.mkdir()

    def mount(n: int) -> int:
        # relative lowerdirs keep the option string within one page
        r = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + ":".join(dirs[:n]),
                            str(mnt)], cwd=tmp_path, capture_output=True)
        if r.returncode == 0:
            subprocess.run(["umount", str(mnt)], check=True)
        return r.returncode

    assert mount(KERNEL_MAX_LOWERS) == 0
    assert mount(KERNEL_MAX_LOWERS + 1) != 0
    with pytest.raises(LayerError):
        check_layer_count(KERNEL_MAX_LOWERS + 1, "kernel")
