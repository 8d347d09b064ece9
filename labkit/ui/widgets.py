"""Small interactive explorers for the lessons (ipywidgets, imported lazily).

Each explorer is a plain class holding real ipywidgets controls as attributes, so its state
can be driven from Python exactly as a learner drives it with the mouse::

    pg = overlay_playground()
    pg.path.value = "etc/hosts"
    pg.write_button.click()
    pg.log[-1]          # 'copied up etc/hosts, 220 bytes' ... (what the overlay did)
    pg.dot_source       # the diagram now shown, as DOT text

Displaying the object in a notebook shows its controls (``pg.widget``). What it shows is
also exposed as values (``dot_source``, ``log``, ``tree`` ...), so tests and exercise checks
read the same thing the learner sees. Diagrams come from ``labkit.ui.viz`` and are rendered to
inline SVG with Graphviz's ``dot``; when ``dot`` is missing the diagram area says how to
install it and everything else keeps working.
"""
from __future__ import annotations

import errno as _errno
import html
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..build import cache, dockerfile
from ..build.context import list_context
from ..errors import LabkitError
from ..formatting import short_instruction
from ..fs.layers import size_on_disk
from ..fs.node import LayerDir, Node, Tree
from ..fs.overlay import Mount
from .viz import cache_diagram, human_size, layer_stack, overlay_diagram, render_svg, size_chart

if TYPE_CHECKING:  # pragma: no cover
    from ..values import HistoryEntry

__all__ = ["OverlayPlayground", "overlay_playground", "demo_mount", "LayerExplorer",
           "SizeView", "CacheExplorer", "cache_explorer", "error_text", "tree_listing",
           "layer_changes"]

_DOT_FIX = ("install Graphviz's dot program (Debian: apt-get install graphviz; conda: "
            "conda install -c conda-forge python-graphviz), then re-run the cell")


def _ipw():
    import ipywidgets
    return ipywidgets


def error_text(exc: BaseException, action: str = "") -> str:
    """One line for a failed call, as a shell prints it: ``rmdir etc: Directory not empty
    (ENOTEMPTY)``. Never a traceback."""
    head = f"{action}: " if action else ""
    if isinstance(exc, OSError) and exc.errno is not None:
        name = _errno.errorcode.get(exc.errno, str(exc.errno))
        return f"{head}{exc.strerror or exc.args[-1]} ({name})"
    if isinstance(exc, LabkitError):
        return f"{head}{str(exc).splitlines()[0]}"
    return f"{head}{type(exc).__name__}: {exc}"


def _svg_or_message(graph: Any) -> str:
    """The graph as inline SVG HTML, or a short message when Graphviz's dot is missing."""
    try:
        return f'<div class="labkit-diagram">{render_svg(graph)}</div>'
    except Exception as exc:  # graphviz.ExecutableNotFound and friends: say what to do
        return (f'<div class="labkit-diagram-error"><b>cannot draw the diagram:</b> '
                f'{html.escape(type(exc).__name__)}: {html.escape(str(exc).splitlines()[0])}'
                f'<br>fix: {html.escape(_DOT_FIX)}</div>')


def _pre(lines: Sequence[str], empty: str = "(nothing)", max_height: str = "") -> str:
    text = "\n".join(lines) if lines else empty
    box = f"max-height:{max_height};overflow:auto;" if max_height else ""
    return f'<pre style="margin:0;line-height:1.3;{box}">{html.escape(text)}</pre>'


def tree_listing(tree: Tree, limit: int = 500, mark: Sequence[str] = ()) -> list[str]:
    """A merged tree as ``ls -l``-like lines, sorted by path: kind, mode, size, /path.
    Paths in ``mark`` (e.g. what the current layer changed) end with an arrow."""
    marked = set(mark)
    out = []
    for path in sorted(tree)[:limit]:
        node = tree[path]
        kind = {"dir": "d", "symlink": "l", "char": "c", "block": "b", "fifo": "p"}.get(node.kind, "-")
        what = f"/{path}/" if node.kind == "dir" else f"/{path}"
        if node.kind == "symlink":
            what += f" -> {node.linkname}"
        size = human_size(node.size) if node.kind == "file" else ""
        out.append(f"{kind}{node.mode & 0o7777:04o} {size:>7}  {what}" + ("  \u2190" if path in marked else ""))
    if len(tree) > limit:
        out.append(f"... {len(tree) - limit} more")
    return out


