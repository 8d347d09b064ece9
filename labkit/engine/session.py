"""Who is asking: one id per Python process (one Jupyter kernel), used to label and name.

Two students on one Docker daemon get different session ids, so the names labkit gives
their images never collide, and ``labkit clean --session`` can remove one student's objects.
The files a session works on live under one scratch root (``scratch(name)``), removed when
the process (the kernel) ends, so a lesson leaves nothing behind in the temp directory.
"""
from __future__ import annotations

import atexit
import os
import re
import secrets
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

_SAFE = re.compile(r"[^a-z0-9]")


@lru_cache(maxsize=1)
def session_id() -> str:
    """``LABKIT_SESSION`` when set (lower-cased, [a-z0-9] only), else 8 random hex digits."""
    wanted = _SAFE.sub("", os.environ.get("LABKIT_SESSION", "").lower())
    return wanted[:32] or secrets.token_hex(4)


def qualify(tag: str) -> str:
    """A learner's short tag ("app" or "app:v2") as labkit names it: ``labkit-<session>/app:v2``.

    Names that already carry a repository path (contain "/") are kept as given.
    """
    if "/" in tag.split(":", 1)[0]:
        return tag if ":" in tag.rsplit("/", 1)[-1] else f"{tag}:latest"
    name, _, version = tag.partition(":")
    return f"labkit-{session_id()}/{name.lower()}:{version or 'latest'}"


_scratch_root: dict[int, Path] = {}   # pid -> that process's scratch root, made on first use


def _remove_scratch() -> None:
    """At exit: the root of THIS process (a forked child never removes its parent's)."""
    root = _scratch_root.pop(os.getpid(), None)
    if root is not None:
        shutil.rmtree(root, ignore_errors=True)


def scratch(name: str = "work") -> Path:
    """A new empty directory for this session's files (``name`` prefixes it). Every one lives
    under one root in the temp directory that is removed when this process ends."""
    root = _scratch_root.get(os.getpid())
    if root is None or not root.is_dir():
        if root is None:
            atexit.register(_remove_scratch)
        root = _scratch_root[os.getpid()] = Path(tempfile.mkdtemp(prefix=f"labkit-{session_id()}-"))
    return Path(tempfile.mkdtemp(prefix=f"{_SAFE.sub('-', name.lower())}-", dir=root))
