"""``$((...))``: ash's arithmetic (64-bit integers, C operators and precedence, ``**``,
``?:``, assignments, ``++``/``--``; a variable's value is evaluated in turn).
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .base import _Fatal

if TYPE_CHECKING:  # pragma: no cover
    from .interp import _Shell


_ARITH_TOKEN = re.compile(r"\s*(?:(0[xX][0-9a-fA-F]+|\d+)|([A-Za-z_][A-Za-z0-9_]*)|"
                          r"(<<=|>>=|\*\*|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&^|]=|"
                          r"[-+*/%<>=!~&^|?:()]))")
_ARITH_BINARY = {"||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7,
                 ">": 7, ">=": 7, "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
                 "**": 11}


def _wrap64(n: int) -> int:
    n &= (1 << 64) - 1
    return n - (1 << 64) if n >= 1 << 63 else n


class _Arith_eval:
    """One ``$((...))`` evaluation, by precedence climbing over ash's operators."""

    def __init__(self, sh: "_Shell", depth: int = 0) -> None:
        self.sh, self.depth = sh, depth

    def fail(self, what: str = "arithmetic syntax error") -> "_Fatal":
        return _Fatal(f"{self.sh.argv0}: {what}", 2)

    def run(self, text: str) -> int:
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _ARITH_TOKEN.match(text, pos)
            if not m or m.end() == pos:
                if text[pos:].strip() == "":
                    break
                raise self.fail()
            num, name, op = m.groups()
            self.toks.append(("n", num) if num else ("v", name) if name else ("o", op))
            pos = m.end()
        if not self.toks:
            return 0
        self.i = 0
        value = self.assign()
        if self.i != len(self.toks):
            raise self.fail()
        return value

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take_op(self, *ops: str) -> str | None:
        t = self.peek()
        if t and t[0] == "o" and t[1] in ops:
            self.i += 1
            return t[1]
        return None

    def var(self, name: str) -> int:
        value = self.sh.vars.get(name, "")
        if value.strip() == "":
            return 0
        if re.fullmatch(r"\s*-?\d+\s*", value):
            return _wrap64(int(value))
        if self.depth > 20:
            raise self.fail("expression recursion loop detected")
        return _Arith_eval(self.sh, self.depth + 1).run(value)

    def set(self, name: str, value: int) -> int:
        self.sh.vars[name] = str(value)
        return value

    def assign(self) -> int:
        t = self.peek()
        nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
        if t and t[0] == "v" and nxt and nxt[0] == "o" and nxt[1].endswith("=") and \
                nxt[1] not in ("==", "!=", "<=", ">="):
            self.i += 2
            rhs = self.assign()
            if nxt[1] == "=":
                return self.set(t[1], rhs)
            return self.set(t[1], self.binary(nxt[1][:-1], self.var(t[1]), rhs))
        return self.ternary()

    def ternary(self) -> int:
        cond = self.climb(1)
        if self.take_op("?"):
            yes = self.assign()
            if not self.take_op(":"):
                raise self.fail()
            no = self.assign()
            return yes if cond else no
        return cond

    def binary(self, op: str, a: int, b: int) -> int:
        if op in ("/", "%"):
            if b == 0:
                raise self.fail("divide by zero")
            q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)
            return _wrap64(q if op == "/" else a - q * b)
        if op == "**":
            if b < 0:
                raise self.fail("exponent less than 0")
            return _wrap64(pow(a, b, 1 << 64))
        result = {"+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b,
                  "<<": lambda: a << (b & 63), ">>": lambda: a >> (b & 63), "<": lambda: a < b,
                  "<=": lambda: a <= b, ">": lambda: a > b, ">=": lambda: a >= b,
                  "==": lambda: a == b, "!=": lambda: a != b, "&": lambda: a & b,
                  "^": lambda: a ^ b, "|": lambda: a | b}[op]()
        return _wrap64(int(result))

    def climb(self, level: int) -> int:
        left = self.unary()
        while True:
            t = self.peek()
            if not t or t[0] != "o" or t[1] not in _ARITH_BINARY or _ARITH_BINARY[t[1]] < level:
                return left
            op = t[1]
            self.i += 1
            if op in ("&&", "||"):
                right = self.climb(_ARITH_BINARY[op] + 1)
                left = int(bool(left) and bool(right)) if op == "&&" else int(bool(left) or bool(right))
                continue
            right = self.climb(_ARITH_BINARY[op] + (0 if op == "**" else 1))
            left = self.binary(op, left, right)

    def unary(self) -> int:
        op = self.take_op("+", "-", "!", "~", "++", "--")
        if op in ("++", "--"):
            t = self.peek()
            if not t or t[0] != "v":
                raise self.fail()
            self.i += 1
            return self.set(t[1], _wrap64(self.var(t[1]) + (1 if op == "++" else -1)))
        if op:
            v = self.unary()
            return {"+": v, "-": _wrap64(-v), "!": int(not v), "~": _wrap64(~v)}[op]
        t = self.peek()
        if t is None:
            raise self.fail()
        self.i += 1
        if t == ("o", "("):
            v = self.assign()
            if not self.take_op(")"):
                raise self.fail()
            return v
        if t[0] == "n":
            text = t[1]
            if text.lower().startswith("0x"):
                return _wrap64(int(text, 16))
            if len(text) > 1 and text.startswith("0"):
                if not re.fullmatch(r"[0-7]+", text):
                    raise self.fail()
                return _wrap64(int(text, 8))
            return _wrap64(int(text))
        if t[0] == "v":
            post = self.take_op("++", "--")
            value = self.var(t[1])
            if post:
                self.set(t[1], _wrap64(value + (1 if post == "++" else -1)))
            return value
        raise self.fail()
