# %% [markdown]
# # 06 · Build-cache invalidation: what rebuilds, and why
#
# Docker's classic builder reuses a step when an image made earlier **from the same parent
# image** has the same *cache key*. The key of a RUN is its command (plus the build args it
# sees); the key of a COPY or ADD includes a checksum of the files it copies; metadata steps
# (ENV, WORKDIR, ARG, CMD, ...) key on their text. The first step that misses **busts the
# cache for every later step of that stage**: their parent is new, so nothing can match.
#
# In this lesson you first **predict** which steps rebuild (`labkit.cache`, a model of the
# classic builder) and then **confirm** it with a real build on your engine.

# %%
import labkit
from labkit.lessons.lesson06 import CacheLab, touch

engine = labkit.connect()

# %% [markdown]
# ## The build context
# A small app with a dependency manifest (`app/deps.txt`), its source (`app/src/`) and two
# Dockerfiles that differ only in their order. Installing the dependencies stands for the slow
# step of a real build (here: 200 KB written with `dd`).

# %%
context = labkit.example("cache-app")
print((context / "Dockerfile.bad").read_text())
print((context / "Dockerfile").read_text())

# %% [markdown]
# ## Predict first: the cache explorer
# The explorer has "built" the Dockerfile once. Pick an edit (or type your own into the text box
# and press **Predict**): every step is shown green when it would come from the cache, orange
# when it would rebuild, with the model's reason. The first miss has a thick border.

# %%
edits = {
    "change the install command": lambda t: t.replace("count=200", "count=300"),
    "copy all of app/ before the install": lambda t: t.replace(
        "COPY app/deps.txt /app/deps.txt\n", "COPY app/ /app/\n"),
    "change the ARG's default": lambda t: t.replace("APP_VERSION=1.0", "APP_VERSION=1.1"),
    "change only CMD": lambda t: t.replace('"/app/src/main.sh"]', '"/app/version"]'),
    "add a comment": lambda t: t + "# a comment is not a step\n",
}
explorer = labkit.widgets.CacheExplorer((context / "Dockerfile").read_text(), context=context,
                                        edits=edits)
explorer

# %% [markdown]
# The widget can be driven from code too. Changing the install command rebuilds it **and every
# step after it**, although the later steps did not change:

# %%
explorer.edit.value = "change the install command"
print("\n".join(explorer.lines))

# %%
explorer.edit.value = "add a comment"
print("\n".join(explorer.lines))

# %% [markdown]
# ## Confirm: build for real
# `CacheLab` predicts each build from the builds made so far, then builds on your engine and
# puts the two side by side (`BuildRecord.steps[i].cached` is what the engine reported). The
# first build uses `no_cache=True`: the model starts from an empty cache, your daemon may not.

# %%
lab = CacheLab(engine, context)
print(lab.build("Dockerfile", no_cache=True))

# %% [markdown]
# Building again with nothing changed takes every step from the cache:

# %%
print(lab.build("Dockerfile"))

# %% [markdown]
# ### Edit a source file
# `app/src/main.sh` is copied by `COPY app/ /app/` only, **after** the install. So the install
# stays cached and only the steps from that COPY on rebuild:

# %%
(context / "app" / "src" / "main.sh").write_text('#!/bin/sh\necho "hello from version 2"\n')
run = lab.build("Dockerfile")
print(run)
print(run.reasons())

# %% [markdown]
# ### The bad order
# `Dockerfile.bad` copies all of `app/` before installing. Build it once, then make the same
# kind of edit: now the install runs again for a change that has nothing to do with the
# dependencies.

# %%
print(lab.build("Dockerfile.bad"))

# %%
(context / "app" / "src" / "main.sh").write_text('#!/bin/sh\necho "hello from version 3"\n')
run = lab.build("Dockerfile.bad")
print(run)
print(run.reasons())

# %% [markdown]
# **Rule of thumb:** copy what changes rarely (the dependency manifest) first, install, and copy
# what changes often (the source) last.
#
# From here on we build `Dockerfile.bad`: it copies all of `app/`, so it notices any change in
# that folder.
#
# ### Changes that rebuild nothing
# * `touch` changes a file's modification time and nothing else. COPY's checksum covers content,
#   names, permission bits and owners — not times.
# * Files the `.dockerignore` excludes are never sent to the builder, so editing them cannot bust
#   a COPY.
#
# Do both, then build: every step comes from the cache.

# %%
print((context / ".dockerignore").read_text())
touch(context / "app" / "src" / "main.sh")
(context / "app" / "build.log").write_text("a new log line\n")
print(lab.build("Dockerfile.bad"))

# %% [markdown]
# Without the `.dockerignore`, `COPY app/ /app/` copies the log and the notes as well — new files
# in its checksum, so it misses (and, in this order, the install runs again):

# %%
(context / ".dockerignore").unlink()
run = lab.build("Dockerfile.bad")
print(run)
print(run.reasons())

# %% [markdown]
# ### A build argument changes
# An `ARG` step keys on its default, not on the value you pass with `--build-arg`. The change
# shows where the argument is used: every RUN after the ARG has the build args in its key.

# %%
run = lab.build("Dockerfile.bad", build_args={"APP_VERSION": "2.0"})
print(run)
print(run.reasons())

# %% [markdown]
# The prediction of that build as a diagram (its DOT source first, then the drawing):

# %%
diagram = labkit.viz.cache_diagram(run.prediction.steps, title="build with APP_VERSION=2.0")
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (not compared: the SVG drawing depends on the graphviz version; its DOT source is checked above)
diagram

# %% [markdown]
# Every build above: did the model and the engine agree on every step?

# %%
print(all(r.agree for r in lab.history), len(lab.history), "builds")

# %% [markdown]
# ## Exercises
# **06-a Keep the cache.** Write a Dockerfile (in a folder of your own) that COPYs a file, build
# it, change the file's content, and build again: at least 2 steps must come from the cache and
# the first rebuilt step must be the COPY. Pass the second build's record.

# %%
# TODO: record = engine.build(my_folder, tag="keep-cache") after editing the copied file
record = None
labkit.check("06-a", record=record)

# %% [markdown]
# **06-b Dependencies first.** In a fresh copy of the cache-app example
# (`labkit.example("cache-app")`), write `my.Dockerfile` so that editing `app/src/main.sh` does
# not re-run the RUN that fills `/opt/deps`. Build it, edit `app/src/main.sh`, build again and
# pass the second build's record.

# %%
# TODO: record_b = engine.build(my_context, dockerfile="my.Dockerfile", tag="deps") after the edit
record_b = None
labkit.check("06-b", record=record_b)
