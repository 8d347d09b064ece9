"""Hostile input for every command (issue 13): hypothesis generates malformed images (a valid
tiny image with bytes, JSON fields, layers or structure changed), malformed layers and command
lines; then the hostile corpus (``tests/corpus/hostile/make_corpus.py``) is replayed.

Each run is ``python -m labkit ...`` in a subprocess with at most ``MEMORY`` bytes of address
space (``RLIMIT_AS``) and a timeout, on the simulator engine (``DOCKER_HOST`` points nowhere, so
no daemon is ever asked), in a temporary folder. Whatever the input, it must end with status 0,
1 or 2, no traceback (no ``MemoryError`` either) and stderr made of ``labkit ...: error:`` lines
and their ``fix:`` lines. ``LABKIT_HOSTILE_EXAMPLES`` raises the example counts for long runs.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import os
import resource
import subprocess
import sys
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import layout
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tarkit import make_layer

from labkit.oci.write import write_image_tar

MEMORY = 2 << 30                 # bytes of address space per run
TIMEOUT = 60                     # seconds per run (the gzip bomb of the corpus: 120)
N = int(os.environ.get("LABKIT_HOSTILE_EXAMPLES", "25"))
HOSTILE = settings(max_examples=N, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                          HealthCheck.data_too_large])


def _bounded() -> None:          # in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(argv: list[str], cwd: Path, stdin: bytes | None = None, timeout: float = TIMEOUT) -> tuple:
    """(status, stdout, stderr, seconds) of ``labkit ARGV``; a timeout is a test failure."""
    env = {**os.environ, "LABKIT_ENGINE": "sim", "DOCKER_HOST": f"unix://{cwd}/no-daemon.sock",
           "PYTHONFAULTHANDLER": "1"}
    started = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "-m", "labkit", *argv], cwd=cwd, env=env, input=stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, preexec_fn=_bounded, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail(f"labkit {_shown(argv)} ran for more than {timeout} s")
    return r.returncode, r.stdout, r.stderr.decode("utf-8", "replace"), time.monotonic() - started


def _shown(argv: list[str]) -> str:
    return " ".join(repr(a) if not a.isprintable() or " " in a else a for a in argv)


def problems(argv: list[str], result: tuple) -> list[str]:
    """What is wrong with one run (empty when it kept the contract)."""
    status, _out, err, _secs = result
    found = []
    if status not in (0, 1, 2):
        found.append(f"exit status {status}")
    if "Traceback" in err or "MemoryError" in err or "Fatal Python error" in err:
        found.append("traceback")
    stray = [line for line in err.splitlines() if not line.startswith(("labkit ", "  fix: "))]
    if stray and not found:
        found.append(f"stderr is not labkit's error lines: {stray[:2]}")
    return [f"labkit {_shown(argv)}: {p}\n{err[-3000:]}" for p in found]


def check(argv: list[str], result: tuple) -> None:
    found = problems(argv, result)
    assert not found, found[0]


# --------------------------------------------------------------------------- a valid tiny image

@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The folder every run starts in: a valid image, a build context, an empty folder."""
    d = tmp_path_factory.mktemp("hostile")
    write_image_tar([make_layer(("d", "etc"), ("f", "etc/conf", b"hello\n"), ("l", "etc/link", "conf")),
                     make_layer(("d", "etc"), ("w", "etc/conf"), ("f", "bin/tool", b"#!/bin/sh\n", 0o755))],
                    {"config": {"Env": ["A=1"]},
                     "history": [{"created_by": "COPY etc /etc"}, {"created_by": "RUN rm /etc/conf"}]},
                    d / "valid.tar", repo_tags=["hostile:1"])
    (d / "ctx").mkdir()
    (d / "ctx" / "Dockerfile").write_text("FROM scratch\nCOPY a /a\nENV X=1\n")
    (d / "ctx" / "a").write_text("a\n")
    (d / "empty").mkdir()
    (d / "binary").write_bytes(bytes(range(256)) * 8)
    return d


def members_of(tar: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return {m.name: t.extractfile(m).read() for m in t.getmembers() if m.isfile()}


def tar_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for name, data in members.items():
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_600_000_000
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


def _config_name(members: dict[str, bytes]) -> str:
    return json.loads(members["manifest.json"])[0]["Config"]


def _with_config(members: dict[str, bytes], raw: bytes) -> dict[str, bytes]:
    """The image with its config replaced by ``raw``, renamed to its digest (so the reader
    gets past the id check) and the manifest pointing at it."""
    old = _config_name(members)
    name = hashlib.sha256(raw).hexdigest() + ".json"
    manifest = json.loads(members["manifest.json"])
    manifest[0]["Config"] = name
    out = {k: v for k, v in members.items() if k != old}
    out[name] = raw
    out["manifest.json"] = json.dumps(manifest).encode()
    return out


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False)
                    | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12)


