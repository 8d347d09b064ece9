"""The explorers, driven headlessly, show what the real systems do.

* Overlay playground: the same button presses on the demo mount and on the kernel's
  overlayfs (the demo layers written to disk) give the same errno for every failing action
  and the same upper directory in the end; the log's copy-up line names the size of the
  file the kernel copied; the diagram changes and marks the copy-up.
* Layer-stack explorer: the merged tree at each layer is the kernel's merged view of the
  layers up to it, and the changes listed are what differs between consecutive views.
* Cache explorer: the hits and misses shown after an edit are the ones the real daemon's
  classic builder reports when it builds the edited Dockerfile after the original.
"""
from __future__ import annotations

import errno
import html
import os
from pathlib import Path

import pytest

from labkit.fs.realfs import read_dir
from labkit.ui.widgets import (
    CacheExplorer, LayerExplorer, OverlayPlayground, SizeView, demo_mount, overlay_playground)
from overlay_oracle import kernel_overlay_of, kernel_walk

# (button, path, target): a lesson's worth of presses, errors included
ACTIONS = [
    ("append", "etc/hosts", ""),           # copy-up of a lower file
    ("write", "etc/motd", ""),             # copy-up from the top lower
    ("delete", "etc/passwd", ""),          # whiteout
    ("delete", "var/log", ""),             # ENOTEMPTY
    ("delete", "var/log/app.log", ""),     # whiteout in an opaque dir's copy
    ("delete", "var/log", ""),             # now empty: whiteout of a directory
    ("mkdir", "var/log", ""),              # mkdir over a whiteout: opaque directory
    ("rename", "app", "app2"),             # lower directory: EXDEV
    ("rename", "app/hello.txt", "app/hi.txt"),  # file rename: copy-up + whiteout
    ("write", "tmp/cache/x", ""),          # parent whited out below: ENOENT
    ("mkdir", "etc/hosts", ""),            # EEXIST
    ("append", "etc", ""),                 # EISDIR
    ("delete", "nope", ""),                # ENOENT
    ("mkdir", "srv", ""),                  # a brand-new directory
    ("write", "srv/new.txt", ""),
]


def _kernel_do(merged: Path, action: str, path: str, target: str, text: str) -> int | None:
    """The same press as a program would do it on the kernel mount; returns the errno."""
    p = merged / path
    try:
        if action == "write":
            p.write_bytes((text + "\n").encode())
        elif action == "append":
            with open(p, "ab") as f:
                f.write((text + "\n").encode())
        elif action == "mkdir":
            os.mkdir(p)
        elif action == "rename":
            os.rename(p, merged / target)
        elif action == "delete":
            if p.is_dir() and not p.is_symlink():
                os.rmdir(p)
            else:
                os.unlink(p)
    except OSError as exc:
        return exc.errno
    return None


def _comparable(layer):
    return {p: (n.kind, n.size if n.kind == "file" else 0, n.opaque, n.data if n.kind == "file" else None)
            for p, n in layer.items()}


def test_playground_does_what_the_kernel_does(kernel_overlay, tmp_path):
    pg = overlay_playground(render=False)
    lowers = list(pg.mount.lowers)
    hosts_size = len(lowers[1]["etc/hosts"].data)
    with kernel_overlay_of(tmp_path, lowers, {}) as (merged, upper):
        for action, path, target in ACTIONS:
            pg.path.value, pg.target.value, pg.text.value = path, target, "labkit"
            before = len(pg.log)
            getattr(pg, f"{action}_button").click()
            shown = pg.log[before:]
            code = _kernel_do(merged, action, path, target, "labkit")
            if code is None:
                assert not any(line.endswith(")") and "(E" in line for line in shown), shown
            else:
                assert any(line.endswith(f"({errno.errorcode[code]})") for line in shown), \
                    (action, path, shown, errno.errorcode[code])
                assert pg.status.value.endswith(f"({errno.errorcode[code]})")
            assert not any("Traceback" in line for line in shown)
        kernel_upper = read_dir(upper)
        kernel_hosts = (merged / "etc/hosts").stat().st_size
    assert _comparable(pg.upper) == _comparable(kernel_upper)
    assert kernel_hosts == hosts_size + len(b"labkit\n")
    assert f"  copied up etc/hosts, {hosts_size} bytes" in pg.log
    assert hosts_size == 220


def test_playground_redraws_the_diagram_with_the_copy_up(kernel_overlay, tmp_path):
    pg = overlay_playground()
    dot0, svg0 = pg.dot_source, pg.diagram.value
    assert "<svg" in svg0 and "(copied up)" not in dot0
    pg.path.value = "etc/hosts"
    pg.append_button.click()
    with kernel_overlay_of(tmp_path, list(pg.mount.lowers), {}) as (merged, upper):
        with open(merged / "etc/hosts", "ab") as f:
            f.write(b"hello\n")
        size = (upper / "etc/hosts").stat().st_size
    assert pg.dot_source != dot0 and pg.diagram.value != svg0
    label = f"{size}B (copied up)"
    drawn = html.unescape(pg.diagram.value).replace("\xa0", " ")   # dot writes "&#160;"
    assert label in pg.dot_source and label in drawn                 # drawn by the real dot
    # the next action's diagram no longer marks the old copy-up
    pg.path.value = "srv"
    pg.mkdir_button.click()
    assert "(copied up)" not in pg.dot_source and "dir (new)" in pg.dot_source


