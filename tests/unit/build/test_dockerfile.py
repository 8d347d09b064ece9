"""Dockerfile parsing, variable substitution and .dockerignore matching.

Expectations are written from Docker's documented behaviour (Dockerfile reference,
.dockerignore reference); the last tests ask the real daemon what a context holds.
"""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
import layout

from labkit.build.context import list_context
from labkit.build.dockerfile import parse, substitute, substitute_words
from labkit.build.dockerignore import DockerIgnore
from labkit.errors import DockerfileError

# --------------------------------------------------------------------------- parsing


def test_stages_names_and_bases():
    df = parse("FROM alpine:3.19 AS Build\nRUN make\nFROM build AS test\nFROM scratch\n"
               "COPY --from=build /out /out\n")
    assert [s.name for s in df.stages] == ["build", "test", None]
    assert [s.base for s in df.stages] == ["alpine:3.19", "build", "scratch"]
    assert [s.base_stage for s in df.stages] == [None, 0, None]
    assert df.stages[2].instructions[0].flag("from") == "build"
    assert df.stage("BUILD").index == 0 and df.stage(2).base == "scratch"


def test_line_numbers_and_continuations_as_docker_joins_them():
    text = ("# comment\n"
            "FROM scratch\n"
            "\n"
            "RUN echo a && \\\n"
            "    # a comment inside\n"
            "\n"
            "    echo b   \n"
            "LABEL a=1 \\\n"
            "  b=2\n")
    run, label = parse(text).stages[0].instructions
    assert (run.line, run.end_line) == (4, 7)
    # the escape char goes, the next line's indent stays, comment/empty lines are skipped
    assert run.original == "RUN echo a &&     echo b"
    assert run.args == "echo a &&     echo b"
    assert (label.line, label.end_line) == (8, 9)
    assert label.pairs == (("a", "1"), ("b", "2"))


def test_escape_directive_backtick():
    df = parse("# escape=`\nFROM scratch\nCOPY a `\n  b /dst/\nRUN dir c:\\\n")
    copy, run = df.stages[0].instructions
    assert df.escape == "`"
    assert copy.words == ("a", "b", "/dst/")
    assert run.args == "dir c:\\"            # a backslash is an ordinary character now


def test_directives_only_at_the_top():
    assert parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\n").escape == "`"
    assert parse("# a comment\n# escape=`\nFROM scratch\n").escape == "\\"
    crlf = parse("\ufeff# escape=`\r\nFROM scratch\r\nRUN a `\r\n  b\r\n")
    assert crlf.escape == "`" and crlf.stages[0].instructions[0].args == "a   b"


def test_run_cmd_entrypoint_shell_and_exec_forms():
    df = parse('FROM scratch\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
               "RUN echo $HOME\nCMD [\"sh\"]\nENTRYPOINT echo hi\nRUN [not json\n")
    exec_run, shell_run, cmd, entry, broken = df.stages[0].instructions
    assert exec_run.json and exec_run.words == ("/bin/busybox", "--install", "-s", "/bin")
    assert not shell_run.json and shell_run.args == "echo $HOME"
    assert cmd.json and cmd.words == ("sh",)
    assert not entry.json and entry.args == "echo hi"
    assert not broken.json and broken.args == "[not json"   # falls back to shell form


def test_copy_add_forms_and_flags():
    df = parse("FROM scratch AS a\nFROM scratch\n"
               "COPY --from=a --chown=1000:1000 /x /y /dst/\n"
               'COPY ["with space.txt", "/d/"]\nADD --chown=app *.tar.gz /opt/\n')
    c1, c2, add = df.stages[1].instructions
    assert c1.flags == (("from", "a"), ("chown", "1000:1000"))
    assert c1.words == ("/x", "/y", "/dst/")
    assert c2.json and c2.words == ("with space.txt", "/d/")
    assert add.flag("chown") == "app" and add.words == ("*.tar.gz", "/opt/")


def test_env_both_forms_and_quotes():
    df = parse('FROM scratch\nENV A b c\nENV Q="x y" R=z\\ w S=\'$lit\'\n')
    old, new = df.stages[0].instructions
    assert old.pairs == (("A", "b c"),)
    assert new.pairs == (("Q", '"x y"'), ("R", "z\\ w"), ("S", "'$lit'"))   # raw until used
    assert [substitute(v, {"lit": "no"}) for _, v in new.pairs] == ["x y", "z w", "$lit"]


