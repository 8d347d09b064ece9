""".dockerignore matching as Docker does it (moby's patternmatcher; docker-py copies it).

* One pattern a line; ``#`` starts a comment line; blank lines are skipped; each
  pattern is trimmed and cleaned like Go's ``filepath.Clean`` (``./a/../b`` is ``b``,
  a leading ``/`` is dropped); the pattern ``.`` is ignored.
* ``*`` and ``?`` never match ``/``; ``**`` matches any number of directories
  (including none); ``[a-z]`` classes work; ``\\`` escapes the next character.
* A path is excluded when a pattern matches it *or one of its parent directories*
  (``docs`` excludes ``docs/a/b``).
* ``!pattern`` re-includes; the LAST matching pattern decides.

``DockerIgnore.from_text(text).excludes("docs/a.md") -> bool``.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Pattern:
    text: str                 # the cleaned pattern, without "!"
    exclusion: bool           # True for "!pattern" (re-include)
    regex: str

    @property
    def dirs(self) -> tuple[str, ...]:
        return tuple(self.text.split("/"))

    def match(self, path: str) -> bool:
        return re.match(self.regex, path, re.S) is not None

    def __str__(self) -> str:
        return ("!" if self.exclusion else "") + self.text


def _compile(pattern: str) -> str:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(re.escape("\\"))
        elif ch == "[":
            end = pattern.find("]", i + 1 if i < n and pattern[i] in "!^" else i)
            if end < 0:
                out.append(re.escape("["))
            else:
                body = pattern[i:end]
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end + 1
        else:
            out.append(re.escape(ch))
    out.append("$")
    return "".join(out)


def clean_pattern(line: str) -> tuple[str, bool] | None:
    """(cleaned pattern, is exclusion) for one .dockerignore line, None when it is no pattern."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    exclusion = text.startswith("!")
    if exclusion:
        text = text[1:].strip()
    if text:
        text = posixpath.normpath(text)
        if text.startswith("//"):
            text = "/" + text.lstrip("/")
        if len(text) > 1 and text.startswith("/"):
            text = text[1:]
    if text in ("", "."):
        return None
    return text, exclusion


@dataclass(frozen=True)
class DockerIgnore:
    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def from_text(cls, text: str) -> "DockerIgnore":
        pats = []
        for line in text.splitlines():
            got = clean_pattern(line)
            if got is not None:
                pats.append(Pattern(got[0], got[1], _compile(got[0])))
        return cls(tuple(pats))

    @classmethod
    def from_lines(cls, lines: list[str] | tuple[str, ...]) -> "DockerIgnore":
        return cls.from_text("\n".join(lines))

    @classmethod
    def for_context(cls, root: str | Path) -> "DockerIgnore":
        """The .dockerignore at the top of a build context (empty when absent)."""
        path = Path(root) / ".dockerignore"
        return cls.from_text(path.read_text(encoding="utf-8")) if path.is_file() else cls()

    def decisive(self, path: str) -> Pattern | None:
        """The last pattern that matches ``path`` (or a parent of it), or None."""
        path = path.strip("/")
        parent = posixpath.dirname(path)
        parent_dirs = parent.split("/") if parent else []
        last = None
        for pat in self.patterns:
            hit = pat.match(path)
            if not hit and parent and len(pat.dirs) <= len(parent_dirs):
                hit = pat.match("/".join(parent_dirs[:len(pat.dirs)]))
            if hit:
                last = pat
        return last

    def excludes(self, path: str) -> bool:
        """True when Docker leaves ``path`` (relative to the context) out of the context."""
        pat = self.decisive(path)
        return pat is not None and not pat.exclusion

    def may_reinclude_under(self, directory: str) -> bool:
        """True when an exception pattern could re-include something below ``directory``
        (Docker then still walks into the excluded directory)."""
        directory = directory.strip("/")
        return any(p.exclusion and p.text.startswith(directory) for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)
