"""Every command's bad arguments and unusable inputs: one line on stderr (and a fix line), exit
status 2 for a bad command line and 1 for bad input, never a traceback and never a hang; and
``-``, ``/dev/stdin``, pipes and FIFOs where a file is expected (issue 13)."""
from __future__ import annotations

import os
import pty
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from requirekit import skip_unless_required
from tarkit import make_layer

from labkit.cli import common, main
from labkit.oci.write import write_image_tar

ENV = {**os.environ, "LABKIT_ENGINE": "sim"}


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    """``labkit ARGS`` in a subprocess (the simulator engine), stdin empty unless given."""
    kw.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([sys.executable, "-m", "labkit", *args], capture_output=True, check=False,
                          env={**ENV, **kw.pop("env", {})}, timeout=kw.pop("timeout", 120), **kw)


def one_error(err: str, command: str) -> str:
    """The error text, checked to be one ``labkit CMD: error:`` line and at most a fix line."""
    lines = err.splitlines()
    assert lines and lines[0].startswith(f"labkit {command}: error: "), err
    assert len(lines) == 1 or (len(lines) == 2 and lines[1].startswith("  fix: ")), err
    assert "Traceback" not in err
    return err


@pytest.fixture
def image(tmp_path: Path) -> Path:
    write_image_tar([make_layer(("d", "etc"), ("f", "etc/conf", b"hello\n"))],
                    {"history": [{"created_by": "COPY conf /etc/conf"}]}, tmp_path / "img.tar",
                    repo_tags=["errs:1"])
    return tmp_path / "img.tar"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
    (ctx / "a").write_text("a\n")
    return ctx


# --------------------------------------------------------------------------- usage errors: 2

USAGE = [
    (["inspect", "IMG", "--top", "-1"], "--top"),
    (["inspect", "IMG", "--top", "many"], "--top"),
    (["compare", "IMG", "IMG", "--top", "-5"], "--top"),
    (["flatten", "IMG", "--jobs", "0"], "--jobs"),
    (["grade", "SUBS", "--timeout", "nan"], "--timeout"),
    (["grade", "SUBS", "--timeout", "inf"], "--timeout"),
    (["grade", "SUBS", "--timeout", "-1"], "--timeout"),
    (["grade", "SUBS", "--timeout", "0"], "--timeout"),
    (["grade", "SUBS", "--workers", "0"], "--workers"),
    (["build", "CTX", "--build-arg", "NOVALUE"], "--build-arg"),
    (["flatten", "IMG", "--limit", "nosuch=1"], "--limit"),
    (["inspect", "IMG", "--limit", "path_depth=0"], "--limit"),
    (["compare", "IMG", "IMG", "--limit", "path_depth"], "--limit"),
    (["flatten"], "IMAGE"),
    (["doctor", "--no-such-option"], "unrecognized"),
]


@pytest.mark.parametrize("argv, named", USAGE, ids=[" ".join(a) for a, _ in USAGE])
def test_a_bad_command_line_is_one_line_and_status_2(argv, named, image, context, tmp_path, capsys):
    argv = [{"IMG": str(image), "CTX": str(context), "SUBS": str(tmp_path)}.get(a, a) for a in argv]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = one_error(capsys.readouterr().err, argv[0])
    assert named in err.splitlines()[0] and f"labkit {argv[0]} --help" in err


def test_lower_limits_are_usage_checked_but_accepted(image, capsys):
    assert main(["flatten", str(image), "--limit", "path_depth=1_000", "--limit", "json_depth=80"]) == 0


def test_a_bad_limits_environment_is_input_error(image, capsys, monkeypatch):
    monkeypatch.setenv("LABKIT_LIMITS", "path_depth=lots")
    assert main(["flatten", str(image)]) == 1
    assert "LABKIT_LIMITS" in one_error(capsys.readouterr().err, "flatten")


# --------------------------------------------------------------------------- bad input: 1

