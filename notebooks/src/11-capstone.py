# %% [markdown]
# # 11 · Capstone: small, cache-friendly and secret-free
#
# Everything from the earlier lessons at once. The capstone's Dockerfile works — the app runs —
# but it is wrong in four ways:
#
# * **cache-unfriendly order** (lesson 06): `COPY . /app/` comes first, so any source edit
#   re-runs every step after it, the slow dependency install included;
# * **a secret left in a layer** (lesson 08): the key is copied in and deleted later;
# * **big temporary files deleted in a later layer** (lesson 07): the 600 KiB bundle ships;
# * **many RUN layers**, one per command.
#
# Your job: rewrite it. `check("11-a", ...)` scores four properties separately, measured on
# **your** engine against the bad image as built here — not against numbers from a book.

# %%
from pathlib import Path

import labkit
from labkit.lessons.lesson06 import CacheLab
from labkit.lessons.lesson08 import scan_layers
from labkit.lessons.lesson11 import (build_and_rebuild, capstone_context, edit_source, scorecard,
                                     size_limit, start_dockerfile)

engine = labkit.connect()
work = labkit.scratch("lesson11")          # removed when this kernel shuts down

# %% [markdown]
# ## The bad Dockerfile
# `capstone_context` copies the example and writes a fake private key (`id_rsa`) into it, as
# lesson 08's `write_fake_key` does.

# %%
context = capstone_context(work / "capstone")
print(sorted(p.relative_to(context).as_posix() for p in context.rglob("*")))
print((context / "Dockerfile").read_text())

# %% [markdown]
# We build it through lesson 06's `CacheLab`, which also remembers the build for the cache
# model (so we can predict a rebuild below without waiting for it).

# %%
lab = CacheLab(engine, context)
bad = lab.build("Dockerfile", tag="capstone-bad", no_cache=True).record
print(labkit.format_build(bad))

# %% [markdown]
# ## Measure it
# One row per image: layers, bytes above the base layer (the engine's own history), dive's
# efficiency score of those layers, and every secret found in any layer — visible or not.

# %%
print(scorecard(engine, {"bad": bad}))
print(f"11-a's size limit on this engine: {size_limit(engine, bad):,} B above the base")

# %% [markdown]
# The layer stack shows where the bytes are (its DOT source first, then the drawing):

# %%
history = engine.history(bad.image)
diagram = labkit.viz.layer_stack(history, title="capstone-bad")
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# Both keys are gone from the container's view and still in the image:

# %%
print(scan_layers(engine, bad))

# %% [markdown]
# ## The cache problem
# `edit_source` gives `src/version.sh` new content — a source-only edit. Lesson 06's cache model
# predicts what a rebuild of the bad Dockerfile would do: everything from `COPY . /app/` on
# rebuilds, the 600 KiB dependency steps included. (`lab.build("Dockerfile",
# tag="capstone-bad-2")` confirms it on your engine, if you have the time.)

# %%
edit_source(context)
prediction = lab.predict("Dockerfile")
print(prediction)

# %% [markdown]
# The same prediction as a diagram (green: from the cache, orange: rebuilt; DOT source first):

# %%
cache_graph = labkit.viz.cache_diagram(prediction.steps, title="capstone-bad after a source edit")
print(cache_graph.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
cache_graph

# %% [markdown]
# ## Your turn: 11-a
# Write your Dockerfile as `my.Dockerfile` in the capstone context (the next cell starts it as a
# copy of the bad one the first time and never overwrites it; its path is printed). Then, in the
# cell after it, `build_and_rebuild(engine, context)` builds your Dockerfile, makes a
# source-only edit, builds again and returns the rebuild's record for `check`. Points:
#
# | property | points |
# |---|---|
# | the rebuild made an image | 1 |
# | adds at most 25 % of the bad image's bytes above the base (measured above) | 2 |
# | dive efficiency of at least 0.95 | 2 |
# | no secret in any layer (found by name or by content, deleted or not) | 2 |
# | the dependency steps (the RUN that fills `/opt/deps`) come from the cache on the rebuild | 2 |
#
# Hidden checks run when the notebook is graded. Each failed attempt makes the hint more
# specific. Tools that help: `scorecard`, `scan_layers`, `labkit.analyze`,
# `labkit.widgets.LayerExplorer`.

# %%
mine = start_dockerfile(context)
print(mine)

# %%
# TODO 11-a: edit my.Dockerfile (path above), then replace None by
# build_and_rebuild(engine, context) (build, source-only edit, rebuild) and run this cell
record = None
labkit.check("11-a", record=record, bad=bad)

# %% [markdown]
# Once your `record` is an image, compare it with the bad one:
# `print(scorecard(engine, {"bad": bad, "yours": record}))`.