def _mutate_json(data: st.DataObject, doc: object) -> object:
    """``doc`` with one value somewhere in it replaced (or removed) by a drawn one."""
    if not isinstance(doc, (dict, list)) or not doc or data.draw(st.integers(0, 3)) == 0:
        return data.draw(JSON)
    key = data.draw(st.sampled_from(sorted(doc) if isinstance(doc, dict) else list(range(len(doc)))))
    if data.draw(st.integers(0, 5)) == 0:
        if isinstance(doc, dict):
            return {k: v for k, v in doc.items() if k != key}
        return doc[:key] + doc[key + 1:]
    new = dict(doc) if isinstance(doc, dict) else list(doc)
    new[key] = _mutate_json(data, doc[key])
    return new


def mutated_image(data: st.DataObject, valid: bytes) -> bytes:
    members = members_of(valid)
    how = data.draw(st.sampled_from(["bytes", "truncate", "manifest", "config", "layer", "structure"]), "how")
    if how == "bytes":
        buf = bytearray(valid)
        for at, value in data.draw(st.lists(st.tuples(st.integers(0, len(buf) - 1), st.integers(0, 255)),
                                            min_size=1, max_size=16)):
            buf[at] = value
        return bytes(buf)
    if how == "truncate":
        return valid[: data.draw(st.integers(0, len(valid) - 1))]
    if how == "manifest":
        members["manifest.json"] = json.dumps(_mutate_json(data, json.loads(members["manifest.json"]))).encode()
        return tar_of(members)
    if how == "config":
        config = _mutate_json(data, json.loads(members[_config_name(members)]))
        return tar_of(_with_config(members, json.dumps(config).encode()))
    if how == "layer":
        names = json.loads(members["manifest.json"])[0]["Layers"]
        i = data.draw(st.integers(0, len(names) - 1))
        layer = bytearray(members[names[i]])
        for at, value in data.draw(st.lists(st.tuples(st.integers(0, len(layer) - 1), st.integers(0, 255)),
                                            min_size=1, max_size=8)):
            layer[at] = value
        members[names[i]] = bytes(layer)
        if data.draw(st.booleans(), "fix diff_id"):     # so the reader goes past the digest check
            config = json.loads(members[_config_name(members)])
            config["rootfs"]["diff_ids"][i] = "sha256:" + hashlib.sha256(layer).hexdigest()
            members = _with_config(members, json.dumps(config).encode())
        return tar_of(members)
    names = sorted(members)
    victim = data.draw(st.sampled_from(names))
    change = data.draw(st.sampled_from(["drop", "duplicate", "rename", "empty"]))
    if change == "drop":
        del members[victim]
    elif change == "empty":
        members[victim] = b""
    else:
        new = data.draw(st.sampled_from(names + ["../x", "/abs", "manifest.json", "x" * 300]))
        members[new] = members[victim] if change == "duplicate" else members.pop(victim)
    return tar_of(members)


IMAGE_COMMANDS = [["flatten", "{}"], ["flatten", "{}", "--json", "--jobs", "2"], ["inspect", "{}"],
                  ["inspect", "{}", "--json", "--ci"], ["compare", "valid.tar", "{}"]]


@HOSTILE
@given(data=st.data())
def test_malformed_images(work: Path, data: st.DataObject) -> None:
    blob = mutated_image(data, (work / "valid.tar").read_bytes())
    argv = data.draw(st.sampled_from(IMAGE_COMMANDS), "command")
    piped = data.draw(st.booleans(), "through stdin")
    if not piped:
        (work / "case.tar").write_bytes(blob)
    argv = [a.replace("{}", "-" if piped else "case.tar") for a in argv]
    check(argv, run(argv, work, stdin=blob if piped else None))


# --------------------------------------------------------------------------- malformed layers

NAME = st.lists(st.sampled_from(list("ab/.-") + ["..", ".wh.", ".wh..wh..opq", "\x1b[31m", "\n",
                                                  "\udcff", "\u202e", "\x00", "\\"]),
                max_size=12).map("".join)
PAX_KEYS = ["path", "linkpath", "size", "uid", "gid", "mtime", "uname", "GNU.sparse.map", "GNU.sparse.size",
            "GNU.sparse.major", "SCHILY.xattr.trusted.overlay.opaque", "SCHILY.xattr.security.capability",
            "SCHILY.xattr.user.x", "comment"]
PAX_VALUES = st.sampled_from(["", "0", "-1", "1e400", "nan", "99999999999999999999", "a" * 300, "y",
                              "0,1,2", "\x1b]0;t\x07", "a/../../b", "/abs/x"])
