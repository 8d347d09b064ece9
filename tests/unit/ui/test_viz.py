"""Diagrams say what the real systems do.

* ``entry_sources`` / ``overlay_diagram``: checked against the kernel's overlayfs — every
  merged file's content comes from the layer the diagram names, every merged directory's
  entries come from the layers it lists, and after a write/delete the upper shown (and
  marked copied-up / whiteout) is the upper directory the kernel wrote.
* ``layer_stack`` / ``size_chart``: sizes printed exactly as ``docker history`` prints them
  for an image built by the real daemon, empty-layer steps where Docker reports them.
* DOT source is deterministic across processes with different hash seeds.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET

import pytest
from overlay_oracle import kernel_overlay_of, kernel_walk

from labkit.fs.node import LayerDir, Node
from labkit.fs.overlay import Mount
from labkit.fs.realfs import read_dir
from labkit.ui.viz import (
    entry_sources,
    history_bottom_first,
    human_size,
    layer_stack,
    overlay_columns,
    overlay_diagram,
    overlay_rows,
    render_svg,
    size_chart,
)


def _f(text: str) -> Node:
    return Node.file(text.encode())


# Each file's content names its layer, so the kernel's answer is readable from the file.
BOTTOM: LayerDir = {
    "etc": Node.dir(), "etc/hosts": _f("hosts from bottom"), "etc/passwd": _f("passwd from bottom"),
    "app": Node.dir(), "app/a": _f("a from bottom"), "app/b": _f("b from bottom"),
    "var": Node.dir(), "var/log": Node.dir(), "var/log/old": _f("old from bottom"),
    "opt": Node.dir(), "opt/x": _f("x from bottom"),
}
MIDDLE: LayerDir = {
    "etc": Node.dir(), "etc/hosts": _f("hosts from middle"),
    "app": Node.dir(), "app/b": Node.whiteout(), "app/c": _f("c from middle"),
    "var": Node.dir(), "var/log": Node.dir().with_opaque(), "var/log/new": _f("new from middle"),
    "opt": _f("opt is a file in middle"),
}
TOP: LayerDir = {
    "etc": Node.dir(), "etc/motd": _f("motd from top"),
    "app": Node.dir(), "app/a": _f("a from top"),
}
UPPER: LayerDir = {
    "etc": Node.dir(), "etc/passwd": _f("passwd from upper"), "etc/motd": Node.whiteout(),
    "srv": Node.dir(), "srv/s": _f("s from upper"),
}


def _layer_by_name(mount: Mount) -> dict[str, LayerDir]:
    lowers = list(mount.lowers)
    names = {"upper": mount.upper}
    for i, layer in enumerate(lowers):
        suffix = " (top)" if i == 0 else " (bottom)" if i == len(lowers) - 1 else ""
        names[f"lower {i}{suffix}"] = layer
    return names


def test_entry_sources_are_where_the_kernel_takes_each_entry_from(kernel_overlay, tmp_path):
    mount = Mount([TOP, MIDDLE, BOTTOM], dict(UPPER))
    sources = entry_sources(mount)
    by_name = _layer_by_name(mount)
    with kernel_overlay_of(tmp_path, [TOP, MIDDLE, BOTTOM], dict(UPPER)) as (merged, _):
        seen = kernel_walk(merged)
        assert sorted(sources) == sorted(seen)
        for path, kind in seen.items():
            names = sources[path]
            assert names, path
            if kind == "file":
                content = (merged / path).read_bytes()
                assert len(names) == 1, (path, names)
                assert by_name[names[0]][path].data == content, (path, names)
            elif kind == "dir":
                # every entry the kernel lists in this directory comes from one of the
                # layers the diagram says the directory merges
                for child in os.listdir(merged / path):
                    child_src = sources[f"{path}/{child}"][0]
                    assert child_src in names, (path, child, child_src, names)
    # the kernel's answers that make this check meaningful (not vacuous)
    assert sources["etc/hosts"] == ("lower 1",)
    assert sources["opt"] == ("lower 1",) and "opt/x" not in sources
    assert "var/log/old" not in sources and sources["var/log"] == ("lower 1",)
    assert sources["etc"] == ("upper", "lower 0 (top)", "lower 1", "lower 2 (bottom)")
    assert sources["etc/passwd"] == ("upper",) and "etc/motd" not in sources


def test_overlay_diagram_shows_the_upper_the_kernel_wrote(kernel_overlay, tmp_path):
    mount = Mount([TOP, MIDDLE, BOTTOM], {})
    mount.write("etc/hosts", b"+ appended\n", append=True)
    mount.unlink("app/a")
    events = mount.take_events()
    rows = {r.path: r for r in overlay_rows(mount, events)}
    assert overlay_columns(mount) == ("lower 2 (bottom)", "lower 1", "lower 0 (top)", "upper")
    dot = overlay_diagram(mount, events).source
    with kernel_overlay_of(tmp_path, [TOP, MIDDLE, BOTTOM], {}) as (merged, upper):
        with open(merged / "etc/hosts", "ab") as f:
            f.write(b"+ appended\n")
        os.unlink(merged / "app/a")
        kernel_upper = read_dir(upper)
        kernel_view = kernel_walk(merged)
    lower_hosts = len(b"hosts from middle")
    # the upper column is the upper directory the kernel wrote, entry by entry, marked
    assert {p for p, r in rows.items() if r.cells[-1].kind} == set(kernel_upper)
    for path, node in kernel_upper.items():
        cell = rows[path].cells[-1]
        assert cell.kind == node.kind
        assert cell.mark == ("whiteout" if node.kind == "whiteout" else "copied up")
        if node.kind == "file":
            assert f"{human_size(node.size)} (copied up)" in dot
    # the merged column is the kernel's merged view
    assert {p for p, r in rows.items() if r.merged} == set(kernel_view)
    # the copy-up event reports the size of the whole lower file the kernel copied
    assert f"copied up etc/hosts, {lower_hosts} bytes" in [str(e) for e in events]
    # entries the kernel does not show are drawn grey in their layers
    assert not rows["app/a"].merged and not any(c.used for c in rows["app/a"].cells)
    assert rows["opt/x"].cells[0].kind == "file" and not rows["opt/x"].cells[0].used


def test_read_only_mount_is_drawn_without_upper(kernel_overlay, tmp_path):
    mount = Mount([TOP, BOTTOM], None)
    dot = overlay_diagram(mount).source
    assert "upper (none: read-only mount)" in dot
    with kernel_overlay_of(tmp_path, [TOP, BOTTOM], None) as (merged, _):
        with pytest.raises(OSError) as kernel_err:
            (merged / "etc/hosts").write_bytes(b"x")
    with pytest.raises(OSError) as model_err:
        mount.write("etc/hosts", b"x")
    assert model_err.value.errno == kernel_err.value.errno


def _dot_in_fresh_process(seed: str) -> str:
    code = textwrap.dedent("""
        from labkit.fs.node import Node
        from labkit.fs.overlay import Mount
        from labkit.ui.viz import overlay_diagram
        names = ["zeta", "alpha", "mid", "b/c", "b"]
        lower = {}
        for n in ["b", "zeta", "alpha", "mid", "b/c"]:
            lower[n] = Node.dir() if n == "b" else Node.file(n.encode())
        m = Mount([lower], {})
        m.write("zeta", b"z2")
        m.unlink("alpha")
        print(overlay_diagram(m, m.take_events()).source)
    """)
    env = dict(os.environ, PYTHONHASHSEED=seed)
    return subprocess.run([sys.executable, "-c", code], env=env, check=True,
                          capture_output=True, text=True).stdout


def test_dot_source_is_the_same_in_every_process():
    a, b = _dot_in_fresh_process("1"), _dot_in_fresh_process("12345")
    assert a == b
    assert "0x" not in a and "(copied up)" in a and "<b>whiteout</b>" in a


@pytest.fixture(scope="module")
def built_image(docker_engine, tmp_path_factory):
    """An image with an empty-layer step and layers of known sizes, built by the daemon."""
    base = docker_engine.base_image()
    ctx = tmp_path_factory.mktemp("ctx")
    (ctx / "Dockerfile").write_text(
        f"FROM {base.tags[0] if base.tags else base.id}\n"
        "ENV GREETING=hello\n"
        "RUN echo hello > /hello.txt\n"
        "RUN dd if=/dev/zero of=/blob bs=1000 count=1234\n"
        "RUN rm /blob\n"
        'CMD ["sh"]\n')
    record = docker_engine.build(ctx, tag="viz-test:1")
    return record.image


def test_layer_stack_and_size_chart_show_docker_history_sizes(docker_engine, built_image):
    history = docker_engine.history(built_image)          # newest first, as docker prints
    out = subprocess.run(["docker", "history", "--format", "{{.Size}}", built_image.id],
                         check=True, capture_output=True, text=True).stdout.split()
    assert len(out) == len(history)
    steps = history_bottom_first(history)
    assert steps == list(reversed(history))
    dot = layer_stack(history).source
    chart = ET.fromstring(size_chart(history).svg)
    bar_sizes = [t.text for g in chart.iter("{http://www.w3.org/2000/svg}g")
                 for t in g.findall("{http://www.w3.org/2000/svg}text")[1:]]
    layer_rows = [(h, printed) for h, printed in zip(history, out) if not h.empty_layer]
    for h, printed in zip(history, out):
        if h.empty_layer:
            assert printed == "0B"
        else:
            assert human_size(h.size) == printed
            assert f"layer {h.layer_index}  \u00b7  {printed}" in dot
    # one bar per layer, oldest first, labelled as docker prints the size
    assert bar_sizes == [p for _, p in reversed(layer_rows)]
    assert dot.count("no layer (metadata only)") == sum(1 for h in history if h.empty_layer) >= 2
    # dot renders it (real Graphviz)
    svg = render_svg(layer_stack(history, highlight=1))
    assert svg.startswith("<svg") and "1.23MB" in svg


def test_size_chart_bars_scale_with_size():
    sizes = {"small": 1000, "big": 4_000_000, "none": 0, "mid": 2_000_000}
    svg = ET.fromstring(size_chart(sizes, sort=True).svg)
    ns = "{http://www.w3.org/2000/svg}"
    rects = [(g.find(f"{ns}text").text, float(g.find(f"{ns}rect").get("width")))
             for g in svg.iter(f"{ns}g")]
    assert [name for name, _ in rects] == ["big", "mid", "small", "none"]
    widths = dict(rects)
    assert widths["big"] == pytest.approx(2 * widths["mid"], abs=1)
    assert widths["big"] > widths["small"] >= widths["none"]


def test_efficiency_chart_shows_the_deleted_blob_as_wasted(docker_engine, docker_client, built_image,
                                                           tmp_path):
    from labkit.analysis.efficiency import analyze
    from labkit.oci.image import open_image
    from labkit.ui.viz import efficiency_chart
    image = open_image(docker_engine.save(built_image, tmp_path / "image.tar"))
    chart = efficiency_chart(analyze(image, scan_secrets=False))
    history = [h for h in docker_engine.history(built_image) if not h.empty_layer]
    printed = subprocess.run(["docker", "history", "--format", "{{.CreatedBy}}\t{{.Size}}",
                              "--no-trunc", built_image.id], check=True, capture_output=True,
                             text=True).stdout.splitlines()
    blob_size = next(line.rsplit("\t", 1)[1] for line in printed if "of=/blob" in line)
    # the daemon's own container of the image has no /blob: those bytes are wasted
    container = docker_engine.run(built_image, "test ! -e /blob", keep=False)
    assert container.exit_code == 0
    ns = "{http://www.w3.org/2000/svg}"
    layers = list(ET.fromstring(chart.svg).iter(f"{ns}g"))
    assert len(layers) == len(history)
    wasted = [g for g in layers if g.find(f"{ns}rect[@class='wasted']") is not None]
    assert len(wasted) == 1
    assert wasted[0].findall(f"{ns}text")[-1].text == f"{blob_size} ({blob_size} wasted)"
    assert f"{blob_size} invisible in the final filesystem" in chart.svg


def test_importing_the_visual_modules_loads_neither_graphviz_nor_ipywidgets():
    code = ("import sys, labkit.ui.viz, labkit.ui.widgets\n"
            "print(sorted(m for m in ('graphviz', 'ipywidgets', 'IPython') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_a_big_mount_keeps_the_telling_rows(kernel_overlay, tmp_path):
    """Over a real busybox base (hundreds of paths) the table keeps what the action did."""
    from labkit.engine.baseimage import base_layer
    base = base_layer()
    mount = Mount([base], {})
    mount.write("etc/motd", b"hi\n")
    events = mount.take_events()
    dot = overlay_diagram(mount, events, max_entries=8, focus=["etc/passwd"]).source
    with kernel_overlay_of(tmp_path, [base], {}) as (merged, upper):
        (merged / "etc/motd").write_bytes(b"hi\n")
        kernel_upper = read_dir(upper)
        total = len(kernel_walk(merged))
    assert total > 100
    for path in kernel_upper:                      # every entry of the kernel's upper is shown
        assert f'<td align="left">{path}</td>' in dot
    assert '<td align="left">etc/passwd</td>' in dot
    assert dot.count("<tr>") == 1 + 8 + 2          # header, 8 rows, "more", legend
    assert f"... {total - 8} more paths not shown" in dot
