"""Writing layer tars: ``write_layer`` / ``layer_bytes``, the inverse of ``read_layer``.

The output is deterministic: entries sorted by written name, owners, modes and mtimes those of
the Nodes, so equal layers give equal bytes (see the package docstring, ``labkit.oci.tar``).
"""
from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import replace
from typing import IO

from ...errors import LayerError
from ...fs.node import OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX, LayerDir, Node
from .reader import clean_path

__all__ = ["write_layer", "layer_bytes"]


def _emit_key(path: str, node: Node) -> tuple:
    """Sort by the name written (``.wh.NAME`` for a whiteout), whiteouts before a real
    directory of the same name, so that reading the tar back gives the same layer."""
    parts = path.split("/")
    if node.kind == "whiteout":
        parts[-1] = WHITEOUT_PREFIX + parts[-1]
    return (tuple(parts), node.kind != "whiteout")


def write_layer(layer: LayerDir, fileobj: IO[bytes], *, gzip: bool = False) -> None:
    """Write ``layer`` as a tar: sorted by written name, parents first, whiteouts as ``.wh.NAME``, opaque
    dirs followed by ``.wh..wh..opq``, hard-link groups as one file plus links. Owners,
    modes and mtimes are those of the Nodes, so equal layers give equal bytes."""
    if gzip:
        gz = _gzip_module.GzipFile(fileobj=fileobj, mode="wb", mtime=0, compresslevel=6)
        try:
            write_layer(layer, gz)  # type: ignore[arg-type]
        finally:
            gz.close()
        return
    first_of: dict[int, str] = {}
    with tarfile.open(fileobj=fileobj, mode="w|", format=tarfile.PAX_FORMAT,
                      encoding="utf-8", errors="surrogateescape") as tar:
        for path in sorted(layer, key=lambda p: _emit_key(p, layer[p])):
            node = layer[path]
            if not path or path != clean_path(path):
                raise LayerError(f"cannot write path {path!r}: layer paths are relative and normalised",
                                 fix="use fsmodel.norm_path for keys")
            par, _, base = path.rpartition("/")
            ti = tarfile.TarInfo(path)
            ti.uid, ti.gid, ti.mtime = node.uid, node.gid, node.mtime
            ti.uname = ti.gname = ""
            ti.mode = node.mode & 0o7777
            xattrs = [(k, v) for k, v in node.xattrs if k != OPAQUE_XATTR]
            if xattrs:
                ti.pax_headers = {f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape")
                                  for k, v in xattrs}
            data: bytes | None = None
            if base.startswith(WHITEOUT_PREFIX) and node.kind != "whiteout":
                # a real entry named .wh.* reads back as a whiteout: only a plain directory
                # can be kept, implied by its children (as Docker's unpacker creates it)
                if node.kind != "dir" or replace(node.with_opaque(False), mtime=0) != Node.dir(0o755):
                    raise LayerError(f"cannot write {path!r} as a layer tar: a {node.kind} named "
                                     f"{WHITEOUT_PREFIX}* would be read back as a whiteout",
                                     fix="rename it; only the whiteout convention may use that prefix")
                if node.opaque:
                    m = tarfile.TarInfo(f"{path}/{OPAQUE_MARKER}")
                    m.mode, m.uname, m.gname = 0o755, "", ""
                    tar.addfile(m)
                continue
            if node.kind == "whiteout":
                ti = tarfile.TarInfo(f"{par}/{WHITEOUT_PREFIX}{base}" if par else WHITEOUT_PREFIX + base)
                ti.mode, ti.uname, ti.gname = 0o600, "", ""
                tar.addfile(ti)
                continue
            if node.inode is not None and node.inode in first_of:
                ti.type = tarfile.LNKTYPE
                ti.linkname = first_of[node.inode]
            elif node.kind == "file":
                if node.data is None and node.size:
                    raise LayerError(f"cannot write {path!r}: its content is not in memory",
                                     fix="read the layer with with_data=True")
                data = node.data or b""
                ti.size = len(data)
            elif node.kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif node.kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, node.linkname
            elif node.kind in ("char", "block"):
                ti.type = tarfile.CHRTYPE if node.kind == "char" else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = node.rdev
            elif node.kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            if node.inode is not None and node.inode not in first_of:
                first_of[node.inode] = path
            tar.addfile(ti, io.BytesIO(data) if data is not None else None)
            if node.opaque:
                m = tarfile.TarInfo(f"{path}/{OPAQUE_MARKER}")
                m.mode, m.uid, m.gid, m.uname, m.gname = node.mode & 0o777, node.uid, node.gid, "", ""
                tar.addfile(m)


_gzip_module = gzip


def layer_bytes(layer: LayerDir, *, gzip: bool = False) -> bytes:
    """``write_layer`` into bytes (uncompressed unless ``gzip``)."""
    buf = io.BytesIO()
    write_layer(layer, buf, gzip=gzip)
    return buf.getvalue()
