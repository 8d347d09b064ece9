# %% [markdown]
# # 02 · Union filesystems and OverlayFS
#
# A container sees **one** directory tree, but it is made of several directories stacked by
# the kernel's **overlayfs**:
#
# * **lower** directories — the image's layers, read-only (`lowerdir=top:...:bottom`);
# * **upper** — the container's writable layer;
# * **work** — a scratch directory the kernel needs next to upper (never look in it);
# * **merged** — the mount point: what processes in the container see.
#
# Docker's overlay2 driver mounts exactly this for each container. In this lesson you look at
# the same small stack twice: in labkit's **simulator** (`labkit.Mount`) and, when this
# machine allows it (Linux and root), on the **real kernel**.

# %%
import labkit
from labkit.ui.widgets import demo_mount
from labkit.lessons.lesson02 import side_by_side, format_layer, format_sources

engine = labkit.connect()

# %% [markdown]
# ## The layers
# `demo_mount()` is a small overlay: two lower layers (a "base image" at the bottom and an
# "app" layer on top) and an empty upper. Here is each layer directory as it is stored:

# %%
mount = demo_mount()
print(format_layer(mount.lowers[1], title="lower 1 (bottom): the base image"))
print(format_layer(mount.lowers[0], title="lower 0 (top): the app layer"))
print(format_layer(mount.upper, title="upper: the container's writable layer"))

# %% [markdown]
# The app layer holds two special entries: a **whiteout** (a character device 0/0) that deletes
# `/tmp/cache` from the layers below, and an **opaque** directory `/var/log` that hides the
# base's `/var/log` contents. Lesson 04 looks at them closely.
#
# ## Lookup: the highest layer wins
# For a file, the kernel looks in upper, then lower 0, then lower 1, and stops at the first
# hit. `mount.origin(path)` says where the merged view takes an entry from:

# %%
for path in ["etc/hosts", "etc/motd", "app/hello.txt", "var/log/app.log"]:
    print(f"/{path:<18} from {mount.origin(path)!r}")
print(mount.exists("tmp/cache/a.tmp"), mount.exists("var/log/old.log"))

# %% [markdown]
# ## readdir: directories merge
# A directory that exists in several layers is **merged**: its listing is the union of every
# layer's names, minus whiteouts, and an opaque directory stops the merge at its layer.

# %%
for d in ["/", "/etc", "/tmp", "/var/log"]:
    print(f"{d:<9}", mount.listdir(d))

# %% [markdown]
# Every merged path and the layers its entry comes from (a merged directory lists all the
# layers whose directory contributes names):

# %%
print(format_sources(labkit.viz.entry_sources(mount)))

# %% [markdown]
# ## The real kernel, side by side
# `side_by_side` writes the same layer directories to disk, mounts them with
# `mount -t overlay` the way Docker does (`index=off,redirect_dir=off,metacopy=off`), reads the
# merged view back, and compares it with the simulator's. Its first line says which ran: where
# this machine cannot mount overlayfs, the simulator runs alone and the line says why.

# %%
both = side_by_side(mount.lowers, mount.upper)
print(both.verdict())
print(format_layer(both.sim_tree, title="merged view"))

# %% [markdown]
# The same comparison after the container writes: append to a file of the base image, delete
# one, and try to remove a merged directory that is not empty. Both sides answer each call
# (`ok` or the kernel's errno name) and leave the same upper directory:

# %%
ops = [("append", "etc/hosts", b"10.0.0.7 cache\n"),
       ("unlink", "etc/passwd"),
       ("rmdir", "etc")]
after = side_by_side(mount.lowers, mount.upper, ops)
print(after.verdict())
for op, outcome in zip(ops, after.sim_outcomes):
    print(f"{op[0]:<7} /{op[1]:<12} {outcome}")
print(format_layer(after.sim_upper, title="upper after the calls"))

# %% [markdown]
# `/etc/hosts` was **copied up** whole before the append (lesson 03), `/etc/passwd` became a
# whiteout in upper, and `rmdir /etc` failed with `ENOTEMPTY` — on the kernel and in the model.
#
# ## The overlay as a table
# One row per path, one column per layer, and the merged view with where each entry comes
# from. The next cell prints the diagram's DOT source (checked); the one after draws it.

# %%
diagram = labkit.overlay_diagram(mount, title="demo overlay")
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# ## Play with it
# Type a path, press a button: the diagram colours what the action did to the upper layer
# (copy-up orange, new green, whiteouts grey, opaque purple) and the log lists the events.

# %%
playground = labkit.overlay_playground(demo_mount(), path="etc/motd", text="hi")
playground.widget

# %% [markdown]
# The widget can be driven from code too:

# %%
for event in playground.act("append"):
    print(event)
playground.path.value = "tmp"
for event in playground.act("delete"):
    print(event)

# %% [markdown]
# ## Exercise 02-a: a directory from three layers
# Make a `labkit.Mount` with two lower layers and an upper in which `listdir('/conf')` is
# exactly `['a.conf', 'b.conf', 'c.conf']`: `a.conf` from the upper, `b.conf` from lower 0
# (top), `c.conf` from lower 1 (bottom). Lower 1 must also store `/conf/old.conf`, which the
# merged view must not show. Layer directories are dicts `{path: labkit.Node}`.
# Run the check as often as you like: hints get more specific.

# %%
# TODO: build your mount here, e.g.
#   from labkit import Node
#   bottom = {"conf": Node.dir(), "conf/c.conf": Node.file(b"c\n")}
#   ...
my_mount = labkit.Mount([{}])          # replace me: two lowers and an upper
labkit.check("02-a", mount=my_mount, engine=engine)