ENTRY = st.tuples(NAME, st.sampled_from("0123456LKx"),
                  st.binary(max_size=64), st.integers(0, 0o7777), st.tuples(st.integers(0, 300), st.integers(0, 300)),
                  st.dictionaries(st.sampled_from(PAX_KEYS), PAX_VALUES, max_size=2))


def layer_from(entries: list[tuple]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT, encoding="utf-8",
                      errors="surrogateescape") as t:
        for name, kind, data, mode, dev, pax in entries:
            ti = tarfile.TarInfo(name.replace("\x00", "") or ".")
            ti.type, ti.mode, ti.mtime = kind.encode(), mode, 1_600_000_000
            ti.devmajor, ti.devminor = dev
            ti.linkname = "a" if kind in "12" else ""
            ti.pax_headers = {k: v for k, v in pax.items() if k not in ("size",)}
            ti.size = len(data) if kind in "07" else 0
            try:
                t.addfile(ti, io.BytesIO(data) if ti.size else None)
            except (ValueError, UnicodeError, tarfile.TarError):
                pass
    return buf.getvalue()


@HOSTILE
@given(data=st.data())
def test_malformed_layers(work: Path, data: st.DataObject) -> None:
    layers = [layer_from(data.draw(st.lists(ENTRY, max_size=6), f"layer {i}"))
              for i in range(data.draw(st.integers(1, 3)))]
    path = work / "layers.tar"
    write_image_tar(layers, {}, path, gzip=data.draw(st.booleans(), "gzip"))
    argv = data.draw(st.sampled_from([["flatten", "layers.tar"], ["flatten", "layers.tar", "--json"],
                                      ["inspect", "layers.tar"], ["compare", "valid.tar", "layers.tar", "--json"]]))
    check(argv, run(argv, work))


# --------------------------------------------------------------------------- command lines

def _safe(text: str) -> bool:
    """Never a path outside the work folder (``notebooks /etc`` would copy into /etc)."""
    return not text.startswith(("/", "~")) and ".." not in text and "\x00" not in text


TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=10).filter(_safe)
JUNK = st.sampled_from(["", "-", "--", "-1", "0", "nan", "inf", "-inf", "1e309", "99999999999999999999",
                        "x=1", "path_depth=0", "path_depth=1", "unpacked_bytes=10", "=", "A=", "\x1b[31m",
                        "a\nb", "--json", "--help", "--no-such", "valid.tar", "ctx", "empty", "binary",
                        "missing", "/dev/null", "/dev/zero", "/dev/stdin"])
TOKEN = st.one_of(JUNK, TEXT)
OPTIONS = {
    "flatten": ["--json", "--tag", "--jobs", "--limit"],
    "inspect": ["--json", "--html", "--top", "--tag", "--ci", "--ci-config", "--no-secrets", "--limit"],
    "compare": ["--json", "--top", "--no-paths", "--limit"],
    "build": ["-f", "--file", "-t", "--tag", "--no-cache", "--build-arg", "--engine", "--limit"],
    "grade": ["--engine", "--timeout", "--workers", "--out", "--exercises", "--kernel"],
    "notebooks": ["--force"],
    "doctor": ["--dev"],
    "clean": ["--dry-run", "--session"],
}
POSITIONAL = {
    "flatten": st.sampled_from(["valid.tar", "-", "empty", "binary", "missing", "/dev/null", "ctx"]),
    "inspect": st.sampled_from(["valid.tar", "-", "empty", "binary", "missing:1", "/dev/null"]),
    "compare": st.sampled_from(["valid.tar", "-", "empty", "binary", "missing"]),
    "build": st.sampled_from(["ctx", "empty", "binary", "missing", "valid.tar", "-"]),
    "grade": st.sampled_from(["empty", "missing", "binary", "-"]),     # never real submissions
    "notebooks": st.sampled_from(["nb", "binary", "ctx/a/x", "-"]),
}


@st.composite
def command_line(draw) -> list[str]:
    command = draw(st.sampled_from(sorted(OPTIONS)))
    argv = [command]
    if command in POSITIONAL:
        argv += draw(st.lists(POSITIONAL[command], min_size=0, max_size=3 if command == "compare" else 2))
    for _ in range(draw(st.integers(0, 4))):
        argv.append(draw(st.sampled_from(OPTIONS[command] + ["--no-such"])))
        if draw(st.booleans()):
            argv.append(draw(TOKEN))
    if command == "grade" and not any(a in ("empty", "missing", "binary", "-") for a in argv[1:2]):
        argv.insert(1, "missing")       # grading real notebooks is the grading tests' job
    return argv


@settings(HOSTILE, max_examples=N * 2)
@given(argv=command_line(), piped=st.booleans())
def test_command_lines(work: Path, argv: list[str], piped: bool) -> None:
    stdin = (work / "valid.tar").read_bytes() if piped else None
    check(argv, run(argv, work, stdin=stdin))


