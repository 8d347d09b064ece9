"""Reading a script: the lexer, the syntax tree and the parser of the shell's grammar.

``_parse(script)`` gives the list of and-or lists of one script (``_SyntaxError`` carries
the lists read before the bad line, which ash runs before it reports the error). Constructs
the simulator refuses (``&``, ``function``, ``select``, ``&>``, ``<&``, here-documents it
cannot read faithfully) raise ``UnsupportedOperation`` here, before anything runs.
"""
from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass

from .base import _unsupported


class _HereDoc:
    """A here-document's body, filled in when the lexer reaches the line after ``<<``.
    A quoted delimiter (``<<'EOF'``) keeps the body literal; otherwise ``$``, backquotes and
    ``\\`` before ``$ ` \\`` work as inside double quotes (``"`` stays a plain character)."""

    def __init__(self, delim: str, quoted: bool, strip: bool) -> None:
        self.delim, self.quoted, self.strip = delim, quoted, strip
        self.parts: tuple = ()

    def fill(self, body: str) -> None:
        if self.quoted:
            self.parts = (_Lit(body, True),)
            return
        lx = _Lexer(body)
        parts: list = []
        buf: list[str] = []
        s = lx.s
        while lx.i < len(s):
            c = s[lx.i]
            if c == "\\" and lx.i + 1 < len(s) and s[lx.i + 1] in "$`\\\n":
                if s[lx.i + 1] != "\n":
                    buf.append(s[lx.i + 1])
                lx.i += 2
            elif c in "$`":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(lx._dollar(True) if c == "$" else lx._backquote(True))
            else:
                buf.append(c)
                lx.i += 1
        if buf:
            parts.append(_Lit("".join(buf), True))
        self.parts = tuple(parts)


@dataclass(frozen=True)
class _Lit:
    text: str
    quoted: bool


@dataclass(frozen=True)
class _Var:
    name: str
    quoted: bool
    op: str = ""                       # "", ":-", "-", ":+", "+"
    arg: tuple = ()                    # parts of the word after op


@dataclass(frozen=True)
class _Cmd:
    """``$(script)`` or a backquoted script: replaced by its output."""
    script: str
    quoted: bool


@dataclass(frozen=True)
class _Arith:
    """``$((expression))``: integer arithmetic."""
    expr: str
    quoted: bool


@dataclass(frozen=True)
class _Word:
    parts: tuple
    raw: str

    def is_quoted(self) -> bool:
        return any(p.quoted for p in self.parts)


@dataclass(frozen=True)
class _Redir:
    fd: int
    op: str                            # ">", ">>", "<", ">&"
    target: _Word


@dataclass(frozen=True)
class _Simple:
    assigns: tuple[tuple[str, _Word], ...]
    words: tuple[_Word, ...]
    redirs: tuple[_Redir, ...]
    negate: bool = False
    line: int = 0                      # 0-based line in the script (ash's "line N:")


@dataclass(frozen=True)
class _AndOr:
    first: object                            # _Simple, _If, _For or _While
    rest: tuple[tuple[str, object], ...]     # ("&&"|"||", command)


class _SyntaxError(Exception):
    pass


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