class _Shown:
    """Shared display plumbing: ``widget`` is the root box shown in the notebook."""

    widget: Any

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def _ipython_display_(self) -> None:
        from IPython.display import display
        display(self.widget)


# -- overlay playground ----------------------------------------------------------------------

class OverlayPlayground(_Shown):
    """Act on an overlay ``Mount`` and watch what the kernel's rules do to the upper layer.

    Controls: ``path`` (a path in the mount), ``text`` (what Write/Append put in, a newline
    added like ``echo``), ``target`` (where Rename moves ``path``), and the buttons
    ``write_button``, ``append_button``, ``delete_button``, ``mkdir_button``,
    ``rename_button``. After each action the overlay diagram is redrawn with what the
    action did highlighted, and the mount's events are added to ``log`` ("copied up
    etc/hosts, 220 bytes"). Errors are logged as the kernel's errno message
    ("rmdir etc: Directory not empty (ENOTEMPTY)"), never as a traceback.
    """

    def __init__(self, mount: "Mount", *, path: str = "etc/hosts", text: str = "hello",
                 paths: Sequence[str] | None = None, render: bool = True) -> None:
        w = _ipw()
        self.mount = mount
        self.paths = paths
        self.render = render
        self.log: list[str] = []
        self.last_events: list[Any] = []
        self.dot_source = ""
        self.path = w.Text(value=path, description="path", placeholder="etc/hosts")
        self.text = w.Text(value=text, description="text")
        self.target = w.Text(value="", description="rename to", placeholder="etc/hosts.bak")
        self.write_button = w.Button(description="Write", tooltip="echo TEXT > PATH")
        self.append_button = w.Button(description="Append", tooltip="echo TEXT >> PATH")
        self.delete_button = w.Button(description="Delete", tooltip="rm PATH (rmdir for a directory)")
        self.mkdir_button = w.Button(description="Mkdir", tooltip="mkdir PATH")
        self.rename_button = w.Button(description="Rename", tooltip="mv PATH TARGET (rename(2))")
        self.status = w.Label(value="")
        self.diagram = w.HTML(value="")
        self.log_view = w.HTML(value="")
        self.write_button.on_click(lambda _b: self.act("write"))
        self.append_button.on_click(lambda _b: self.act("append"))
        self.delete_button.on_click(lambda _b: self.act("delete"))
        self.mkdir_button.on_click(lambda _b: self.act("mkdir"))
        self.rename_button.on_click(lambda _b: self.act("rename"))
        buttons = w.HBox([self.write_button, self.append_button, self.delete_button,
                          self.mkdir_button, self.rename_button])
        self.widget = w.VBox([w.HBox([self.path, self.text]), w.HBox([self.target]), buttons,
                              self.status, self.diagram, self.log_view])
        earlier = mount.take_events()          # what a lesson did before: shown, not lost
        if earlier:
            self.last_events = earlier
            self.log.append("(before the playground)")
            self.log.extend(f"  {e}" for e in earlier)
        self.redraw()

    def act(self, action: str) -> list[Any]:
        """Do one action (``write``, ``append``, ``delete``, ``mkdir``, ``rename``) with the
        current control values; returns the mount's events for it (empty on error)."""
        m = self.mount
        path = self.path.value.strip()
        data = (self.text.value + "\n").encode()
        target = self.target.value.strip()
        words = {"write": f"echo {self.text.value!r} > {path}",
                 "append": f"echo {self.text.value!r} >> {path}",
                 "delete": f"rm {path}", "mkdir": f"mkdir {path}",
                 "rename": f"mv {path} {target}"}
        if action not in words:
            raise ValueError(f"unknown action {action!r}; use one of {sorted(words)}")
        self.log.append(f"$ {words[action]}")
        m.take_events()   # only what this action does is shown
        try:
            if not path:
                raise OSError(_errno.ENOENT, "No such file or directory", path)
            if action == "write":
                m.write(path, data)
            elif action == "append":
                m.write(path, data, append=True)
            elif action == "mkdir":
                m.mkdir(path)
            elif action == "rename":
                if not target:
                    raise OSError(_errno.ENOENT, "No such file or directory (type a target)", target)
                m.rename(path, target)
            else:
                if m.stat(path, follow=False).kind == "dir":
                    action = "rmdir"
                    m.rmdir(path)
                else:
                    m.unlink(path)
        except (OSError, LabkitError) as exc:
            events = m.take_events()
            line = error_text(exc, f"{action} {path}")
            self.log.append(line)
            self.log.extend(f"  {e}" for e in events)
            self.last_events = events
            self.status.value = line
            self.redraw()
            return []
        events = m.take_events()
        self.last_events = events
        self.log.extend(f"  {e}" for e in events)
        if not events:
            self.log.append("  (the upper layer did not change)")
        self.status.value = f"{action} {path}: " + ("; ".join(str(e) for e in events)
                                                     or "no change to the upper layer")
        self.redraw()
        return events

    def redraw(self) -> None:
        """Rebuild the diagram (highlighting the last action's events) and the log view."""
        focus = [p for p in (self.path.value, self.target.value) if p.strip()]
        graph = overlay_diagram(self.mount, self.last_events, paths=self.paths, focus=focus)
        self.dot_source = graph.source
        self.diagram.value = _svg_or_message(graph) if self.render else ""
        self.log_view.value = _pre(self.log[-40:], "(no actions yet: type a path and press a button)",
                                   "20em")

    @property
    def upper(self) -> LayerDir:
        """The mount's upper layer directory as it is now."""
        return dict(self.mount.upper)


