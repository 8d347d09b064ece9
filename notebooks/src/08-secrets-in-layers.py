# %% [markdown]
# # 08 · Secrets left in layers
#
# A build often needs a secret — an SSH key to fetch private dependencies, a token for a
# package index. A common mistake: `COPY` the key in, use it, and `rm` it in a later step.
# The container no longer sees the key… but **every layer ships with the image**, and the
# layer that added the key still holds it, byte for byte.
#
# In this lesson you will
#
# * build such an image and see that a container cannot find the key,
# * find the key in a lower layer of the saved image and read it back out,
# * fix the build so the key never enters any layer of the image you ship, and prove it.
#
# The key is a **fake**, made now by `write_fake_key` (PEM-shaped, so scanners react to it as
# they would to a real one); keys and findings are only ever printed masked.

# %%
from pathlib import Path

import labkit
from labkit.lessons.lesson08 import container_sees, recover, scan_layers, write_fake_key

engine = labkit.connect()
work = labkit.scratch("lesson08")          # removed when this kernel shuts down

# %% [markdown]
# ## The leaky build
# The build context has a small app and a Dockerfile that copies `id_rsa`, uses it to "fetch"
# dependencies, and deletes it in the next step. First we write the fake key into the context.

# %%
context = labkit.example("secret-key", work / "secret-key")
key_file = write_fake_key(context)
print(key_file.name, key_file.stat().st_size, "bytes, mode", oct(key_file.stat().st_mode & 0o777))
print((context / "Dockerfile").read_text())

# %%
leaky = engine.build(context, tag="leaky", no_cache=True)
print(labkit.format_build(leaky))

# %% [markdown]
# ## What a container sees
# The `rm` step left a **whiteout** in its layer, so the merged filesystem a container starts
# with has no key:

# %%
print("/root/.ssh/id_rsa in a container:", container_sees(engine, leaky, "/root/.ssh/id_rsa"))
print(engine.run(leaky.image, "sh /app/app.sh", keep=False).output.strip())

# %% [markdown]
# ## What the image holds
# The history tells the story: the `COPY` made a layer of the key's size, the `rm` made a layer
# of 0 bytes — a whiteout hides, it frees nothing.

# %%
history = engine.history(leaky.image)
print(labkit.format_history(history))

# %%
diagram = labkit.viz.layer_stack(history, title="the leaky image", highlight=2)
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# `scan_layers` saves the image and looks at **every** layer: entries named `id_rsa`, the
# whiteouts that delete them, and what `labkit.analysis` finds by name and by content
# (printed as the kind of secret and its layers, never the key itself).

# %%
found = scan_layers(engine, leaky)
print(found)

# %% [markdown]
# Anyone who can pull the image can read the key back out of layer 2, with nothing but the
# saved tar (`labkit.open_image` + the layer's entries; `tar` would do as well):

# %%
recovered = recover(engine, leaky, "/root/.ssh/id_rsa")
print(recovered)
print("the same bytes as the key in the build context:", recovered.same_as(key_file))

# %% [markdown]
# The layer explorer shows the same thing: move to layer 2 and the key is there; at layer 4
# the whiteout removes it from the merged view, not from layer 2.

# %%
explorer = labkit.widgets.LayerExplorer(engine.layer_dirs(leaky.image), engine.history(leaky.image))
explorer.widget

# %%
explorer.index = 2
print("\n".join(explorer.changes))
explorer.index = 4
print("\n".join(explorer.changes))

# %% [markdown]
# ## The fix: the key never enters a shipped layer
# Two ways that work:
#
# 1. **Do not copy the key at all** when the image does not need it (and list it in
#    `.dockerignore`, so `COPY .` cannot pick it up by accident).
# 2. **A throw-away stage**: only a build stage sees the key; the final stage copies the
#    *result* (`/out/deps.txt`), never the key. Only the last stage's layers ship.
#
# (BuildKit's `RUN --mount=type=secret` is a third; the classic builder used here has none.)

# %%
print((context / "fixed.Dockerfile").read_text())
fixed = engine.build(context, dockerfile="fixed.Dockerfile", tag="fixed", no_cache=True)
print(labkit.format_build(fixed))

# %% [markdown]
# The app still gets its dependencies, and no layer of the fixed image — not just the top —
# holds the key, deletes it, or looks like a secret to the scanner:

# %%
print(engine.run(fixed.image, "sh /app/app.sh", keep=False).output.strip())
print("/root/.ssh/id_rsa in a container:", container_sees(engine, fixed, "/root/.ssh/id_rsa"))
fixed_scan = scan_layers(engine, fixed)
print(fixed_scan)
print("clean:", fixed_scan.clean, "| the leaky image clean:", found.clean)

# %% [markdown]
# ## Exercises
# ### 08-a · No key in any layer
# Build an image from the secret-key example in which **no layer** holds a file named
# `id_rsa` — deleting it in a later step is not enough. The cell below copies a fresh context
# (with the key) and builds its `Dockerfile`; edit that Dockerfile (its path is printed), then
# run the cell again.

# %%
exercise_dir = labkit.example("secret-key", work / "exercise-08")
write_fake_key(exercise_dir)
print(exercise_dir / "Dockerfile")

# %%
# TODO 08-a: edit the Dockerfile in exercise_dir, then run this cell
attempt = engine.build(exercise_dir, tag="nokey")
labkit.check("08-a", image=attempt.image)

# %% [markdown]
# ### 08-b · Use the key, ship none of it
# The same, but the build must still **use** the key to fetch the dependencies:
# `/app/deps.txt` must say `private dependencies fetched`. Hidden checks look at every layer
# once more when the notebook is graded.

# %%
# TODO 08-b: edit the Dockerfile in exercise_dir so the fetch still happens, then run this cell
attempt_b = engine.build(exercise_dir, tag="fetch-nokey")
labkit.check("08-b", image=attempt_b.image)