def test_read_only_playground_shows_erofs_like_the_kernel(kernel_overlay, tmp_path):
    from labkit.fs.overlay import Mount
    lowers = list(demo_mount().lowers)
    pg = OverlayPlayground(Mount(lowers, None), render=False)
    pg.path.value = "etc/hosts"
    pg.write_button.click()
    with kernel_overlay_of(tmp_path, lowers, None) as (merged, _):
        code = _kernel_do(merged, "write", "etc/hosts", "", "hello")
    assert code == errno.EROFS
    assert pg.log[-1] == f"write etc/hosts: {os.strerror(code)} (EROFS)"
    assert "upper (none: read-only mount)" in pg.dot_source


def test_layer_explorer_shows_the_kernels_merged_view_at_each_layer(kernel_overlay, tmp_path):
    from labkit.values import HistoryEntry
    layers = list(reversed(demo_mount().lowers))                      # bottom first
    history = [HistoryEntry("CMD [\"sh\"]", True, 0, None),
               HistoryEntry("COPY app /", False, 0, 1),
               HistoryEntry("ADD base.tar /", False, 0, 0)]           # newest first
    le = LayerExplorer(layers, history, render=False)
    views = []
    for i in range(len(layers)):
        with kernel_overlay_of(tmp_path / f"k{i}", list(reversed(layers[: i + 1])), None) as (m, _):
            views.append(kernel_walk(m))
    assert le.index == 0 and le.prev_button.disabled
    for i, view in enumerate(views):
        if i:
            le.next_button.click()
        assert le.index == i
        assert {p: n.kind for p, n in le.tree.items()} == view
        below = views[i - 1] if i else {}
        listed = {c[:1]: set() for c in ("A", "C", "D")}
        for c in le.changes:
            listed[c[:1]].add(c[3:].split(" ")[0])
        assert listed["A"] == set(view) - set(below)
        gone = set(below) - set(view)
        for p in (p for p in gone if p.rsplit("/", 1)[0] not in gone):   # roots of what went
            parent = p.rsplit("/", 1)[0]
            assert p in listed["D"] or any(c.startswith(f"C /{parent} (opaque") for c in le.changes)
        assert f"layer {i}  \u00b7" in le.dot_source and 'penwidth=2.5' in le.dot_source
    assert le.next_button.disabled
    le.slider.value = 0
    assert le.changes[0].startswith("A /") and "penwidth=2.5" in le.dot_source


# what Docker's init layer adds to every container (not part of the image)
DOCKER_INIT = {".dockerenv", "dev", "dev/console", "dev/pts", "dev/shm", "etc", "etc/hostname",
               "etc/hosts", "etc/mtab", "etc/resolv.conf", "proc", "sys"}


def test_layer_explorer_on_a_saved_image_matches_docker_export(docker_engine, docker_client, tmp_path):
    import tarfile
    from labkit.oci.image import open_image
    docker_engine.base_image()
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM labkit/base\n"
                                    "RUN mkdir -p /app/data && echo a > /app/a && echo b > /app/data/b\n"
                                    "RUN rm -r /app/data && echo A > /app/a\n"
                                    "ENV MODE=test\n")
    ref = docker_engine.build(ctx, tag="explorer-test:1").image
    image = open_image(docker_engine.save(ref, tmp_path / "image.tar"))
    le = LayerExplorer.from_image(image, render=False)
    assert le.slider.max == len(image.layers) - 1 == 2
    le.index = le.slider.max
    container = docker_engine.run(ref, "true").container
    with open(tmp_path / "export.tar", "wb") as f:
        for chunk in docker_client.api.export(container):
            f.write(chunk)
    with tarfile.open(tmp_path / "export.tar") as tar:
        exported = {m.name.strip("/").removeprefix("./"): m for m in tar.getmembers()}
    exported.pop("", None)
    assert set(le.tree) - DOCKER_INIT == set(exported) - DOCKER_INIT
    for path in set(le.tree) - DOCKER_INIT:
        node, member = le.tree[path], exported[path]
        assert (node.kind == "dir") == member.isdir() and (node.kind == "symlink") == member.issym()
        if node.kind == "file":
            assert node.size == member.size
    assert "D /app/data (and 1 entry under it)" in le.changes and "C /app/a" in le.changes
    assert "RUN rm -r /app/data" in le.title.value


