"""Volumes in a container's overlay: what Docker keeps out of the container's layer.

An image's ``Volumes`` are mounted over the container's root when it is created (for every
``RUN`` of a classic build, and for ``docker run``). The daemon first makes each mountpoint
that is missing (with missing parents, ``0755``, root's) in the container's writable layer;
everything written under a volume afterwards lands in the volume, so ``docker diff``,
``docker commit`` and the next build step never see it::

    vols = make_mountpoints(mount, image_config)     # at container creation
    before = dict(mount.upper)
    ...                                              # the container runs
    layer = without_volume_writes(dict(mount.upper), before, vols)
"""
from __future__ import annotations

import os
from typing import Mapping

from ..errors import LabkitError
from .node import LayerDir, resolve_in_scope

__all__ = ["volume_paths", "make_mountpoints", "without_volume_writes"]


def volume_paths(config: Mapping) -> list[str]:
    """The ``Volumes`` of an image config (the whole config or its ``config`` part), sorted."""
    inner = config.get("config") if isinstance(config.get("config"), Mapping) else config
    return sorted((inner or {}).get("Volumes") or {})


def make_mountpoints(mount, config: Mapping) -> list[str]:
    """Make the missing mountpoints of ``config``'s volumes in ``mount`` (symlinks on the way
    are followed inside the root, as the daemon does); returns the resolved relative paths.
    Raises ``LabkitError`` naming the volume when one is relative or cannot be a directory."""
    out: list[str] = []
    for v in volume_paths(config):
        if not v.startswith("/"):
            raise LabkitError(f"VOLUME {v}: a volume must be an absolute path in the container",
                              fix=f"write VOLUME /{v.lstrip('./')}")

        def link_of(q: str) -> str | None:
            try:
                node = mount.stat("/" + q, follow=False)
            except OSError:
                return None
            return node.linkname if node.kind == "symlink" else None

        rel = resolve_in_scope(v, link_of)
        cur = ""
        try:
            for part in [x for x in rel.split("/") if x]:
                cur += "/" + part
                try:
                    if mount.stat(cur).kind != "dir":
                        raise NotADirectoryError(20, os.strerror(20), cur)
                except FileNotFoundError:
                    mount.mkdir(cur, 0o755)
        except OSError as exc:
            raise LabkitError(f"VOLUME {v}: cannot make the mountpoint: {exc.filename}: "
                              f"{os.strerror(exc.errno)}",
                              fix="a volume must be a directory (or missing) in the image") from None
        if rel:
            out.append(rel)
    return out


def without_volume_writes(upper: LayerDir, before: LayerDir, volumes: list[str]) -> LayerDir:
    """``upper`` as the container's layer really holds it: writes under each volume removed,
    the mountpoints as they were made kept, and parent directories that were copied up only
    for writes into a volume dropped as well. ``before`` is the upper right after
    ``make_mountpoints``. Returns ``upper`` (changed in place)."""
    for v in volumes:
        pre = v + "/"
        for k in [k for k in upper if k == v or k.startswith(pre)]:
            del upper[k]
        upper.update((k, n) for k, n in before.items() if k == v or k.startswith(pre))
        parts = v.split("/")
        for i in range(len(parts) - 1, 0, -1):
            a = "/".join(parts[:i])
            if a in upper and a not in before and not any(k.startswith(a + "/") for k in upper):
                del upper[a]
    return upper