_HOSTS = (b"127.0.0.1\tlocalhost\n"
          b"::1\tlocalhost ip6-localhost ip6-loopback\n"
          b"fe00::0\tip6-localnet\n"
          b"ff00::0\tip6-mcastprefix\n"
          b"ff02::1\tip6-allnodes\n"
          b"ff02::2\tip6-allrouters\n"
          b"172.17.0.2\tdemo\n"
          b"10.0.0.5\tdb\n"
          b"10.0.0.6\tcaches\n"
          b"# added by the demo image\n")


def demo_mount() -> "Mount":
    """A small overlay mount for the lessons: two lower layers and an empty upper.

    lower 1 (bottom, "the base image"): ``etc/hosts``, ``etc/passwd``, ``bin/sh`` (a
    symlink), ``tmp/cache/a.tmp``. lower 0 (top, "the app layer"): ``app/hello.txt``,
    ``etc/motd``, a whiteout deleting ``tmp/cache`` and an opaque ``var/log`` hiding the
    base's ``var/log/old.log``."""
    t = 1_700_000_000
    base: LayerDir = {
        "bin": Node.dir(mtime=t), "bin/sh": Node.symlink("busybox", mtime=t),
        "bin/busybox": Node.file(b"\x7fELF(pretend busybox)\n", mode=0o755, mtime=t),
        "etc": Node.dir(mtime=t), "etc/hosts": Node.file(_HOSTS, mtime=t),
        "etc/passwd": Node.file(b"root:x:0:0:root:/root:/bin/sh\n", mtime=t),
        "tmp": Node.dir(0o1777, mtime=t), "tmp/cache": Node.dir(mtime=t),
        "tmp/cache/a.tmp": Node.file(b"x" * 1000, mtime=t),
        "var": Node.dir(mtime=t), "var/log": Node.dir(mtime=t),
        "var/log/old.log": Node.file(b"old log line\n" * 10, mtime=t),
    }
    app: LayerDir = {
        "app": Node.dir(mtime=t + 60), "app/hello.txt": Node.file(b"hello from the app layer\n", mtime=t + 60),
        "etc": Node.dir(mtime=t + 60), "etc/motd": Node.file(b"Welcome to the overlay playground\n", mtime=t + 60),
        "tmp": Node.dir(0o1777, mtime=t + 60), "tmp/cache": Node.whiteout(),
        "var": Node.dir(mtime=t + 60), "var/log": Node.dir(mtime=t + 60).with_opaque(),
        "var/log/app.log": Node.file(b"started\n", mtime=t + 60),
    }
    return Mount([app, base], {}, clock=lambda: t + 3600)