@pytest.fixture(scope="module")
def cache_case(docker_engine, tmp_path_factory):
    """The original Dockerfile built once by the daemon, and the edited one built after it."""
    ctx = tmp_path_factory.mktemp("cachectx")
    (ctx / "app.txt").write_text("version 1\n")
    original = ("FROM labkit/base\n"
                "ENV MODE=lesson\n"
                "COPY app.txt /app/\n"
                "RUN echo one > /one\n"
                "RUN echo two > /two\n")
    edited = original.replace("echo two", "echo TWO")
    docker_engine.base_image()
    (ctx / "Dockerfile").write_text(original)
    docker_engine.build(ctx, tag="cache-widget:1")
    (ctx / "Dockerfile").write_text(edited)
    record = docker_engine.build(ctx, tag="cache-widget:2")
    return ctx, original, edited, record


def test_cache_explorer_predicts_what_the_daemon_did(cache_case):
    ctx, original, edited, record = cache_case
    ce = CacheExplorer(original, context=ctx,
                       edits={"change the last RUN": lambda t: t.replace("echo two", "echo TWO")})
    assert all(p.hit for p in ce.predictions)      # the unchanged file: all from the cache
    ce.edit.value = "change the last RUN"
    assert ce.dockerfile.value == edited
    real = {s.n: s.cached for s in record.steps}
    shown = {p.step: p.hit for p in ce.predictions}
    assert shown == {n: real[n] for n in shown}
    assert set(shown.values()) == {True, False}
    assert any(line.startswith(f"step {n}: MISS") for n, c in real.items() if not c
               for line in ce.lines)
    assert ce.dot_source.count('fillcolor="#a9d18e"') == sum(shown.values())


def test_cache_explorer_shows_a_parse_error_as_one_line():
    ce = CacheExplorer("FROM labkit/base\nRUN true\n", render=False)
    ce.dockerfile.value = "FROM labkit/base\nRUNN true\n"
    ce.predict_button.click()
    assert ce.predictions == [] and len(ce.lines) == 1
    assert "line 2" in ce.error and "RUNN" in ce.error and "Traceback" not in ce.error


def test_size_view_orders_bars(tmp_path):
    sizes = {}
    for name, n in (("small", 10), ("big", 3000), ("mid", 700)):
        (tmp_path / name).write_bytes(b"x" * n)
        sizes[name] = (tmp_path / name).stat().st_size
    sv = SizeView(sizes)

    def order() -> list[str]:
        return sorted(sizes, key=lambda k: sv.svg.index(f"<title>{k}:"))

    assert order() == ["small", "big", "mid"]
    sv.order.value = "largest first"
    assert order() == ["big", "mid", "small"]
    assert sv.chart.value == sv.svg and "3kB" in sv.svg


def test_playground_without_graphviz_dot_says_how_to_fix_it(tmp_path):
    """With no ``dot`` on PATH the buttons still work and the diagram area names the fix."""
    import subprocess
    import sys
    code = ("from labkit.ui.widgets import overlay_playground\n"
            "pg = overlay_playground()\n"
            "pg.append_button.click()\n"
            "print(pg.log[2])\n"
            "print(pg.diagram.value)\n")
    out = subprocess.run([sys.executable, "-c", code], env={"PATH": str(tmp_path)},
                         capture_output=True, text=True, check=True).stdout
    assert out.startswith("  copied up etc/hosts, 220 bytes\n")
    assert "cannot draw the diagram" in out and "apt-get install graphviz" in out
    assert "Traceback" not in out


def test_playground_shows_what_was_done_to_the_mount_before_it(kernel_overlay, tmp_path):
    mount = demo_mount()
    lowers = list(mount.lowers)
    mount.unlink("etc/passwd")
    pg = OverlayPlayground(mount, render=False)
    with kernel_overlay_of(tmp_path, lowers, {}) as (merged, upper):
        os.unlink(merged / "etc/passwd")
        kernel_upper = read_dir(upper)
    assert "  whiteout etc/passwd" in pg.log
    assert kernel_upper["etc/passwd"].kind == "whiteout"
    assert "<b>whiteout</b>" in pg.dot_source


def test_demo_cache_explorer_misses_from_the_first_changed_step():
    """The classic builder's rule: every step before the first changed one hits, every step
    from it on (in that stage) misses. The changed line is found here with difflib."""
    import difflib
    from labkit.ui.widgets import cache_explorer
    ce = cache_explorer(render=False)
    original = ce.dockerfile.value.splitlines()
    for name in ce.edits:
        ce.edit.value = name
        edited = ce.dockerfile.value.splitlines()
        ops = [op for op in difflib.SequenceMatcher(a=original, b=edited).get_opcodes() if op[0] != "equal"]
        first_changed = ops[0][3] + 1                     # 1-based line in the edited file
        changed_is_step = not edited[first_changed - 1].startswith("#")
        for p in ce.predictions:
            should_hit = not changed_is_step or p.line < first_changed
            assert p.hit == should_hit, (name, p)
        ce.edit.value = "(type your own edit)"