class _Lexer:
    """Turns a script into words and operators, keeping which parts were quoted."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.pending: list[_HereDoc] = []

    def tokens(self) -> list:
        out: list = []
        self.lines: list[int] = []
        s = self.s
        begin = 0
        while self.i < len(s):
            while len(self.lines) < len(out):    # each token's line is where it began
                self.lines.append(s.count("\n", 0, begin))
            begin = self.i
            c = s[self.i]
            if c in " \t\r" or s.startswith("\\\n", self.i):     # blank, line continuation
                self.i += 2 if c == "\\" else 1
            elif c == "\n":
                out.append("\n")
                self.i += 1
                self._read_heredocs()
            elif c == "#":
                while self.i < len(s) and s[self.i] != "\n":
                    self.i += 1
            elif s.startswith("&&", self.i) or s.startswith("||", self.i):
                out.append(s[self.i:self.i + 2])
                self.i += 2
            elif c == ";":
                op = ";;" if s.startswith(";;", self.i) else ";"
                out.append(op)
                self.i += len(op)
            elif c == "|":
                out.append("|")
                self.i += 1
            elif c == "&":
                if s.startswith("&>", self.i):
                    raise _unsupported("the '&>' redirection (not POSIX sh)")
                raise _unsupported("background jobs ('&')")
            elif c in "()":
                out.append(c)
                self.i += 1
            elif c in "<>" or (c.isdigit() and self._redir_after_digit()):
                out.append(self._redir())
            else:
                out.append(self._word())
        while len(self.lines) < len(out):
            self.lines.append(s.count("\n", 0, begin))
        self._read_heredocs()              # a here-document may run to the end of the script
        return out

    def _read_heredocs(self) -> None:
        """Bodies of the here-documents whose ``<<`` was on the line just ended."""
        s = self.s
        for doc in self.pending:
            lines: list[str] = []
            while self.i < len(s):
                end = s.find("\n", self.i)
                end = len(s) if end < 0 else end
                line = s[self.i:end]
                newline = "\n" if end < len(s) else ""
                self.i = end + 1
                if doc.strip:
                    line = line.lstrip("\t")
                if line == doc.delim:
                    break
                lines.append(line + newline)
            else:
                self.i = len(s)
            doc.fill("".join(lines))
        self.pending = []

    def _redir_after_digit(self) -> bool:
        j = self.i
        while j < len(self.s) and self.s[j].isdigit():
            j += 1
        return j < len(self.s) and self.s[j] in "<>"

    def _redir(self) -> tuple:
        s = self.s
        j = self.i
        while s[j].isdigit():
            j += 1
        fd_text = s[self.i:j]
        if s.startswith("<<", j):
            strip = s.startswith("<<-", j)
            self.i = j + (3 if strip else 2)
            while self.i < len(s) and s[self.i] in " \t":
                self.i += 1
            if self.i >= len(s) or s[self.i] in ";&|<>()\n":
                raise _SyntaxError("syntax error: unexpected redirection")
            word = self._word()
            if any(not isinstance(p, _Lit) for p in word.parts):
                raise _unsupported("a here-document delimiter with $ or ` in it")
            doc = _HereDoc("".join(p.text for p in word.parts), word.is_quoted(), strip)
            self.pending.append(doc)
            return ("redir", int(fd_text) if fd_text else 0, "<<", doc)
        for op in (">>", ">&", ">|", ">", "<&", "<"):
            if s.startswith(op, j):
                break
        if op == "<&":
            raise _unsupported("the '<&' redirection")
        self.i = j + len(op)
        while self.i < len(s) and s[self.i] in " \t":
            self.i += 1
        if self.i >= len(s) or s[self.i] in ";&|<>\n":
            raise _SyntaxError("syntax error: unexpected redirection")
        target = self._word()
        fd = int(fd_text) if fd_text else (0 if op == "<" else 1)
        return ("redir", fd, ">" if op == ">|" else op, target)

    def _word(self) -> _Word:
        s = self.s
        start = self.i
        parts: list = []
        buf: list[str] = []

        def flush(quoted: bool) -> None:
            if buf:
                parts.append(_Lit("".join(buf), quoted))
                buf.clear()

        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r\n;&|()<>":
                break
            if c == "\\":
                flush(False)
                if self.i + 1 < len(s) and s[self.i + 1] != "\n":     # \<newline> joins lines
                    parts.append(_Lit(s[self.i + 1], True))
                self.i += 2
            elif c == "'":
                flush(False)
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise _SyntaxError("syntax error: unterminated quoted string")
                parts.append(_Lit(s[self.i + 1:end], True))
                self.i = end + 1
            elif c == '"':
                flush(False)
                self.i += 1
                parts.extend(self._double())
            elif c == "$":
                flush(False)
                parts.append(self._dollar(False))
            elif c == "`":
                flush(False)
                parts.append(self._backquote(False))
            else:
                buf.append(c)
                self.i += 1
        flush(False)
        return _Word(tuple(parts), s[start:self.i])

    def _double(self) -> list:
        s = self.s
        parts: list = []
        buf: list[str] = []
        while True:
            if self.i >= len(s):
                raise _SyntaxError("syntax error: unterminated quoted string")
            c = s[self.i]
            if c == '"':
                self.i += 1
                break
            if c == "\\" and self.i + 1 < len(s) and s[self.i + 1] in '$`"\\\n':
                if s[self.i + 1] != "\n":
                    buf.append(s[self.i + 1])
                self.i += 2
            elif c == "$":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(self._dollar(True))
            elif c == "`":
                if buf:
                    parts.append(_Lit("".join(buf), True))
                    buf = []
                parts.append(self._backquote(True))
            else:
                buf.append(c)
                self.i += 1
        if buf or not parts:
            parts.append(_Lit("".join(buf), True))
        return parts

    def _dollar(self, quoted: bool):
        s = self.s
        j = self.i + 1
        if s.startswith("((", j):
            end = self._paren_end(j + 1)
            if end + 1 >= len(s) or s[end + 1] != ")":
                raise _unsupported("'$((' that is not an arithmetic expansion")
            self.i = end + 2
            return _Arith(s[j + 2:end], quoted)
        if j < len(s) and s[j] == "(":
            end = self._paren_end(j)
            self.i = end + 1
            return _Cmd(s[j + 1:end], quoted)
        if j < len(s) and s[j] == "{":
            end = self._brace_end(j)
            body = s[j + 1:end]
            self.i = end + 1
            if body.startswith("#") and len(body) > 1:          # ${#NAME}: its length
                if not (_NAME_RE.fullmatch(body[1:]) or re.fullmatch(r"[0-9?#@*$!-]", body[1:])):
                    raise _SyntaxError(f"syntax error: bad substitution '${{{body}}}'")
                return _Var(body[1:], quoted, "len")
            m = _NAME_RE.match(body) or re.match(r"[0-9?#@*$!-]", body)
            if not m:
                raise _SyntaxError(f"syntax error: bad substitution '${{{body}}}'")
            name, rest = m.group(0), body[m.end():]
            if not rest:
                return _Var(name, quoted)
            for op in (":-", ":+", ":=", ":?", "##", "%%", "-", "+", "=", "?", "#", "%"):
                if rest.startswith(op):
                    arg = _Lexer(rest[len(op):])
                    pattern = op[0] in "#%"        # a pattern: quoting inside it counts
                    return _Var(name, quoted, op, tuple(arg._inner_word(quoted and not pattern)))
            raise _unsupported(f"the parameter expansion '${{{body}}}'")
        m = _NAME_RE.match(s, j)
        if m:
            self.i = m.end()
            return _Var(m.group(0), quoted)
        if j < len(s) and s[j] in "0123456789?#@*$!-":
            self.i = j + 1
            return _Var(s[j], quoted)
        self.i = j
        return _Lit("$", quoted)

    def _paren_end(self, j: int) -> int:
        """Index of the ``)`` matching the ``(`` at ``j`` (quotes and escapes skipped; the
        ``)`` after a ``case`` pattern does not count)."""
        s, depth, k = self.s, 0, j
        cases: list[int] = []
        while k < len(s):
            c = s[k]
            if c in "ce" and _command_position(s[j + 1:k]):
                m = re.match(r"(case|esac)(?=[ \t\n;&|()]|$)", s[k:])
                if m and m.group(1) == "case":
                    cases.append(depth)
                elif m and cases:
                    cases.pop()
                if m:
                    k += 4
                    continue
            if c == ")" and cases and depth == cases[-1]:
                k += 1
                continue
            if c == "\\":
                k += 2
                continue
            if c == "'":
                end = s.find("'", k + 1)
                k = (len(s) if end < 0 else end) + 1
                continue
            if c == '"':
                k += 1
                while k < len(s) and s[k] != '"':
                    k += 2 if s[k] == "\\" else 1
                k += 1
                continue
            if c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
                if depth == 0:
                    return k
            k += 1
        raise _SyntaxError("syntax error: unterminated $(...)")

    def _backquote(self, quoted: bool) -> _Cmd:
        s = self.s
        out: list[str] = []
        k = self.i + 1
        while k < len(s) and s[k] != "`":
            if s[k] == "\\" and k + 1 < len(s) and s[k + 1] in "`$\\":
                out.append(s[k + 1])
                k += 2
                continue
            out.append(s[k])
            k += 1
        if k >= len(s):
            raise _SyntaxError("syntax error: unterminated quoted string")
        self.i = k + 1
        return _Cmd("".join(out), quoted)

    def _brace_end(self, j: int) -> int:
        depth = 0
        for k in range(j, len(self.s)):
            if self.s[k] == "{":
                depth += 1
            elif self.s[k] == "}":
                depth -= 1
                if depth == 0:
                    return k
        raise _SyntaxError("syntax error: missing '}'")

    def _inner_word(self, quoted: bool) -> list:
        """The word inside ``${X:-word}``: expansions allowed, quoting as around it."""
        parts: list = []
        buf: list[str] = []
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c == "$":
                if buf:
                    parts.append(_Lit("".join(buf), quoted))
                    buf = []
                parts.append(self._dollar(quoted))
            elif c == "'" and not quoted:
                end = s.find("'", self.i + 1)
                end = len(s) if end < 0 else end
                parts.append(_Lit(s[self.i + 1:end], True))
                self.i = end + 1
            elif c == '"':
                self.i += 1
                if not quoted:                 # "..." inside ${V%...}: literal, expansions work
                    if buf:
                        parts.append(_Lit("".join(buf), quoted))
                        buf = []
                    parts.extend(self._double())
            elif c == "\\" and not quoted and self.i + 1 < len(s):
                if buf:
                    parts.append(_Lit("".join(buf), quoted))
                    buf = []
                parts.append(_Lit(s[self.i + 1], True))
                self.i += 2
            else:
                buf.append(c)
                self.i += 1
        if buf:
            parts.append(_Lit("".join(buf), quoted))
        return parts


def _token_starts(lexer: _Lexer, toks: list) -> list[int]:
    """Line of each token (the lexer records the line where each token started)."""
    lines = list(lexer.lines)
    while len(lines) < len(toks):
        lines.append(lexer.s.count("\n"))
    return lines


@dataclass(frozen=True)
class _If:
    branches: tuple[tuple[tuple, tuple], ...]     # (condition list, body list), if + elifs
    orelse: tuple | None
    negate: bool = False


@dataclass(frozen=True)
class _For:
    name: str
    words: tuple[_Word, ...] | None               # None: "$@"
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _While:
    cond: tuple
    body: tuple
    until: bool = False
    negate: bool = False


@dataclass(frozen=True)
class _Pipeline:
    """``a | b | c``: each element in a subshell, stdout feeding the next one's stdin."""
    cmds: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Group:
    """``{ list; }``: runs in the current shell."""
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Subshell:
    """``( list )``: runs in a subshell environment."""
    body: tuple
    negate: bool = False


