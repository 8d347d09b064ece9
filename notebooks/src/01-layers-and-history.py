# %% [markdown]
# # 01 · Layers and history
#
# An image is a **stack of layers** plus a small JSON **config**. Each layer is a tar of the
# files one build step added, changed or deleted. In this lesson you will see
#
# * which Dockerfile steps make a layer and which only change the config,
# * how each layer is named (its **diffID**) and how big it is,
# * which layer a given file comes from,
#
# on your own engine — the numbers below are measured here, not copied from a book.

# %%
from pathlib import Path

import labkit
from labkit.lessons.lesson01 import count_steps, format_path_history, format_recorded, layer_table, path_history

engine = labkit.connect()
work = labkit.scratch("lesson01")          # removed when this kernel shuts down

# %% [markdown]
# ## A Dockerfile with eight steps
# Read it and guess: how many layers will the image have?

# %%
context = labkit.example("layers01")
print((context / "Dockerfile").read_text())

# %%
record = engine.build(context, tag="layers01", no_cache=True)
print(labkit.format_build(record))

# %% [markdown]
# labkit adds two `LABEL` steps of its own at the end (`org.labkit.managed`, `org.labkit.session`):
# that is how it finds, and later cleans, only what it made.
#
# ## The history: one row per step
# `engine.history(image)` is what `docker history` prints. A numbered row made a layer (the
# number is the layer's index, 0 at the bottom); `-` marks a step that only changed the config.

# %%
history = engine.history(record.image)
print(labkit.format_history(history))
print()
print(count_steps(history))

# %% [markdown]
# Only **RUN**, **COPY** and **ADD** change files, so only they make a layer. `ENV`,
# `WORKDIR`, `LABEL` and `CMD` are written into the config; the base image brings its own
# layer (0) and its own config step (`CMD ["sh"]`).
#
# The builder does not store your Dockerfile. It records a `created_by` text per step, and
# `labkit.instruction_of` turns it back into the instruction you wrote (RUN steps are recorded
# as the shell command; COPY records a checksum of the copied file instead of its name):

# %%
print(format_recorded(history))

# %% [markdown]
# ## Layer ids and sizes
# `engine.save` writes the image as `docker save` does; `labkit.open_image` reads it and checks
# every digest. Each layer is named by its **diffID**: the SHA-256 of its uncompressed tar
# (lesson 05 is all about these names). The size is the bytes of file content in the layer.

# %%
image = labkit.open_image(engine.save(record.image, work / "layers01.tar"))
print(layer_table(image))

# %% [markdown]
# Layer 0 is the whole base (busybox): almost all of the image. The last `RUN` writes 10 bytes
# — and still is a layer of its own. Layer 3 also *deletes* `/app/notes.txt`; deleting adds
# nothing, yet the 37 bytes of layer 2 stay in the image (lesson 04 shows how a deletion is
# recorded).
#
# ## Which layer holds a file?
# Walking the layers bottom first shows each one that adds, changes or deletes a path:

# %%
print(format_path_history("/app/version.txt", path_history(image, "/app/version.txt")))
print(format_path_history("/app/notes.txt", path_history(image, "/app/notes.txt")))

# %% [markdown]
# A container sees the **top-most** version of each path: `version 2` from layer 3, and no
# `notes.txt` at all.

# %%
print(engine.run(record.image, "cat /app/version.txt; ls /app", keep=False).output)

# %% [markdown]
# ## The stack as a diagram
# Solid boxes are layers, dashed ones steps that made none. The next cell prints the
# diagram's DOT source (checked by the tests); the one after draws it.

# %%
diagram = labkit.viz.layer_stack(history, title="layers01")
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# ## Explore the stack
# Move the slider (or click **higher ▶**): on the left the stack with the current layer
# marked, on the right what that layer changed and the merged view of the layers up to it
# (`←` marks what this layer wrote).

# %%
explorer = labkit.widgets.LayerExplorer.from_image(image)
explorer.widget

# %% [markdown]
# The explorer can be driven from code too. Layer 3, the last `RUN`:

# %%
explorer.index = 3
print(labkit.instruction_of(explorer.instruction()))
print("\n".join(explorer.changes))

# %% [markdown]
# ## Exercises
#
# ### 01-a · A stack to order
# Build an image with **exactly 4 layers** in which **layer 2** is the one that adds
# `/srv/config.txt`, and which sets `ENV STAGE=lesson01`. The next cell copies a starting
# build context for you and shows its Dockerfile; edit that file (the path is printed), then
# run the cell after it. `check` looks at the image you really built and gives a hint that
# gets more specific each time it fails.

# %%
exercise_dir = labkit.example("layers01-exercise", work / "exercise-01a")
print((exercise_dir / "Dockerfile").read_text())

# %%
# TODO 01-a: edit the Dockerfile in exercise_dir (see above), then run this cell
attempt = engine.build(exercise_dir, tag="stack01")
print(labkit.format_history(engine.history(attempt.image)))
labkit.check("01-a", image=attempt.image)

# %% [markdown]
# ### 01-b · Layer hunt
# `labkit.material("01-b", work)` writes `layer-hunt.tar`, a saved image someone else built.
# Which layer holds the `/etc/app.conf` a container of it would see, and how many steps of
# its history made no layer? Use the tools of this lesson (the explorer works on an opened
# image too: `labkit.widgets.LayerExplorer.from_image(hunt)`).

# %%
hunt = labkit.open_image(labkit.material("01-b", work))
print(labkit.format_history(hunt.history[::-1]))   # open_image lists history oldest first; docker history newest first

# %%
# TODO 01-b: replace the two None with your answers, then run this cell
my_layer = None
my_empty_steps = None
labkit.check("01-b", layer=my_layer, empty_steps=my_empty_steps)
