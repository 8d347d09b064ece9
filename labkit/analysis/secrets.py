"""Files in an image's layers that look like secrets: keys, tokens, credential files.

A secret added by one layer and deleted by a later one is still in the image (anyone who
has the image has every layer), so each finding says which layer adds the file and which
layer, if any, deletes it. Only the first ``SCAN_BYTES`` of files up to ``SIZE_CAP`` bytes
are read, and a file with a NUL byte in its first KiB counts as binary and is judged by
its name only. A finding never carries the secret itself: ``detail`` is masked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..formatting import short_instruction

SCAN_BYTES = 8192          # bytes read from the start of a candidate file
SIZE_CAP = 1 << 20         # files larger than this are judged by name only

# file names that hold credentials by convention (basename, or a path suffix with "/")
_NAMES: dict[str, str] = {
    ".env": "dotenv file",
    ".npmrc": "npm credentials file",
    ".netrc": "netrc credentials file",
    ".git-credentials": "git credentials file",
    ".pypirc": "PyPI credentials file",
    ".pgpass": "PostgreSQL password file",
    "id_rsa": "SSH private key file",
    "id_dsa": "SSH private key file",
    "id_ecdsa": "SSH private key file",
    "id_ed25519": "SSH private key file",
    ".docker/config.json": "Docker registry credentials",
    ".aws/credentials": "AWS credentials file",
    ".kube/config": "Kubernetes credentials",
}
_ENV_SAFE = (".example", ".sample", ".template", ".dist")

# (kind, literal hints: the regex runs only when one occurs, pattern)
_PATTERNS: tuple[tuple[str, tuple[bytes, ...], re.Pattern[bytes]], ...] = (
    ("private key", (b"PRIVATE KEY",),
     re.compile(rb"-----BEGIN ((?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY( BLOCK)?-----")),
    ("AWS access key id", (b"AKIA", b"ASIA"), re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", (b"gh", b"github_pat_"),
     re.compile(rb"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("Slack token", (b"xox",), re.compile(rb"\bxox[abposr]-[A-Za-z0-9-]{10,200}")),
    ("npm token", (b"npm_",), re.compile(rb"\bnpm_[A-Za-z0-9]{36}\b")),
    ("Google API key", (b"AIza",), re.compile(rb"\bAIza[0-9A-Za-z_\-]{35}\b")),
    ("registry auth", (b'"auth"',), re.compile(rb"\"auth\"\s*:\s*\"[A-Za-z0-9+/=]{8,}\"")),
    ("npm auth token", (b"_authToken",), re.compile(rb"_authToken\s*=\s*[^\s$][^\s]{7,}")),
)


@dataclass(frozen=True)
class SecretFinding:
    """One suspicious file version: where it is, what it looks like, who adds/deletes it."""

    path: str                        # relative path in the image ("root/.ssh/id_rsa")
    kind: str                        # "private key", "dotenv file", ...
    detail: str                      # masked evidence, never the secret
    added_by: int                    # layer index that adds this version
    removed_by: int | None = None    # layer index that deletes/overwrites it, None if visible
    how: str = ""                    # "deleted", "overwritten", "hidden by opaque directory"

    @property
    def visible(self) -> bool:
        """True when the file is in the final filesystem."""
        return self.removed_by is None

    def story(self, instructions: dict[int, str] | None = None) -> str:
        def name(i: int) -> str:
            text = (instructions or {}).get(i, "")
            return f"layer {i}" + (f" ({short_instruction(text)})" if text else "")
        where = f"added by {name(self.added_by)}"
        if self.removed_by is None:
            return f"/{self.path}: {self.kind} [{self.detail}], {where}, still in the final filesystem"
        return (f"/{self.path}: {self.kind} [{self.detail}], {where}, {self.how or 'deleted'} by "
                f"{name(self.removed_by)}, but still stored in layer {self.added_by}")


def mask(secret: bytes | str) -> str:
    """``AKIAIOSFODNN7EXAMPLE`` -> ``AKIA…(20 chars)``: enough to recognise, never enough to use."""
    s = secret.decode("utf-8", "replace") if isinstance(secret, bytes) else secret
    keep = min(4, len(s) // 4)
    return f"{s[:keep]}…({len(s)} chars)"


def by_name(path: str) -> str | None:
    """The kind of credential file ``path`` is by its name, or None."""
    base = path.rsplit("/", 1)[-1]
    kind = _BY_BASE.get(base)
    if kind:
        return kind
    if base in _SUFFIX_BASES:
        for key, kind in _BY_SUFFIX:
            if path == key or path.endswith("/" + key):
                return kind
    if base.startswith(".env.") and not base.endswith(_ENV_SAFE):
        return "dotenv file"
    return None


_BY_BASE = {k: v for k, v in _NAMES.items() if "/" not in k}
_BY_SUFFIX = tuple((k, v) for k, v in _NAMES.items() if "/" in k)
_SUFFIX_BASES = frozenset(k.rsplit("/", 1)[-1] for k, _ in _BY_SUFFIX)
_NAME_STARTS = tuple(sorted({k.rsplit("/", 1)[-1][:2] for k in _NAMES} | {".e"}))


def maybe_named(path: str) -> bool:
    """A quick filter before ``by_name``: False only when ``by_name(path)`` is None (every
    credential file name starts with one of a few two-letter prefixes)."""
    return path[path.rfind("/") + 1:].startswith(_NAME_STARTS)


def wants_content(path: str, size: int) -> bool:
    """Whether the head of this file should be read (regular file, not too big, not empty)."""
    return 0 < size <= SIZE_CAP


def scan(path: str, head: bytes | None) -> list[tuple[str, str]]:
    """``(kind, masked detail)`` pairs for one file: by name, then by content (if given)."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    if head:
        head = head[:SCAN_BYTES]
        if b"\0" in head[:1024]:
            head = b""          # binary (ELF, images, archives ...): judged by name only
        for kind, hints, pattern in _PATTERNS if head else ():
            if not any(h in head for h in hints):
                continue
            m = pattern.search(head)
            if m and kind not in seen:
                seen.add(kind)
                text = m.group(0)
                detail = (text.decode("ascii", "replace") if kind == "private key" else mask(text))
                found.append((kind, detail))
    named = by_name(path)
    if named and not found:
        found.append((named, "credential file by name" + (f", {len(head)} bytes read" if head else "")))
    elif named:
        found = [(f"{k} in {named}", d) for k, d in found]
    return found
