"""Hand-made layer tars and images for the tests, and Docker's verdict on them.

``make_layer`` writes a small layer from short tuples; ``E``/``layer_tar`` write any entry
(devices, pax records, long names) for the case tables ``VALID``/``INVALID``/``ROOT_LEVEL``,
which the Docker oracle (``oracles/docker/test_flatten_docker.py``) loads into a real daemon
and the unit tests reuse; ``export_json`` is what ``docker export`` lists, in the format of
``labkit flatten --json``; ``compare`` the two.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from labkit.cli import main as cli_main
from labkit.oci.write import write_image_tar
from labkit.values import LABEL

# What Docker adds to every container (checked below against the real export).
DOCKER_ADDED = {".dockerenv", "dev", "dev/console", "dev/pts", "dev/shm", "etc", "etc/hostname",
                "etc/hosts", "etc/mtab", "etc/resolv.conf", "proc", "sys"}

REG, DIR, SYM, LNK = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
CHR, BLK, FIFO, CONT = tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE, tarfile.CONTTYPE


def E(name, type=REG, data=b"", mode=None, link="", dev=(0, 0), uid=0, pax=None):
    """One tar entry to write (a plain tuple keeps the case tables short)."""
    if mode is None:
        mode = 0o755 if type == DIR else 0o644
    return dict(name=name, type=type, data=data, mode=mode, link=link, dev=dev, uid=uid, pax=pax)


def plain_tar(members: dict[str, bytes]) -> bytes:
    """A pax tar of regular files (name -> bytes) in the given order, everything else default."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def layer_tar(entries, fmt=tarfile.PAX_FORMAT) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e["name"])
            ti.type, ti.mode, ti.linkname, ti.uid = e["type"], e["mode"], e["link"], e["uid"]
            ti.devmajor, ti.devminor = e["dev"]
            ti.mtime = 1_600_000_000
            if e["pax"]:
                ti.pax_headers = e["pax"]
            if e["type"] in (REG, CONT):
                ti.size = len(e["data"])
                tar.addfile(ti, io.BytesIO(e["data"]))
            else:
                tar.addfile(ti)
    return buf.getvalue()


