"""Dockerfiles as the classic builder reads them: stages, instructions, variables.

``parse(text, build_args=...)`` returns a frozen ``Dockerfile``: its global ``ARG``
instructions (``meta_args``) and its ``stages``; each ``Stage`` has a name, a base
(an image or an earlier stage) and its ``Instruction`` values, each with the line it
starts on and the text Docker prints in ``Step n/N : ...``.

Everything follows the Docker 20.10 classic builder (moby + buildkit's Dockerfile
parser), checked against a real daemon (``dockerfile-parse`` 2.0.1 is not used for the
instruction boundaries: it splits at empty continuation lines and drops argument-less
keywords, both of which Docker handles differently):

* a continuation drops only the escape character: ``RUN a && \\`` + ``    b`` is
  ``RUN a &&     b`` (the next line's indent is kept); comment and empty lines inside
  a continuation are skipped;
* ``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR:+word}`` are substituted in FROM (global
  ARGs only), ENV, LABEL, ARG, COPY/ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL — never
  in RUN/CMD/ENTRYPOINT (the shell does that); single quotes stop substitution and
  quotes are removed, as ``shell.Lex.ProcessWord`` does;
* ``ENV A b c`` (old form) is ``ENV A=b c``.

Every problem is a ``DockerfileError`` naming the line and the fix.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Iterator, Mapping

from ..errors import DockerfileError

KEYWORDS = ("FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY",
            "ENTRYPOINT", "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL",
            "HEALTHCHECK", "SHELL")
# builder flags each instruction accepts (classic builder, Docker 20.10)
_FLAGS = {"FROM": ("platform",), "COPY": ("from", "chown", "chmod"), "ADD": ("chown", "chmod"),
          "RUN": ("mount",),              # accepted by the parser, refused when the step runs
          "HEALTHCHECK": ("interval", "timeout", "start-period", "retries")}
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]")
DEFAULT_SHELL = ("/bin/sh", "-c")


@dataclass(frozen=True)
class Instruction:
    """One instruction; ``line``/``end_line`` are 1-based lines of the Dockerfile.

    ``args`` is the text after the keyword and its ``--flags`` (continuations joined the
    way Docker joins them); ``original`` is what Docker prints in ``Step n/N : ...``.
    ``words`` holds the exec-form list (RUN/CMD/ENTRYPOINT/SHELL/VOLUME written as JSON)
    or the raw COPY/ADD sources + destination or EXPOSE ports; ``pairs`` holds raw
    ``(key, value)`` of ENV/LABEL/ARG (value ``None`` for ``ARG NAME`` without default).
    """

    keyword: str
    args: str
    line: int
    end_line: int
    original: str
    flags: tuple[tuple[str, str], ...] = ()
    json: bool = False
    words: tuple[str, ...] = ()
    pairs: tuple[tuple[str, str | None], ...] = ()

    @property
    def value(self) -> str:
        return self.args

    def flag(self, name: str, default: str | None = None) -> str | None:
        for key, val in self.flags:
            if key == name:
                return val
        return default

    def __str__(self) -> str:
        return self.original


@dataclass(frozen=True)
class Stage:
    """``FROM base [AS name]`` and the instructions up to the next FROM."""

    index: int
    name: str | None                  # lower-cased, as Docker keeps it
    base: str                         # image reference after substitution, or the stage name
    instructions: tuple[Instruction, ...]
    from_instruction: Instruction
    base_stage: int | None = None     # index of the earlier stage it builds FROM, if any
    platform: str | None = None

    @property
    def line(self) -> int:
        return self.from_instruction.line

    @property
    def label(self) -> str:
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True)
class Dockerfile:
    stages: tuple[Stage, ...]
    meta_args: tuple[Instruction, ...] = ()        # ARGs before the first FROM
    meta_values: tuple[tuple[str, str | None], ...] = ()  # their values after --build-arg
    escape: str = "\\"
    build_args: tuple[tuple[str, str], ...] = ()

    def stage(self, ref: str | int) -> Stage:
        """A stage by name (case-insensitive) or index; DockerfileError when absent."""
        found = find_stage(self.stages, str(ref))
        if found is None:
            names = ", ".join(s.label for s in self.stages)
            raise DockerfileError(f"no build stage named {ref!r}",
                                  fix=f"use one of the stages defined: {names}")
        return self.stages[found]

    def steps(self) -> Iterator[tuple[int | None, Instruction]]:
        """Every instruction in Docker's ``Step n/N`` order: ``(stage index or None, instruction)``."""
        for ins in self.meta_args:
            yield None, ins
        for st in self.stages:
            yield st.index, st.from_instruction
            for ins in st.instructions:
                yield st.index, ins


