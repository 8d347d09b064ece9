# %% [markdown]
# # 00 · Start here: your engine, a tiny image, its layers
#
# labkit runs every lesson on one of two **engines**:
#
# * **docker** — a real Docker daemon, used whenever one answers;
# * **sim** — labkit's pure-Python overlay simulator (no daemon needed; this is what Binder uses).
#
# Both implement the same calls, and the test suite checks that they give the same answers.
# The next cell picks one and says which in one line.

# %%
import labkit

engine = labkit.connect()

# %% [markdown]
# `labkit.doctor()` checks this machine (Python packages, graphviz, busybox, the daemon, whether
# the kernel's overlayfs can be mounted) and gives the one command that fixes each problem.
# Run `labkit.doctor()` in a cell of your own, or `labkit doctor` in a terminal.
#
# ## A tiny image
# Every lesson starts from labkit's **offline base image**: `FROM scratch` plus a static busybox,
# built on your machine — no registry is ever contacted. Here is a small build context:

# %%
context = labkit.example("hello")
print((context / "Dockerfile").read_text())

# %% [markdown]
# Build it. Each step prints whether it came from the build cache; `no_cache=True` makes this
# first build do every step.

# %%
record = engine.build(context, tag="hello", no_cache=True)
print(labkit.format_build(record))

# %% [markdown]
# ## Its layers
# `history` lists what each instruction made. Only RUN, COPY and ADD make a layer (a numbered
# row); ENV and CMD change the image's configuration, not its files (`-`).

# %%
history = engine.history(record.image)
print(labkit.format_history(history))

# %%
print(engine.run(record.image, "cat /srv/greeting.txt /srv/data/motd; echo GREETING=$GREETING").output)

# %% [markdown]
# The same stack as a diagram. The next cell prints the diagram's DOT source (checked by the
# tests); the one after draws it.

# %%
diagram = labkit.viz.layer_stack(history, title="hello")
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# ## Explore it
# Move the slider (or click **higher ▶**) to walk up the stack: on the left the merged view of
# the layers so far, on the right what that layer changed.

# %%
explorer = labkit.widgets.LayerExplorer(engine.layer_dirs(record.image), history)
explorer.widget

# %% [markdown]
# Widgets can be driven from code too. Step to the top layer and list its changes:

# %%
explorer.index = len(explorer.layers) - 1
print(explorer.instruction())
print("\n".join(explorer.changes))

# %% [markdown]
# ## The lessons
# | | lesson |
# |---|---|
# | 01 | layers and history |
# | 02 | union filesystems and OverlayFS |
# | 03 | copy-on-write |
# | 04 | whiteouts and opaque directories |
# | 05 | content addressing: diffIDs, digests, chainIDs |
# | 06 | build-cache invalidation |
# | 07 | multi-stage builds and slimming |
# | 08 | secrets left in layers |
# | 09 | distribution: layer sharing on pull |
# | 10 | storage drivers and disk use |
# | 11 | capstone |