def test_global_args_feed_from_and_build_args_override_them():
    text = "ARG REPO=library\nARG TAG=1\nFROM $REPO/app:${TAG}\nARG TAG\nRUN true\n"
    assert parse(text).stages[0].base == "library/app:1"
    df = parse(text, build_args={"TAG": "2"})
    assert df.stages[0].base == "library/app:2"
    assert dict(df.meta_values) == {"REPO": "library", "TAG": "2"}
    assert [i.original for i in df.meta_args] == ["ARG REPO=library", "ARG TAG=1"]
    assert df.stages[0].instructions[0].pairs == (("TAG", None),)


def test_steps_follow_docker_numbering():
    df = parse("ARG B=scratch\nFROM $B AS one\nRUN a\nFROM one\nRUN b\n")
    assert [i.original for _, i in df.steps()] == [
        "ARG B=scratch", "FROM $B AS one", "RUN a", "FROM one", "RUN b"]


@pytest.mark.parametrize("word, env, expected", [
    ("$A", {"A": "1"}, "1"),
    ("${A}x", {"A": "1"}, "1x"),
    ("${A:-dflt}", {}, "dflt"),
    ("${A:-dflt}", {"A": ""}, "dflt"),
    ("${A-dflt}", {"A": ""}, ""),
    ("${A:+alt}", {"A": "1"}, "alt"),
    ("${A:+alt}", {}, ""),
    ("'$A'", {"A": "1"}, "$A"),
    ('"$A b"', {"A": "1"}, "1 b"),
    ("\\$A", {"A": "1"}, "$A"),
    ("a$", {}, "a$"),
    ("$UNSET-x", {}, "-x"),
])
def test_substitution_like_the_classic_builder(word, env, expected):
    assert substitute(word, env) == expected


def test_substitute_words_splits_outside_quotes():
    assert substitute_words('80 "443/tcp" $P', {"P": "53/udp 9"}) == ["80", "443/tcp", "53/udp 9"]


@pytest.mark.parametrize("text, line, words", [
    ("FROM scratch\nRUNN echo\n", 2, "unknown instruction: RUNN"),
    ("FROM scratch\n\nRUN\n", 3, "RUN requires at least one argument"),
    ("RUN echo hi\nFROM scratch\n", 1, "before the first FROM"),
    ("FROM scratch\nCOPY only-one\n", 2, "requires at least two arguments"),
    ("FROM scratch\nENV A=\"unterminated\n", 2, "matching double-quote"),
    ("FROM scratch\nWORKDIR ${A\n", 2, "missing '}'"),
    ("FROM scratch\nENV JUSTKEY\n", 2, "ENV must have two arguments"),
    ("FROM scratch AS a b\n", 1, "FROM requires either one or three arguments"),
    ("FROM scratch AS 1bad\n", 1, "invalid name for build stage"),
    ("FROM scratch AS x\nFROM scratch AS X\n", 2, "duplicate name"),
    ("FROM scratch\nRUN --network=none echo\n", 2, "Unknown flag: network"),
    ("FROM scratch\nLABEL a=1 b\n", 2, "can't find ="),
    ("# escape=x\nFROM scratch\n", 1, "invalid escape token"),
])
def test_errors_name_the_line(text, line, words):
    with pytest.raises(DockerfileError) as info:
        parse(text)
    assert info.value.line == line
    assert words in str(info.value) and f"line {line}" in str(info.value)
    assert info.value.fix


def test_no_from_at_all():
    with pytest.raises(DockerfileError, match="no FROM"):
        parse("# only a comment\nARG X=1\n")


# --------------------------------------------------------------------------- .dockerignore

@pytest.mark.parametrize("patterns, path, excluded", [
    ("*/temp*", "somedir/temporary.txt", True),      # examples of the Docker reference
    ("*/temp*", "temp", False),
    ("*/*/temp*", "somedir/subdir/temporary.txt", True),
    ("temp?", "tempa", True),
    ("temp?", "tempab", False),
    ("**/*.go", "a/b/c.go", True),
    ("**/*.go", "c.go", True),
    ("*.md\n!README.md", "README.md", False),
    ("*.md\n!README.md", "CHANGES.md", True),
    ("!README.md\n*.md", "README.md", True),          # the last matching line wins
    ("docs", "docs/a/b.txt", True),                    # a parent dir match excludes children
    ("/docs/", "docs", True),                          # leading and trailing slashes cleaned
    ("./build/../dist", "dist/x", True),
    ("# comment\n\n  *.log  ", "a.log", True),
    ("# *.log", "a.log", False),
    ("*.log", "logs/a.log", False),                    # * never crosses a /
    ("[ab].txt", "b.txt", True),
    ("[!ab].txt", "c.txt", True),
    (".", "anything", False),                          # "." is ignored
])
def test_dockerignore_matching(patterns, path, excluded):
    assert DockerIgnore.from_text(patterns).excludes(path) is excluded