def find_stage(stages: tuple[Stage, ...] | list[Stage], ref: str) -> int | None:
    """Index of the stage ``ref`` names (a name, case-insensitively, or an index)."""
    low = ref.lower()
    for st in stages:
        if st.name is not None and st.name == low:
            return st.index
    if ref.isdigit() and int(ref) < len(stages):
        return int(ref)
    return None


# ---------------------------------------------------------------------------
# variable substitution (shell.Lex.ProcessWord of the classic builder)

class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str, line: int | None) -> None:
        self.s, self.i, self.env, self.esc, self.line = text, 0, env, escape, line

    def _err(self, msg: str) -> DockerfileError:
        return DockerfileError(msg, line=self.line,
                               fix="close every quote and ${...} in this instruction")

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """Process the text; with ``split`` whitespace outside quotes separates words."""
        out: list[str] = []
        cur: list[str] = []
        started = False
        while self.i < len(self.s):
            ch = self.peek()
            if split and ch in " \t\r\n":
                self.next()
                if started:
                    out.append("".join(cur))
                    cur, started = [], False
                continue
            started = True
            if ch == "'":
                self.next()
                cur.append(self._single())
            elif ch == '"':
                self.next()
                cur.append(self._double())
            elif ch == "$":
                self.next()
                cur.append(self._dollar())
            elif ch == self.esc:
                self.next()
                if self.i < len(self.s):
                    cur.append(self.next())
            else:
                cur.append(self.next())
        if started or not split:
            out.append("".join(cur))
        return out

    def _single(self) -> str:
        end = self.s.find("'", self.i)
        if end < 0:
            raise self._err("unexpected end of statement while looking for matching single-quote")
        text, self.i = self.s[self.i:end], end + 1
        return text

    def _double(self) -> str:
        cur: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise self._err("unexpected end of statement while looking for matching double-quote")
            ch = self.peek()
            if ch == '"':
                self.next()
                return "".join(cur)
            if ch == "$":
                self.next()
                cur.append(self._dollar())
                continue
            self.next()
            if ch == self.esc:
                nxt = self.peek()
                if nxt == "":
                    continue
                if nxt in ('"', "$", self.esc):
                    ch = self.next()
            cur.append(ch)

    def _name(self) -> str:
        start = self.i
        while self.i < len(self.s) and _NAME_CHARS.match(self.s[self.i]):
            self.i += 1
        return self.s[start:self.i]

    def _until_brace(self) -> str:
        cur: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise self._err("missing '}' in variable substitution")
            ch = self.peek()
            if ch == "}":
                self.next()
                return "".join(cur)
            if ch == "$":
                self.next()
                cur.append(self._dollar())
            elif ch == "'":
                self.next()
                cur.append(self._single())
            elif ch == '"':
                self.next()
                cur.append(self._double())
            elif ch == self.esc:
                self.next()
                if self.i < len(self.s):
                    cur.append(self.next())
            else:
                cur.append(self.next())

    def _dollar(self) -> str:
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            return self.env.get(name, "")
        self.next()
        name = self._name()
        ch = self.next()
        if ch == "":
            raise self._err(f"missing '}}' in variable substitution of ${{{name}")
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in "+-" or not ch:
            raise self._err(f"unsupported modifier ({ch!r}) in substitution of ${{{name}...}}")
        word = self._until_brace()
        value = self.env.get(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set else word  # type: ignore[return-value]
        return word if is_set else ""


def substitute(text: str, env: Mapping[str, str], *, escape: str = "\\",
               line: int | None = None) -> str:
    """One word after quote removal and ``$VAR`` substitution, like ProcessWord."""
    return _Lexer(text, env, escape, line).words(split=False)[0]


def substitute_words(text: str, env: Mapping[str, str], *, escape: str = "\\",
                     line: int | None = None) -> list[str]:
    """Whitespace-separated words after substitution, like ProcessWords."""
    return _Lexer(text, env, escape, line).words(split=True)


# ---------------------------------------------------------------------------
# parsing

_DIRECTIVE = re.compile(r"^#\s*(escape|syntax|check)\s*=\s*(.+?)\s*$", re.I)


def _logical_lines(text: str) -> tuple[str, list[tuple[int, int, str]]]:
    """(escape char, [(first line, last line, joined text)]), joined as Docker joins them.

    This follows buildkit's Dockerfile parser rather than ``dockerfile-parse`` 2.0.1,
    which ends an instruction at an empty continuation line (Docker skips it, with a
    warning) and silently drops a keyword written without arguments (Docker refuses it).
    """
    lines = text.lstrip("\ufeff").split("\n")
    escape = "\\"
    for number, raw in enumerate(lines, 1):  # parser directives: only at the very top
        m = _DIRECTIVE.match(raw.strip())
        if not m:
            break
        if m.group(1).lower() == "escape":
            if m.group(2) not in ("\\", "`"):
                raise DockerfileError(f"invalid escape token {m.group(2)!r} does not match "
                                      "` or \\", line=number,
                                      fix="write # escape=` or # escape=\\")
            escape = m.group(2)
    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    out: list[tuple[int, int, str]] = []
    k = 0
    while k < len(lines):
        raw = lines[k].rstrip("\r").lstrip(" \t")
        k += 1
        if not raw or raw.startswith("#"):
            continue
        start = k
        joined, ended = raw, not cont.search(raw)
        if not ended:
            joined = cont.sub("", raw)
        while not ended and k < len(lines):
            nxt = lines[k].rstrip("\r")
            k += 1
            if nxt.lstrip(" \t").startswith("#") or not nxt.strip(" \t"):
                continue
            if cont.search(nxt):
                joined += cont.sub("", nxt)
            else:
                joined += nxt
                ended = True
        if joined.strip():
            out.append((start, k, joined.strip()))
    return escape, out


def _split_flags(rest: str, line: int, keyword: str) -> tuple[tuple[tuple[str, str], ...], str]:
    flags: list[tuple[str, str]] = []
    allowed = _FLAGS.get(keyword, ())
    while True:
        m = re.match(r"^(\S+)(\s+|$)", rest)
        if not m or not m.group(1).startswith("--"):
            break
        word = m.group(1)
        rest = rest[m.end():]
        if word == "--":
            break
        name, _, val = word[2:].partition("=")
        if name not in allowed:
            hint = f"{keyword} accepts " + ", ".join("--" + a for a in allowed) if allowed \
                else f"{keyword} takes no --flags in the classic builder"
            raise DockerfileError(f"Unknown flag: {name}", line=line, fix=hint)
        flags.append((name, val))
    return tuple(flags), rest.strip()


def _maybe_json(args: str) -> tuple[bool, tuple[str, ...]]:
    if args.startswith("["):
        try:
            value = json.loads(args)
        except ValueError:
            return False, ()
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return True, tuple(value)
    return False, ()


def _raw_words(args: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes, keeping quotes and escapes (parseWords)."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(args):
        ch = args[i]
        if not quote and ch in " \t":
            if cur:
                words.append("".join(cur))
                cur = []
            i += 1
            continue
        if ch == escape and i + 1 < len(args):
            cur.append(ch + args[i + 1])
            i += 2
            continue
        if quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
        cur.append(ch)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def _name_values(keyword: str, args: str, line: int, escape: str) -> tuple[tuple[str, str], ...]:
    words = _raw_words(args, escape)
    if not words:
        raise DockerfileError(f"{keyword} requires at least one argument", line=line,
                              fix=f"write {keyword} KEY=value")
    if "=" not in words[0]:  # old form: KEY value with spaces
        parts = re.split(r"[ \t]+", args, maxsplit=1)
        if len(parts) < 2:
            raise DockerfileError(f"{keyword} must have two arguments", line=line,
                                  fix=f"write {keyword} KEY=value (or {keyword} KEY value)")
        return ((parts[0], parts[1]),)
    pairs = []
    for w in words:
        if "=" not in w:
            raise DockerfileError(f"syntax error - can't find = in {w!r}. Must be of the form: "
                                  "name=value", line=line, fix=f"write {keyword} KEY=value ...")
        key, _, val = w.partition("=")
        pairs.append((key, val))
    return tuple(pairs)


def _instruction(first: int, last: int, text: str, escape: str) -> Instruction:
    m = re.match(r"^(\S+)(?:\s+(.*))?$", text, re.S)
    assert m is not None
    keyword = m.group(1).upper()
    rest = (m.group(2) or "").strip()
    if keyword not in KEYWORDS:
        raise DockerfileError(f"unknown instruction: {keyword}", line=first,
                              fix="check the spelling; instructions are " + ", ".join(KEYWORDS))
    flags, args = _split_flags(rest, first, keyword)
    if not args and keyword not in ("CMD", "ENTRYPOINT"):
        raise DockerfileError(f"{keyword} requires at least one argument", line=first,
                              fix=f"give {keyword} its argument(s) on the same line "
                                  "(or end the line with the escape character to continue it)")
    kw: dict = {}
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME"):
        is_json, words = _maybe_json(args)
        if keyword == "SHELL" and not is_json:
            raise DockerfileError("SHELL requires the arguments to be in JSON form", line=first,
                                  fix='write SHELL ["/bin/sh", "-c"]')
        kw = {"json": is_json, "words": words}
    elif keyword in ("COPY", "ADD"):
        is_json, words = _maybe_json(args)
        if not is_json:
            words = tuple(args.split())
        if len(words) < 2:
            raise DockerfileError(f"{keyword} requires at least two arguments, but only one was "
                                  "provided. Destination could not be determined.", line=first,
                                  fix=f"write {keyword} <source>... <destination>")
        kw = {"json": is_json, "words": words}
    elif keyword == "EXPOSE":
        kw = {"words": tuple(args.split())}
    elif keyword in ("ENV", "LABEL"):
        kw = {"pairs": _name_values(keyword, args, first, escape)}
    elif keyword == "ARG":
        pairs = []
        for w in _raw_words(args, escape):
            key, eq, val = w.partition("=")
            pairs.append((key, val if eq else None))
        kw = {"pairs": tuple(pairs)}
    ins = Instruction(keyword=keyword, args=args, line=first, end_line=last, original=text,
                      flags=flags, **kw)
    _check_quotes(ins, escape)
    return ins


_SUBSTITUTED = ("ENV", "LABEL", "ARG", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "VOLUME",
                "STOPSIGNAL", "FROM")


def _check_quotes(ins: Instruction, escape: str) -> None:
    """Unbalanced quotes or ${...} fail at parse time, naming the line (not at build time)."""
    if ins.keyword not in _SUBSTITUTED:
        return
    pieces = [v for pair in ins.pairs for v in pair if v is not None] + list(ins.words)
    if not pieces:
        pieces = [ins.args]
    for piece in pieces:
        substitute(piece, {}, escape=escape, line=ins.line)


def parse(text: str, *, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """Parse a Dockerfile; ``build_args`` are ``--build-arg`` values (used for global ARGs in FROM)."""
    build_args = dict(build_args or {})
    escape, logical = _logical_lines(text)
    meta: list[Instruction] = []
    meta_env: dict[str, str | None] = {}
    stages: list[Stage] = []
    current: dict | None = None

    def close() -> None:
        if current is not None:
            stages.append(Stage(instructions=tuple(current.pop("instructions")), **current))

    for first, last, joined in logical:
        ins = _instruction(first, last, joined, escape)
        if ins.keyword == "FROM":
            close()
            current = _from(ins, len(stages), stages, meta_env, escape)
            current["instructions"] = []
            continue
        if current is None:
            if ins.keyword != "ARG":
                raise DockerfileError(f"{ins.keyword} before the first FROM: only ARG may come "
                                      "before FROM", line=first,
                                      fix="start the Dockerfile with FROM <image>")
            for key, val in ins.pairs:
                env = {k: v for k, v in meta_env.items() if v is not None}
                value = substitute(val, env, escape=escape, line=first) if val is not None else None
                meta_env[key] = build_args.get(key, value)
            meta.append(ins)
            continue
        current["instructions"].append(ins)
    close()
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM instruction",
                              fix="start the Dockerfile with FROM <image>")
    return Dockerfile(stages=tuple(stages), meta_args=tuple(meta),
                      meta_values=tuple(meta_env.items()), escape=escape,
                      build_args=tuple(sorted(build_args.items())))


def _from(ins: Instruction, index: int, stages: list[Stage], meta_env: Mapping[str, str | None],
          escape: str) -> dict:
    words = ins.args.split()
    if len(words) not in (1, 3) or (len(words) == 3 and words[1].lower() != "as"):
        raise DockerfileError("FROM requires either one or three arguments", line=ins.line,
                              fix="write FROM <image> or FROM <image> AS <name>")
    env = {k: v for k, v in meta_env.items() if v is not None}
    base = substitute(words[0], env, escape=escape, line=ins.line)
    if not base:
        raise DockerfileError(f"FROM {words[0]}: the base image name is empty after substitution",
                              line=ins.line, fix="give the ARG it uses a default or pass --build-arg")
    name = None
    if len(words) == 3:
        name = words[2].lower()
        if not _STAGE_NAME.match(name):
            raise DockerfileError(f"invalid name for build stage: {words[2]!r}", line=ins.line,
                                  fix="stage names start with a letter: letters, digits, - _ .")
        if any(s.name == name for s in stages):
            raise DockerfileError(f"duplicate name for build stage: {name!r}", line=ins.line,
                                  fix="give every stage its own name")
    base_stage = None
    for st in stages:
        if st.name is not None and st.name == base.lower():
            base_stage = st.index
    return {"index": index, "name": name, "base": base, "from_instruction": ins,
            "base_stage": base_stage, "platform": ins.flag("platform")}


parse_dockerfile = parse  # the public name (labkit.parse would say too little)
