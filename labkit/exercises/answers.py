"""Answers that are never stored in plain text: a salted SHA-256 of the normalised answer.

An exercise keeps ``HashedAnswer(salt, digest)`` where ``digest = sha256(salt + normalize(answer))``;
the learner's answer is normalised and hashed the same way and the digests compared. Answers
that depend on the learner's own image are not stored at all: the check recomputes them from
the learner's state. Authors make a new hashed answer with::

    python -m labkit.exercises.answers "the answer"        # prints a HashedAnswer(...) literal
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sys
from dataclasses import dataclass

_HEX64 = re.compile(r"[0-9a-f]{64}")


def normalize(value: object) -> str:
    """One canonical text per answer: trimmed, lower case, single spaces; numbers without
    ``.0``; a bare 64-hex digest gets its ``sha256:`` prefix."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else f"{value:.6g}"
    text = " ".join(str(value).split()).lower()
    if _HEX64.fullmatch(text):
        text = "sha256:" + text
    try:
        number = float(text.replace(",", "")) if text and text[0] in "+-0123456789." else None
    except ValueError:
        number = None
    if number is not None and not _HEX64.fullmatch(text):
        return normalize(number)
    return text


@dataclass(frozen=True)
class HashedAnswer:
    salt: str
    digest: str              # hex sha256(salt + normalize(answer))

    def matches(self, value: object) -> bool:
        return hmac.compare_digest(hash_answer(value, self.salt), self.digest)


def hash_answer(value: object, salt: str) -> str:
    return hashlib.sha256((salt + normalize(value)).encode("utf-8")).hexdigest()


def make(value: object, salt: str | None = None) -> HashedAnswer:
    """A new hashed answer (random salt unless given) — for exercise authors."""
    salt = salt or secrets.token_hex(8)
    return HashedAnswer(salt, hash_answer(value, salt))


if __name__ == "__main__":  # pragma: no cover - an author's tool
    for arg in sys.argv[1:]:
        print(repr(make(arg)))