LONG = "long/" + "d" * 120 + "/" + "f" * 150
# name -> layers (bottom first); every case keeps to its own top-level directory
VALID: dict[str, list[list[dict]]] = {
    "whiteout": [[E("wh/a", data=b"a"), E("wh/b/c", data=b"c"), E("wh/keep", data=b"k")],
                 [E("wh/.wh.a"), E("wh/.wh.b")]],
    "opaque-first": [[E("opq/d/x", data=b"x"), E("opq/d/y/z", data=b"z")],
                     [E("opq/d/.wh..wh..opq"), E("opq/d/new", data=b"n")]],
    "opaque-last": [[E("opl/d/x", data=b"x")],
                    [E("opl/d/new", data=b"n"), E("opl/d/.wh..wh..opq"), E("opl/d", DIR, mode=0o700)]],
    "opaque-pax-xattr": [[E("pxo/d/x", data=b"x")], [],   # layer 2 is a pax tar (1 is GNU)
                         [E("pxo/d", DIR, pax={"SCHILY.xattr.trusted.overlay.opaque": "y"}),
                          E("pxo/d/b", data=b"b")]],
    "file-to-dir": [[E("f2d/a", data=b"file")], [E("f2d/a/x", data=b"x")]],
    "dir-to-file": [[E("d2f/a/x", data=b"x"), E("d2f/a/y/z", data=b"z")], [E("d2f/a", data=b"now a file")]],
    "symlink-to-dir": [[E("s2d/t", DIR), E("s2d/t/in", data=b"i"), E("s2d/l", SYM, link="t")],
                       [E("s2d/l/f", data=b"real dir now")]],
    "symlinks": [[E("sym/abs", SYM, link="/etc/passwd"), E("sym/rel", SYM, link="../x"),
                  E("sym/escape", SYM, link="../../../../../../x"), E("sym/dangling", SYM, link="nope")]],
    "hardlinks": [[E("hl/f", data=b"shared", mode=0o600, uid=1), E("hl/h", LNK, link="hl/f", mode=0o751),
                   E("hl/s", SYM, link="f"), E("hl/hs", LNK, link="hl/s"),
                   E("hl2/g", data=b"old"), E("hl2/h", LNK, link="./hl2/g")],
                  [E("hl/.wh.f"), E("hl2/g", data=b"new content")]],
    "modes": [[E("mode/d", DIR, mode=0o700), E("mode/d/x", data=b"x"), E("mode/f", data=b"1")],
              [E("mode/d", DIR, mode=0o2750), E("mode/f", data=b"22", mode=0o4755)]],
    "dir-over-dir": [[E("ddm/d", DIR), E("ddm/d/x", data=b"x")], [E("ddm/d", DIR, mode=0o711)]],
    "implicit-parents": [[E("imp/a/b/c/file", data=b"deep")]],
    "whiteout-missing": [[E("whm/keep", data=b"k")], [E("whm/x/y/.wh.nothing")]],
    "whiteout-then-same-name": [[E("whx/f", data=b"old")], [E("whx/.wh.f"), E("whx/f", data=b"new")]],
    "whiteout-then-dir": [[E("wrd/d/x", data=b"x")], [E("wrd/.wh.d"), E("wrd/d", DIR), E("wrd/d/y", data=b"y")]],
    "char-0-0-is-whiteout": [[E("c00/a", data=b"a"), E("c00/b", data=b"b")], [E("c00/a", CHR)]],
    # only 0/0 is a whiteout: a char device 0/5 or 5/0 over a file replaces it and stays visible
    "char-0-n-is-a-device": [[E("c0n/a", data=b"a"), E("c0n/b", data=b"b")],
                             [E("c0n/a", CHR, dev=(0, 5)), E("c0n/b", CHR, dev=(5, 0))]],
    "devices": [[E("devs/c", CHR, dev=(1, 3), mode=0o666), E("devs/b", BLK, dev=(7, 0), mode=0o660),
                 E("devs/p", FIFO)]],
    "same-layer-symlink": [[E("sl/d", DIR), E("sl/l", SYM, link="d"), E("sl/l/x", data=b"via link"),
                            E("sl/la", SYM, link="/sl/d"), E("sl/la/sub/y", data=b"abs link")]],
    "slash-and-plain": [[E("/spl/a", data=b"first"), E("spl/a", data=b"second")]],
    "opaque-under-file": [[E("opf/f", data=b"f"), E("opf/f/.wh..wh..opq")]],
    "wh-prefix-dir": [[E("whd/.wh.dir/file", data=b"ordinary")]],
    "long-names": [[E(LONG, data=b"pax long"), E("long/\u00fcn\u00efc\u00f6de", data=b"u")],
                   [E(LONG + "2", data=b"gnu long"), E("long/ln", SYM, link="x" * 200)]],
}
ROOT_LEVEL: list[list[dict]] = [
    [E("rootkeep", data=b"kept"), E("../dotdot_x", data=b"dd"), E("/../slashdotdot_x", data=b"sdd"),
     E("hl_dotdot", LNK, link="../rootkeep")],
    [E(".wh..wh..opq"), E("rootnew", data=b"new")],
]
# name -> layers Docker refuses; labkit must refuse them too
INVALID: dict[str, list[list[dict]]] = {
    "X-then-whiteout-X": [[E("f", data=b"1"), E(".wh.f")]],
    "duplicate": [[E("f", data=b"1"), E("./f", data=b"2")]],
    "duplicate-dir": [[E("d", DIR), E("d/", DIR, mode=0o700)]],
    "whiteout-empty-name": [[E("d/.wh.")]],
    "whiteout-dot": [[E("d/.wh..")]],
    "whiteout-dotdot": [[E("d/.wh...")]],
    "twice-whiteout": [[E(".wh.a"), E("./.wh.a")]],
    "child-of-whiteout": [[E(".wh.d"), E("d/y", data=b"y")]],
    "child-of-file": [[E("f", data=b"1"), E("f/x", data=b"2")]],
    "hardlink-later": [[E("h", LNK, link="f"), E("f", data=b"x")]],
    "hardlink-missing": [[E("h", LNK, link="nope")]],
    "hardlink-lower-layer": [[E("f", data=b"x")], [E("h", LNK, link="f")]],
    "hardlink-dir": [[E("d", DIR), E("h", LNK, link="d")]],
    "dangling-symlink-parent": [[E("l", SYM, link="nope"), E("l/x", data=b"x")]],
    "contiguous-type": [[E("f", CONT, data=b"x")]],
}