@dataclass(frozen=True)
class _Case:
    word: _Word
    items: tuple[tuple[tuple[_Word, ...], tuple], ...]    # (patterns, body)
    negate: bool = False


@dataclass(frozen=True)
class _FuncDef:
    name: str
    body: object
    negate: bool = False


@dataclass(frozen=True)
class _Redirected:
    """A compound command with redirections: ``while ...; done < file``, ``{ ...; } > f``."""
    cmd: object
    redirs: tuple
    negate: bool = False


_COMPOUND_END = {"then", "elif", "else", "fi", "do", "done", "}", "esac"}
_NOT_MODELLED = {"function", "select"}
_OPENERS = {"if", "for", "while", "until", "case", "{"}


def _is_word(t: object, text: str) -> bool:
    return isinstance(t, _Word) and t.raw == text and not t.is_quoted()


def _command_position(before: str) -> bool:
    """Does a word after ``before`` start a command (so ``case``/``esac`` are keywords)?"""
    rest = before.rstrip(" \t")
    if rest[-1:] in ("", ";", "\n", "&", "|", "(", ")"):
        return True
    m = re.search(r"(?:^|[\s;&|()])(then|do|else|elif|if|while|until|\{|!)$", rest)
    return m is not None


def _check_substitutions(word) -> None:
    """ash parses ``$(...)`` and backquotes with the command around them: a syntax error
    inside one is found before anything on that line runs."""
    for p in getattr(word, "parts", ()):
        if isinstance(p, _Cmd):
            _parse_cached(p.script)
        elif isinstance(p, _Var):
            for q in p.arg:
                _check_substitutions(_Word((q,), ""))


