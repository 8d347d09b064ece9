"""Who is asking: one id per Python process (one Jupyter kernel), used to label and name.

Two students on one Docker daemon get different session ids, so the names labkit gives
their images never collide, and ``labkit clean --session`` can remove one student's objects.
"""
from __future__ import annotations

import os
import re
import secrets
from functools import lru_cache

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