def merged_layers(cases: dict[str, list[list[dict]]]) -> list[bytes]:
    depth = max(len(v) for v in cases.values())
    fmts = [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]
    return [layer_tar([e for v in cases.values() if i < len(v) for e in v[i]], fmts[i % 3])
            for i in range(depth)]


def image_tar(layers: list[bytes], path: Path, tag: str, **kw) -> Path:
    cfg = {"config": {"Labels": {LABEL: "true"}, "Cmd": ["/nothing"]}}
    write_image_tar(layers, cfg, path, repo_tags=[tag], **kw)
    return path


def flatten_json(path: Path, capsys) -> dict:
    capsys.readouterr()
    rc = cli_main(["flatten", str(path), "--json"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    return json.loads(out.out)


def export_json(client, path: Path) -> dict:
    """docker load + create + export, as the flatten JSON format (hard links resolved)."""
    with open(path, "rb") as f:
        images = client.images.load(f.read())
    image = images[0]
    container = None
    try:
        container = client.containers.create(image.id, labels={LABEL: "true"}, network_mode="none")
        stream = b"".join(container.export())
    finally:
        if container is not None:
            container.remove(force=True)
        client.images.remove(image.id, force=True)
    out: dict[str, dict] = {}
    with tarfile.open(fileobj=io.BytesIO(stream), mode="r:") as tar:
        for m in tar:
            name = m.name.strip("/")
            if name in ("", "."):
                continue
            if m.islnk():
                out[name] = out[m.linkname.strip("/")]
                continue
            d = {"mode": m.mode & 0o7777}
            if m.isreg():
                data = tar.extractfile(m).read()
                d.update(type="file", size=len(data), sha256=hashlib.sha256(data).hexdigest())
            elif m.isdir():
                d["type"] = "dir"
            elif m.issym():
                d.update(type="symlink", linkname=m.linkname)
            elif m.ischr() or m.isblk():
                d.update(type="char" if m.ischr() else "block", rdev=[m.devmajor, m.devminor])
            elif m.isfifo():
                d["type"] = "fifo"
            out[name] = d
    return out


def compare(flat: dict, exported: dict) -> None:
    assert set(exported) - set(flat) == DOCKER_ADDED, "Docker's extra entries differ from the list"
    assert set(flat) - set(exported) == set(), "labkit lists paths Docker does not have"
    diffs = {p: (flat[p], exported[p]) for p in flat if flat[p] != exported[p]}
    assert diffs == {}


def make_layer(*entries: tuple) -> bytes:
    """A layer tar from ``("f", path, data)``, ``("d", path)``, ``("l", path, target)`` symlink,
    ``("h", path, target)`` hard link, ``("w", path)`` whiteout, ``("o", dir)`` opaque marker."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            kind, path = e[0], e[1]
            if kind == "w":
                parent, _, base = path.rpartition("/")
                path = f"{parent}/.wh.{base}" if parent else f".wh.{base}"
            elif kind == "o":
                path = f"{path}/.wh..wh..opq" if path else ".wh..wh..opq"
            ti = tarfile.TarInfo(path)
            ti.mtime = 1_700_000_000
            data = b""
            if kind == "d":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "l":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, e[2], 0o777
            elif kind == "h":
                ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
            elif kind == "f":
                data = e[2]
                ti.mode = e[3] if len(e) > 3 else 0o644
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data) if data else None)
    return buf.getvalue()