def test_html_to_a_directory(image, tmp_path, capsys):
    assert main(["inspect", str(image), "--html", str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "", "checked before the analysis runs"
    assert "is a directory" in one_error(captured.err, "inspect")


def test_html_in_a_missing_folder(image, tmp_path, capsys):
    assert main(["inspect", str(image), "--html", str(tmp_path / "no" / "r.html")]) == 1
    assert "does not exist" in one_error(capsys.readouterr().err, "inspect")


def test_html_to_a_fifo_nobody_reads_is_no_hang(image, tmp_path, capsys):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert main(["inspect", str(image), "--html", str(fifo)]) == 1
    assert time.monotonic() - started < 30
    assert "nobody reads" in one_error(capsys.readouterr().err, "inspect")


@pytest.mark.parametrize("content, said", [(bytes(range(128, 256)) * 4, "not UTF-8"),
                                           (None, "is a directory")])
def test_ci_config_that_is_not_text(image, tmp_path, capsys, content, said):
    rules = tmp_path / "rules"
    rules.mkdir() if content is None else rules.write_bytes(content)
    assert main(["inspect", str(image), "--ci", "--ci-config", str(rules)]) == 1
    assert said in one_error(capsys.readouterr().err, "inspect")


def test_ci_config_from_stdin(image):
    r = cli("inspect", str(image), "--ci", "--ci-config", "-", "--json",
            input=b"rules:\n  lowestEfficiency: 0.1\n", stdin=None)
    assert r.returncode == 0, r.stderr
    assert b'"ci"' in r.stdout


def test_unwritable_out(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(["grade", str(tmp_path), "--out", str(afile)]) == 1
    assert "not a folder" in one_error(capsys.readouterr().err, "grade")
    assert main(["grade", str(tmp_path), "--out", str(afile / "sub")]) == 1
    assert "Not a directory" in one_error(capsys.readouterr().err, "grade")


def test_os_errors_are_named_by_path_and_reason(monkeypatch, capsys, image):
    from labkit.cli import flatten as flatten_cli

    def refuse(*a, **kw):
        raise PermissionError(13, "Permission denied", "/some/where")
    monkeypatch.setattr(flatten_cli, "flatten", refuse)
    assert main(["flatten", str(image)]) == 1
    err = one_error(capsys.readouterr().err, "flatten")
    assert "/some/where: Permission denied" in err and "ls -ld /some/where" in err


# --------------------------------------------------------------------------- build


@pytest.mark.parametrize("engine", ["sim", "docker"])
@pytest.mark.parametrize("case", ["missing", "a-file", "dockerfile-outside-missing", "dockerfile-is-dir",
                                  "binary-dockerfile", "binary-dockerignore", "empty-f"])
def test_build_refuses_before_any_engine(case, engine, context, tmp_path, capsys, monkeypatch):
    """Checked before the engine is even chosen: with --engine docker, no daemon is asked
    (DOCKER_HOST points nowhere, and the error is the input's, not the daemon's)."""
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")
    ctx, extra = str(context), []
    if case == "missing":
        ctx = str(tmp_path / "nope")
    elif case == "a-file":
        ctx = str(context / "a")
    elif case == "dockerfile-outside-missing":
        extra = ["-f", "../../x"]
    elif case == "dockerfile-is-dir":
        (context / "sub").mkdir()
        extra = ["-f", "sub"]
    elif case == "binary-dockerfile":
        (context / "Dockerfile").write_bytes(b"FROM scratch\n\xff\xfe\x00\x01")
    elif case == "binary-dockerignore":
        (context / ".dockerignore").write_bytes(b"\x80\x81")
    elif case == "empty-f":
        extra = ["-f", ""]
    assert main(["build", ctx, *extra, "--engine", engine]) == 1
    captured = capsys.readouterr()
    err = one_error(captured.err, "build")
    assert "daemon" not in err.lower() and "labkit engine" not in captured.out


def test_build_a_dockerfile_outside_the_context_as_docker_does(context, tmp_path, capsys):
    (tmp_path / "outside.df").write_text("FROM scratch\nCOPY a /b\n")
    assert main(["build", str(context), "-f", "../outside.df", "--engine", "sim"]) == 0
    assert "COPY a /b" in capsys.readouterr().out


def test_build_the_dockerfile_from_stdin(context):
    r = cli("build", str(context), "-f", "-", input=b"FROM scratch\nCOPY a /piped\n", stdin=None)
    assert r.returncode == 0, r.stderr
    assert b"COPY a /piped" in r.stdout


# --------------------------------------------------------------------------- stdin and pipes

@pytest.mark.parametrize("how", ["dash-pipe", "dev-stdin-pipe", "dash-file", "dev-stdin-file"])
def test_flatten_reads_stdin(image, how):
    arg = "-" if how.startswith("dash") else "/dev/stdin"
    if how.endswith("pipe"):
        r = cli("flatten", arg, "--json", input=image.read_bytes(), stdin=None)
    else:
        with open(image, "rb") as f:
            r = cli("flatten", arg, "--json", stdin=f)
    assert r.returncode == 0, r.stderr
    assert b'"etc/conf"' in r.stdout and r.stderr == b""


def test_inspect_and_compare_read_stdin(image):
    r = cli("inspect", "-", input=image.read_bytes(), stdin=None)
    assert r.returncode == 0, r.stderr
    assert b"errs:1" in r.stdout and b"labkit-stdin" not in r.stdout   # named '-', not the copy
    r = cli("compare", str(image), "-", "--json", input=image.read_bytes(), stdin=None)
    assert r.returncode == 0, r.stderr
    r = cli("compare", "-", "-", input=image.read_bytes(), stdin=None)
    assert r.returncode == 2 and b"both" in r.stderr


def test_a_stream_over_the_budget_is_refused(image):
    r = cli("flatten", "-", "--limit", "unpacked_bytes=4096", input=image.read_bytes(), stdin=None)
    assert r.returncode == 1
    err = one_error(r.stderr.decode(), "flatten")
    assert "unpacked_bytes" in err and "--limit unpacked_bytes=N" in err


def test_empty_stdin_is_not_an_image():
    r = cli("flatten", "-")
    assert r.returncode == 1 and b"labkit-stdin" not in r.stderr
    one_error(r.stderr.decode(), "flatten")


def test_a_terminal_on_stdin_is_refused_not_waited_for():
    main_fd, tty = pty.openpty()
    try:
        r = cli("flatten", "-", stdin=tty, timeout=60)
    finally:
        os.close(tty)
        os.close(main_fd)
    assert r.returncode == 1 and b"terminal" in r.stderr


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_devices_are_refused(device, capsys):
    assert main(["flatten", device]) == 1
    assert "character device" in one_error(capsys.readouterr().err, "flatten")


def test_an_endless_device_on_stdin_is_refused():
    with open("/dev/zero", "rb") as zero:
        r = cli("flatten", "-", stdin=zero, timeout=60)
    assert r.returncode == 1 and b"stdin is a character device" in r.stderr


def test_a_fifo_nobody_writes_to_is_refused_in_bounded_time(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(common, "FIFO_WAIT", 0.5)
    fifo = tmp_path / "img.fifo"
    os.mkfifo(fifo)
    started = time.monotonic()
    assert main(["flatten", str(fifo)]) == 1
    assert time.monotonic() - started < 10
    assert "nothing was written to it within 0.5 s" in one_error(capsys.readouterr().err, "flatten")


def test_a_fifo_with_a_writer_is_read(image, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(common, "FIFO_WAIT", 10.0)
    fifo = tmp_path / "img.fifo"
    os.mkfifo(fifo)

    def writer() -> None:
        time.sleep(0.3)
        with open(fifo, "wb") as f:
            f.write(image.read_bytes())
    t = threading.Thread(target=writer)
    t.start()
    try:
        assert main(["flatten", str(fifo), "--json"]) == 0
    finally:
        t.join()
    assert '"etc/conf"' in capsys.readouterr().out


def test_process_substitution(image, capsys):
    """``labkit flatten <(docker save x)``: an anonymous pipe named /proc/self/fd/N."""
    r, w = os.pipe()
    t = threading.Thread(target=lambda: (os.write(w, image.read_bytes()), os.close(w)))
    t.start()
    try:
        assert main(["flatten", f"/proc/self/fd/{r}", "--json"]) == 0
    finally:
        t.join()
        os.close(r)
    assert '"etc/conf"' in capsys.readouterr().out


def test_a_closed_pipe_on_stdout_is_quiet(tmp_path):
    layer = make_layer(*[("f", f"f{i:05d}", b"x") for i in range(4000)])
    write_image_tar([layer], {}, tmp_path / "big.tar")
    code = ("import subprocess, sys\n"
            f"p = subprocess.Popen([sys.executable, '-m', 'labkit', 'flatten', {str(tmp_path / 'big.tar')!r}],"
            " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
            "p.stdout.read(100); p.stdout.close(); err = p.stderr.read(); p.wait()\n"
            "print(p.returncode, repr(err))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120,
                         check=False)
    assert out.stdout.strip() == "0 b''", out.stdout + out.stderr


# --------------------------------------------------------------------------- limits reach the library

def test_limits_reach_the_reader(image, monkeypatch, capsys):
    from labkit.cli import flatten as flatten_cli
    seen = {}

    def fake(source, *, tag=None, digest=True, jobs=None, limits=None):
        seen["env"], seen["limits"] = os.environ.get("LABKIT_LIMITS"), limits
        return {}
    monkeypatch.delenv("LABKIT_LIMITS", raising=False)
    monkeypatch.setattr(flatten_cli, "flatten", fake)
    assert main(["flatten", str(image), "--limit", "path_depth=7", "--limit", "json_depth=9"]) == 0
    assert seen["env"] in ("path_depth=7,json_depth=9", "json_depth=9,path_depth=7")
    assert seen["limits"].path_depth == 7 and seen["limits"].json_depth == 9
    assert "LABKIT_LIMITS" not in os.environ, "restored after the command"


# --------------------------------------------------------------------------- unreadable files

def _unprivileged() -> list[str]:
    """A prefix running a command without the power to read what its mode forbids."""
    if os.geteuid() != 0:
        return []
    if not shutil.which("setpriv"):
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "root without setpriv: cannot drop DAC override")
    drop = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}"]


def _unreadable_tree(root: Path, image: Path) -> None:
    import tarfile
    oci = root / "oci.tar"
    write_image_tar([make_layer(("f", "x", b"x"))], {}, oci, layout="oci")
    for d in ("ocidir", "ocidir_index", "ocidir_blob", "ocidir_nox"):
        (root / d).mkdir()
        with tarfile.open(oci) as t:
            t.extractall(root / d)
    shutil.copy(image, root / "noread.tar")
    (root / "noread.tar").chmod(0)
    (root / "ocidir").chmod(0)
    (root / "ocidir_index" / "index.json").chmod(0)
    for b in (root / "ocidir_blob" / "blobs" / "sha256").iterdir():
        b.chmod(0)
    (root / "ocidir_nox").chmod(0o644)
    (root / "locked").mkdir()
    shutil.copy(image, root / "locked" / "in.tar")
    (root / "locked").chmod(0o600)
    (root / "rules").write_text("rules:\n")
    (root / "rules").chmod(0)
    (root / "rodir").mkdir(mode=0o555)
    (root / "rodir").chmod(0o555)
    (root / "ro.html").write_text("")
    (root / "ro.html").chmod(0o444)
    for name, df in (("ctx_noread", None), ("ctx_nox", None), ("ctx_df", "Dockerfile"),
                     ("ctx_ign", ".dockerignore"), ("ctx_copy", "a")):
        (root / name).mkdir()
        (root / name / "Dockerfile").write_text("FROM scratch\nCOPY a /a\n")
        (root / name / ".dockerignore").write_text("nothing\n")
        (root / name / "a").write_text("a")
        if df:
            (root / name / df).chmod(0)
    (root / "ctx_noread").chmod(0o311)
    (root / "ctx_nox").chmod(0o644)
    (root / "subs").mkdir()
    (root / "subs" / "ann.ipynb").write_text("{}")
    (root / "subs").chmod(0o311)
    (root / "dive").mkdir()
    (root / "dive" / ".dive-ci").write_text("rules:\n")
    (root / "dive" / ".dive-ci").chmod(0)


UNREADABLE = [
    "flatten noread.tar", "flatten ocidir", "flatten ocidir_index", "flatten ocidir_blob",
    "flatten ocidir_nox", "flatten locked/in.tar", "inspect noread.tar", "inspect ocidir",
    "inspect ocidir_blob", "inspect locked/in.tar", "inspect img.tar --ci --ci-config rules",
    "inspect img.tar --html rodir/r.html", "inspect img.tar --html ro.html", "compare noread.tar img.tar",
    "compare img.tar ocidir_blob", "build ctx_noread", "build ctx_nox", "build ctx_df", "build ctx_ign",
    "build ctx_copy", "grade subs", "grade subs --out rodir/g", "notebooks rodir/x",
    "inspect ../img.tar --ci @dive",
]


def test_unreadable_files_and_folders_as_a_non_root_user(image, tmp_path):
    prefix = _unprivileged()
    root = tmp_path / "perm"
    root.mkdir()
    shutil.copy(image, root / "img.tar")
    _unreadable_tree(root, image)
    failures = []
    for case in UNREADABLE:
        argv = case.split()
        cwd = root
        if argv[-1].startswith("@"):
            cwd = root / argv.pop()[1:]
        r = subprocess.run([*prefix, sys.executable, "-m", "labkit", *argv], capture_output=True, text=True, check=False,
                           env=ENV, cwd=cwd, timeout=120, stdin=subprocess.DEVNULL)
        try:
            assert r.returncode == 1, r.returncode
            err = one_error(r.stderr, argv[0])
            assert "ermission denied" in err
        except AssertionError as exc:
            failures.append(f"{case}: {exc}\n{r.stderr}")
    assert not failures, "\n".join(failures)