def overlay_playground(mount: "Mount | None" = None, **kwargs: Any) -> OverlayPlayground:
    """An ``OverlayPlayground`` on ``mount``, or on ``demo_mount()`` (two lowers, empty upper)."""
    return OverlayPlayground(mount if mount is not None else demo_mount(), **kwargs)


# -- layer-stack explorer --------------------------------------------------------------------

def _n(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def layer_changes(below: Tree, layer: LayerDir) -> list[str]:
    """What one layer does to the filesystem below it, ``docker diff`` style, sorted:
    ``A /new``, ``C /changed``, ``D /deleted`` (a whiteout of something that existed), and
    ``C /dir (opaque: hides N entries below)`` for an opaque directory."""
    out = []
    for path in sorted(layer):
        node = layer[path]
        if node.kind == "whiteout":
            if path in below:
                gone = sum(1 for p in below if p.startswith(path + "/"))
                out.append(f"D /{path}" + (f" (and {_n(gone, 'entry', 'entries')} under it)"
                                           if gone else ""))
            continue
        line = f"{'C' if path in below else 'A'} /{path}"
        if node.opaque:
            hidden = sum(1 for p in below if p.startswith(path + "/"))
            line += f" (opaque: hides {_n(hidden, 'entry', 'entries')} below)" if hidden else " (opaque)"
        out.append(line)
    return out


class LayerExplorer(_Shown):
    """Step through an image's layers, bottom (the base) to top.

    ``layers`` are layer directories, bottom first (``Image.layer_dir(i)``); ``history`` the
    image's ``HistoryEntry`` values (either order). ``slider`` (or ``prev_button`` /
    ``next_button``) selects layer ``index``; the explorer then shows the merged tree of
    layers ``0..index`` (``tree``, ``tree_view``), that layer's changes (``changes``,
    ``changes_view``) and the layer stack with the layer marked (``dot_source``,
    ``stack_view``)."""

    def __init__(self, layers: Sequence[LayerDir], history: Sequence["HistoryEntry"] = (), *,
                 render: bool = True) -> None:
        if not layers:
            raise LabkitError("LayerExplorer needs at least one layer",
                              fix="pass the image's layer directories, bottom first")
        w = _ipw()
        self.layers = [dict(layer) for layer in layers]
        self.history = list(history)
        self.render = render
        self.tree: Tree = {}
        self.changes: list[str] = []
        self.dot_source = ""
        self.slider = w.IntSlider(value=0, min=0, max=len(self.layers) - 1, description="layer",
                                  continuous_update=False)
        self.prev_button = w.Button(description="\u25c0 lower", tooltip="the layer below")
        self.next_button = w.Button(description="higher \u25b6", tooltip="the layer above")
        self.title = w.HTML(value="")
        self.stack_view = w.HTML(value="")
        self.tree_view = w.HTML(value="")
        self.changes_view = w.HTML(value="")
        self.prev_button.on_click(lambda _b: self.step(-1))
        self.next_button.on_click(lambda _b: self.step(+1))
        self.slider.observe(lambda _c: self.refresh(), names="value")
        views = w.VBox([w.HTML("<b>this layer's changes</b>"), self.changes_view,
                        w.HTML("<b>merged view up to this layer</b> (\u2190 this layer wrote it)"),
                        self.tree_view])
        self.widget = w.VBox([w.HBox([self.prev_button, self.slider, self.next_button]),
                              self.title, w.HBox([self.stack_view, views])])
        self.refresh()

    @classmethod
    def from_image(cls, image: Any, **kwargs: Any) -> "LayerExplorer":
        """From a ``labkit.oci.image.Image`` (``open_image(...)``): its layers and history."""
        layers = [image.layer_dir(i) for i in range(len(image.layers))]
        return cls(layers, image.history, **kwargs)

    @property
    def index(self) -> int:
        return int(self.slider.value)

    @index.setter
    def index(self, value: int) -> None:
        self.slider.value = max(self.slider.min, min(self.slider.max, int(value)))

    def step(self, delta: int) -> None:
        self.index = self.index + delta

    def instruction(self, index: int | None = None) -> str:
        i = self.index if index is None else index
        for h in self.history:
            if h.layer_index == i:
                return h.created_by
        return ""

    def refresh(self) -> None:
        i = self.index
        below = Mount(list(reversed(self.layers[:i])), None).tree() if i else {}
        self.tree = Mount(list(reversed(self.layers[: i + 1])), None).tree()
        self.changes = layer_changes(below, self.layers[i])
        self.prev_button.disabled = i == 0
        self.next_button.disabled = i == len(self.layers) - 1
        what = short_instruction(self.instruction(i), 100_000)
        self.title.value = (f"<b>layer {i}</b> of {len(self.layers)} \u00b7 "
                            f"{html.escape(human_size(size_on_disk(self.layers[i])))}"
                            + (f" \u00b7 <code>{html.escape(what)}</code>" if what else ""))
        if self.history:
            graph = layer_stack(self.history, highlight=i, width=44, box_width=3.4)
            self.dot_source = graph.source
            self.stack_view.value = _svg_or_message(graph) if self.render else ""
        self.tree_view.value = _pre(tree_listing(self.tree, mark=self.layers[i]), "(empty)", "28em")
        self.changes_view.value = _pre(self.changes, "(no changes)", "12em")


# -- sizes -----------------------------------------------------------------------------------

class SizeView(_Shown):
    """A bar chart of layer (or any) sizes with an order switch: ``order.value`` is
    ``"build order"`` or ``"largest first"``; ``svg`` is the chart now shown."""

    def __init__(self, sizes: Any, *, title: str = "layer sizes") -> None:
        w = _ipw()
        self.sizes = sizes
        self.title = title
        self.svg = ""
        self.order = w.ToggleButtons(options=["build order", "largest first"], value="build order")
        self.chart = w.HTML(value="")
        self.order.observe(lambda _c: self.refresh(), names="value")
        self.widget = w.VBox([self.order, self.chart])
        self.refresh()

    def refresh(self) -> None:
        chart = size_chart(self.sizes, title=self.title, sort=self.order.value == "largest first")
        self.svg = chart.svg
        self.chart.value = chart.svg


# -- build cache -----------------------------------------------------------------------------

class CacheExplorer(_Shown):
    """Edit a Dockerfile (``dockerfile.value``) or pick a prepared edit (``edit``) and see
    which steps the classic builder would take from its cache after building the original.

    ``dockerfile`` is the original text, as built once; ``context`` its build context
    directory (needed for COPY/ADD). ``edits`` maps a name to a function from the original
    text to an edited text. Each prediction (``labkit.build.cache.predict`` on the edited text, with
    the cache the original build left) is shown as a diagram (``dot_source``) and as text
    (``lines``, one per step: ``step 3: MISS   RUN ... (reason)``). A Dockerfile that does not
    parse shows its error line instead (``error``), never a traceback."""

    def __init__(self, dockerfile: str, *, context: Any = None,
                 build_args: dict[str, str] | None = None,
                 edits: dict[str, Callable[[str], str]] | None = None, render: bool = True,
                 predict: Callable[[str, str], Sequence[Any]] | None = None) -> None:
        w = _ipw()
        self.base_text = dockerfile
        self.context = context
        self.build_args = dict(build_args or {})
        self.predict = predict or self._predict
        self.edits = dict(edits or {})
        self.render = render
        self.predictions: list[Any] = []
        self.lines: list[str] = []
        self.dot_source = ""
        self.error = ""
        self.dockerfile = w.Textarea(value=dockerfile, description="Dockerfile",
                                     layout=w.Layout(width="95%", height="12em"))
        self.edit = w.Dropdown(options=["(type your own edit)"] + list(self.edits),
                               value="(type your own edit)", description="edit")
        self.predict_button = w.Button(description="Predict", tooltip="which steps hit the cache?")
        self.diagram = w.HTML(value="")
        self.text_view = w.HTML(value="")
        self.edit.observe(lambda _c: self._apply_edit(), names="value")
        self.predict_button.on_click(lambda _b: self.refresh())
        self.widget = w.VBox([self.dockerfile, w.HBox([self.edit, self.predict_button]),
                              self.diagram, self.text_view])
        self.refresh()

    def _predict(self, before: str, after: str) -> Sequence[Any]:
        ctx = self.context
        if ctx is not None and not hasattr(ctx, "copy_source"):
            ctx = list_context(ctx)
        first = cache.predict(dockerfile.parse(before, build_args=self.build_args), ctx,
                              build_args=self.build_args)
        return cache.predict(dockerfile.parse(after, build_args=self.build_args), ctx,
                             cache=first.state, build_args=self.build_args).steps

    def _apply_edit(self) -> None:
        fn = self.edits.get(self.edit.value)
        self.dockerfile.value = fn(self.base_text) if fn else self.base_text
        self.refresh()

    def refresh(self) -> None:
        try:
            self.predictions = list(self.predict(self.base_text, self.dockerfile.value))
            self.error = ""
        except (LabkitError, OSError) as exc:
            self.predictions, self.error = [], error_text(exc, "predict")
        self.lines = [f"step {p.step}: {'CACHED' if p.hit else 'MISS  '} {p.instruction}"
                      + (f"  ({p.reason})" if p.reason else "") for p in self.predictions]
        if self.error:
            self.lines = [self.error]
        graph = cache_diagram(self.predictions)
        self.dot_source = graph.source
        self.diagram.value = _svg_or_message(graph) if self.render and not self.error else ""
        self.text_view.value = _pre(self.lines)


DEMO_DOCKERFILE = """\
FROM labkit/base
ENV APP_HOME=/app
RUN mkdir -p /app
RUN echo "version 1" > /app/version
RUN echo "built on labkit" > /app/motd
CMD ["cat", "/app/version"]
"""


def _demo_edits() -> dict[str, Callable[[str], str]]:
    return {
        "change the last RUN": lambda t: t.replace('"built on labkit"', '"built again"'),
        "change the ENV value": lambda t: t.replace("APP_HOME=/app", "APP_HOME=/srv"),
        "add a RUN before CMD": lambda t: t.replace('CMD ["cat"', 'RUN echo extra > /app/extra\nCMD ["cat"'),
        "change only CMD": lambda t: t.replace('"/app/version"]', '"/app/motd"]'),
        "add a comment (no step changes)": lambda t: "# a comment changes no step\n" + t,
    }


def cache_explorer(dockerfile: str | None = None, **kwargs: Any) -> CacheExplorer:
    """A ``CacheExplorer`` on ``dockerfile``, or on a small demo Dockerfile with prepared
    edits (change a RUN, the ENV, add a step, change CMD, add a comment)."""
    if dockerfile is None:
        kwargs.setdefault("edits", _demo_edits())
        dockerfile = DEMO_DOCKERFILE
    return CacheExplorer(dockerfile, **kwargs)