@functools.lru_cache(maxsize=256)
def _parse_cached(script: str) -> tuple:
    return tuple(_parse(script))


def _parse(script: str) -> list:
    """Tokens -> lists of and-or items; a command is a _Simple or a compound (_If/_For/_While)."""
    lexer = _Lexer(script)
    toks = lexer.tokens()
    starts = _token_starts(lexer, toks)
    i = 0

    def peek():
        return toks[i] if i < len(toks) else None

    def unexpected(t) -> _SyntaxError:
        shown = "end of file" if t is None else (t.raw if isinstance(t, _Word) else
                                                 t if isinstance(t, str) else "redirection")
        return _SyntaxError(f'syntax error: unexpected "{shown}"' if t is not None
                            else "syntax error: unexpected end of file")

    def eof(expecting: str) -> _SyntaxError:
        return _SyntaxError(f'syntax error: unexpected end of file (expecting "{expecting}")')

    def expect(word: str) -> None:
        nonlocal i
        t = peek()
        if t is None:
            raise eof(word)
        if not _is_word(t, word):
            raise unexpected(t)
        i += 1

    def skip_newlines() -> None:
        nonlocal i
        while peek() == "\n":
            i += 1

    def skip_separators() -> None:
        """One optional ';', then newlines (a ';' must end a command: '\n;' is an error)."""
        nonlocal i
        if peek() == ";":
            i += 1
        skip_newlines()

    def compound_list(stop: set[str], expecting: str, *, empty_ok: bool = False) -> tuple:
        nonlocal i
        items = []
        while True:
            skip_newlines()
            t = peek()
            if t is None:
                raise eof(expecting)
            if isinstance(t, _Word) and not t.is_quoted() and t.raw in stop or t in stop:
                break
            items.append(and_or())
            if peek() == ";":
                i += 1
        if not items and not empty_ok:
            raise unexpected(peek())
        return tuple(items)

    def simple() -> _Simple:
        nonlocal i
        line = starts[i] if i < len(starts) else 0
        assigns: list = []
        words: list = []
        redirs: list = []
        while i < len(toks) and toks[i] not in (";", "\n", "&&", "||", "|", ";;", ")", "("):
            t = toks[i]
            _check_substitutions(t[3] if isinstance(t, tuple) else t)
            if isinstance(t, tuple):
                i += 1
                redirs.append(_Redir(t[1], t[2], t[3]))
                continue
            if not words and not t.is_quoted() and t.raw in _COMPOUND_END | _OPENERS:
                if assigns or redirs:
                    raise unexpected(t)
                break
            i += 1
            if not words and _ASSIGN_RE.match(t.raw) and t.parts and not t.parts[0].quoted \
                    and isinstance(t.parts[0], _Lit):
                name, _, first = t.parts[0].text.partition("=")
                rest = ((_Lit(first, False),) if first else ()) + t.parts[1:]
                assigns.append((name, _Word(rest, t.raw[len(name) + 1:])))
                continue
            words.append(t)
        if not (words or assigns or redirs):
            raise unexpected(peek())
        if peek() == "(" and not (len(words) == 1 and not assigns and not redirs):
            raise unexpected("(")
        return _Simple(tuple(assigns), tuple(words), tuple(redirs), False, line)

    def pipeline():
        nonlocal i
        negate = False
        if _is_word(peek(), "!"):
            negate = True
            i += 1
            if _is_word(peek(), "!"):              # ash takes one '!' only
                raise unexpected(peek())
        cmds = [command(negate)]
        while peek() == "|":
            i += 1
            while peek() == "\n":
                i += 1
            if _is_word(peek(), "!"):
                raise unexpected(peek())
            cmds.append(command(False))
        if len(cmds) == 1:
            return cmds[0]
        return _Pipeline((dataclasses.replace(cmds[0], negate=False),) + tuple(cmds[1:]), negate)

    def case() -> _Case:
        nonlocal i
        word = peek()
        if not isinstance(word, _Word):
            raise _SyntaxError("syntax error: unexpected end of file (expecting word)") \
                if word is None else unexpected(word)
        i += 1
        while peek() == "\n":
            i += 1
        expect("in")
        items = []
        while True:
            skip_newlines()
            t = peek()
            if t is None:
                raise eof(")")
            if _is_word(t, "esac"):
                i += 1
                break
            if t == "(":
                i += 1
            pats = []
            while True:
                p = peek()
                if p is None:
                    raise eof(")")
                if not isinstance(p, _Word):
                    raise unexpected(p)
                pats.append(p)
                i += 1
                if peek() == "|":
                    i += 1
                    continue
                if peek() is None:
                    raise eof(")")
                if peek() != ")":
                    raise unexpected(peek())
                i += 1
                break
            body = compound_list({";;", "esac"}, "esac", empty_ok=True)
            items.append((tuple(pats), body))
            if peek() == ";;":
                i += 1
            elif not _is_word(peek(), "esac"):
                raise unexpected(peek())
        return _Case(word, tuple(items))

    def command(negate: bool):
        nonlocal i
        t = peek()
        if (isinstance(t, _Word) and not t.is_quoted() and _NAME_RE.fullmatch(t.raw)
                and t.raw not in _COMPOUND_END | _KEYWORDS and i + 1 < len(toks)
                and toks[i + 1] == "("):
            if i + 2 >= len(toks) or toks[i + 2] != ")":
                raise unexpected(toks[i + 2] if i + 2 < len(toks) else None)
            i += 3
            while peek() == "\n":
                i += 1
            if peek() is None:
                raise unexpected(None)
            return _FuncDef(t.raw, command(False), negate)
        if t == "(":
            i += 1
            body = compound_list({")"}, ")")
            if peek() != ")":
                raise unexpected(peek())
            i += 1
            return redirected(_Subshell(body), negate)
        if _is_word(t, "{"):
            i += 1
            body = compound_list({"}"}, "}")
            expect("}")
            return redirected(_Group(body), negate)
        if _is_word(t, "case"):
            i += 1
            return redirected(case(), negate)
        if isinstance(t, _Word) and not t.is_quoted() and t.raw in _NOT_MODELLED:
            raise _unsupported(f"the shell keyword {t.raw!r}")
        if _is_word(t, "if"):
            i += 1
            branches = []
            cond = compound_list({"then"}, "then")
            expect("then")
            body = compound_list({"elif", "else", "fi"}, "fi")
            branches.append((cond, body))
            orelse = None
            while True:
                t = peek()
                if _is_word(t, "elif"):
                    i += 1
                    cond = compound_list({"then"}, "then")
                    expect("then")
                    branches.append((cond, compound_list({"elif", "else", "fi"}, "fi")))
                elif _is_word(t, "else"):
                    i += 1
                    orelse = compound_list({"fi"}, "fi")
                else:
                    break
            expect("fi")
            node = _If(tuple(branches), orelse, negate)
        elif _is_word(t, "for"):
            i += 1
            name = peek()
            if not isinstance(name, _Word) or not _NAME_RE.fullmatch(name.raw):
                raise _SyntaxError("syntax error: bad for loop variable")
            i += 1
            words = None
            skip_newlines()
            if _is_word(peek(), "in"):
                i += 1
                words = []
                while isinstance(peek(), _Word):
                    words.append(peek())
                    i += 1
                words = tuple(words)
            skip_separators()
            expect("do")
            body = compound_list({"done"}, "done")
            expect("done")
            node = _For(name.raw, words, body, negate)
        elif _is_word(t, "while") or _is_word(t, "until"):
            i += 1
            cond = compound_list({"do"}, "do")
            expect("do")
            body = compound_list({"done"}, "done")
            expect("done")
            node = _While(cond, body, t.raw == "until", negate)
        else:
            s = simple()
            return _Simple(s.assigns, s.words, s.redirs, negate, s.line)
        return redirected(node, negate)

    def redirected(node, negate: bool):
        """Redirections after a compound command; then it must end."""
        nonlocal i
        redirs = []
        while isinstance(peek(), tuple):
            t = peek()
            redirs.append(_Redir(t[1], t[2], t[3]))
            i += 1
        nxt = peek()
        if nxt is not None and nxt not in (";", "\n", "&&", "||", "|", ";;", ")") and not (
                isinstance(nxt, _Word) and not nxt.is_quoted() and nxt.raw in _COMPOUND_END):
            raise unexpected(nxt)
        if redirs:
            return _Redirected(dataclasses.replace(node, negate=False), tuple(redirs), negate)
        return dataclasses.replace(node, negate=negate) if negate else node

    def and_or() -> _AndOr:
        nonlocal i
        first = pipeline()
        rest = []
        while peek() in ("&&", "||"):
            op = peek()
            i += 1
            while peek() == "\n":            # a newline after && is allowed
                i += 1
            rest.append((op, pipeline()))
        return _AndOr(first, tuple(rest))

    items: list = []
    committed = 0                 # ash parses and runs one line (a complete list) at a time
    try:
        while True:
            if peek() == "\n":
                committed = len(items)
            skip_newlines()
            if peek() is None:
                break
            t = peek()
            if isinstance(t, _Word) and not t.is_quoted() and t.raw in _COMPOUND_END:
                raise unexpected(t)
            items.append(and_or())
            if peek() == ";":
                i += 1
    except _SyntaxError as e:
        e.ready = items[:committed]   # type: ignore[attr-defined]
        raise
    return items


_KEYWORDS = {"!", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then",
             "until", "while", "{", "}"}