# --------------------------------------------------------------------------- the corpus

def _corpus_module():
    spec = importlib.util.spec_from_file_location("make_corpus", layout.CORPUS / "hostile" / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = [
    "bad-checksum-header", "bad-xattr", "bz2-layer", "config-config-is-list", "config-is-list",
    "config-is-string", "deep-dirs-1100", "deep-json-config", "deep-json-history", "deep-json-manifest",
    "deep-pax-path-16k", "deep-pax-path-30k", "deep-pax-path-30k-gzip", "diff-id-not-sha256",
    "diff-ids-hold-ints", "diff-ids-is-string", "duplicate-manifest", "empty-file", "entry-claims-1tib",
    "esc-names", "gzip-bomb-1g", "gzip-whole-image", "history-100k", "history-created-by-object",
    "history-holds-ints", "history-is-object", "huge-device-numbers", "huge-uid-mtime", "labels-are-list",
    "layer-is-a-directory", "layers-126", "links", "long-component-300", "long-path-8k",
    "manifest-10k-layers", "manifest-config-absolute", "manifest-config-escapes", "manifest-config-is-int",
    "manifest-empty-list", "manifest-entry-is-string", "manifest-is-object", "manifest-layers-hold-ints",
    "manifest-layers-is-object", "manifest-nan", "manifest-not-json", "many-dirs-2000", "many-files-50k",
    "member-dotdot", "member-hardlink-loop", "member-symlink-manifest", "not-a-tar", "nul-in-pax-name",
    "oci-annotations-not-dict", "oci-blob-is-fifo", "oci-blob-links-to-dev-zero", "oci-config-desc-is-string",
    "oci-deep-index", "oci-digest-md5", "oci-digest-traversal", "oci-index-links-out",
    "oci-index-points-at-itself", "oci-layer-size-string", "oci-layers-not-list", "oci-layout-is-fifo",
    "oci-manifests-hold-ints", "oci-manifests-not-list", "oci-platform-not-dict", "oci-valid",
    "privileged-entries", "repotags-hold-objects", "repotags-is-string", "rootfs-is-list",
    "rootfs-is-string", "sparse-layer-extended-garbage", "sparse-layer-garbage", "sparse-layer-huge-offset",
    "sparse-layer-negative", "sparse-outer-extended-garbage", "sparse-outer-garbage",
    "sparse-outer-huge-offset", "sparse-outer-negative", "sparse-pax-1.0-bad-prefix",
    "sparse-pax-map-garbage", "sparse-pax-map-huge", "sparse-pax-numblocks-huge", "truncated-image",
    "truncated-layer", "user-is-int", "valid", "xz-layer",
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("corpus") / "hostile"
    assert _corpus_module().main([str(d)]) == 0
    return d


def test_the_case_list_matches_the_generator(corpus: Path) -> None:
    assert sorted(p.name.removesuffix(".tar") for p in corpus.iterdir()) == sorted(CASES)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(3)


@pytest.mark.parametrize("case", CASES)
def test_every_command_over_the_corpus(corpus: Path, work: Path, case: str) -> None:
    path = corpus / case if (corpus / case).is_dir() else corpus / f"{case}.tar"
    timeout = 120 if "bomb" in case else TIMEOUT
    runs = [["flatten", str(path)], ["inspect", str(path)], ["compare", str(work / "valid.tar"), str(path)]]
    results = list(_pool().map(lambda argv: run(argv, work, timeout=timeout), runs))
    found = [p for argv, r in zip(runs, results) for p in problems(argv, r)]
    assert not found, "\n".join(found)
    if case in ("valid", "oci-valid"):
        assert [r[0] for r in results] == [0, 0, 0], [r[2] for r in results]
    if case == "esc-names":
        assert all(b"\x1b" not in r[1] for r in results)


ADDED = ["deep-pax-path-30k-gzip", "esc-names", "entry-claims-1tib", "links", "sparse-pax-map-huge",
         "gzip-bomb-1g"]


@pytest.mark.parametrize("case", ADDED)
def test_build_adds_hostile_archives_on_the_simulator(corpus: Path, tmp_path: Path, case: str) -> None:
    """``ADD layer.tar.gz /x/`` unpacks an untrusted archive in the simulator's builder."""
    with tarfile.open(corpus / f"{case}.tar") as t:
        name = json.loads(t.extractfile("manifest.json").read())[0]["Layers"][0]
        (tmp_path / "archive.tar.gz").write_bytes(t.extractfile(name).read())
    (tmp_path / "Dockerfile").write_text("FROM scratch\nADD archive.tar.gz /x/\n")
    argv = ["build", str(tmp_path), "--engine", "sim"]
    check(argv, run(argv, tmp_path, timeout=120))