def test_exception_inside_excluded_dir_is_walked(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("a")
    (tmp_path / "logs" / "keep.log").write_text("k")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / ".dockerignore").write_text("logs\n!logs/keep.log\n")
    ctx = list_context(tmp_path)
    assert ctx.files == (".dockerignore", "Dockerfile", "logs", "logs/keep.log")
    assert ctx.entry("logs").implied and not ctx.entry("logs/keep.log").implied


# --------------------------------------------------------------------------- real daemon

def _tree(tmp: Path, names: dict[str, str]) -> None:
    for name, content in names.items():
        p = tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)


def test_context_listing_matches_what_the_daemon_copies(docker_client, tmp_path):
    """COPY . sees exactly list_context()'s files (the daemon drops an ignored Dockerfile)."""
    from labkit.build.events import parse_docker_stream, record_from_events
    from labkit.values import LABEL, SESSION_LABEL

    session = "dockerfiletest-" + uuid.uuid4().hex[:10]
    labels = {LABEL: "true", SESSION_LABEL: session}
    api = docker_client.api
    base = tmp_path / "base"
    base.mkdir()
    (base / "busybox").write_bytes(Path("/bin/busybox").read_bytes())
    os.chmod(base / "busybox", 0o755)
    (base / "Dockerfile").write_text('FROM scratch\nCOPY busybox /bin/busybox\n'
                                     'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n')
    ctx = tmp_path / "ctx"
    _tree(ctx, {"app.py": "1", "README.md": "r", "CHANGES.md": "c", "docs/a/b.txt": "b",
                "src/x.go": "x", "src/deep/y.go": "y", "src/keep.txt": "k", "tmp/t1": "t",
                "tmp/keep/me": "m", "notes/n.txt": "n"})
    (ctx / ".dockerignore").write_text("*.md\n!README.md\ndocs\n**/*.go\ntmp\n!tmp/keep\n"
                                       "Dockerfile\n.dockerignore\n")
    (ctx / "Dockerfile").write_text(f"FROM {session}\nCOPY . /ctx\nRUN cd /ctx && find . | sort\n")
    try:
        rec = record_from_events(parse_docker_stream(api.build(
            path=str(base), tag=session, decode=True, rm=True, forcerm=True,
            network_mode="none", labels=labels)))
        assert rec.ok, rec.failure
        rec = record_from_events(parse_docker_stream(api.build(
            path=str(ctx), decode=True, rm=True, forcerm=True, network_mode="none",
            labels=labels, nocache=True)))
        assert rec.ok, rec.failure
        seen = sorted(line[2:] for line in rec.step(3).output.split() if line.startswith("./"))
        listed = sorted(list_context(ctx).files)
        assert seen == listed
        assert "README.md" in seen and "CHANGES.md" not in seen and "tmp/keep/me" in seen
        assert "Dockerfile" not in seen and "src/keep.txt" in seen
    finally:
        for _ in range(4):
            for image in api.images(filters={"label": f"{SESSION_LABEL}={session}"}, quiet=True):
                try:
                    api.remove_image(image, force=True)
                except Exception:  # a child still depends on it: next pass
                    pass


# --------------------------------------------------------------------------- dockerfile-parse

def _dfp_boundaries(text: str) -> list[tuple[str, int, int]]:
    import io

    from dockerfile_parse import DockerfileParser

    parser = DockerfileParser(fileobj=io.BytesIO(text.encode()))
    return [(i["instruction"], i["startline"] + 1, i["endline"] + 1)
            for i in parser.structure if i["instruction"] != "COMMENT"]


def _ours(text: str) -> list[tuple[str, int, int]]:
    df = parse(text)
    return [(i.keyword, i.line, i.end_line) for _, i in df.steps()]


def test_boundaries_agree_with_dockerfile_parse_on_the_corpus():
    """Where dockerfile-parse can do the job, it finds the same instructions and lines."""
    folders = sorted(layout.CASES.glob("*/context/Dockerfile"))
    assert folders
    for path in folders:
        text = path.read_text()
        assert _ours(text) == _dfp_boundaries(text), path


def test_where_dockerfile_parse_differs_from_docker():
    """dockerfile-parse 2.0.1 ends an instruction at an empty continuation line and turns
    the rest into a bogus instruction; Docker skips the empty line (checked on the daemon
    by the escape-continuation case), and so does labkit."""
    text = "FROM scratch\nRUN echo a && \\\n\n    echo b\n"
    assert ("ECHO", 4, 4) in _dfp_boundaries(text)
    assert _ours(text) == [("FROM", 1, 1), ("RUN", 2, 4)]
