# %% [markdown]
# # 09 · Distribution: registries move only the layers that are missing
#
# A **registry** stores two kinds of things:
#
# * **blobs**, named by the SHA-256 of their bytes: each layer (gzip-compressed), each config;
# * **manifests**, found by `repository:tag`, listing the config blob and the layer blobs.
#
# Because blobs are named by content, a push can ask "do you have `sha256:…`?" before uploading,
# and a pull can skip every layer the puller already has. In this lesson you push two versions
# of an app that share all but their top layer, and watch what really moves.
#
# On Docker, labkit starts Debian's `docker-registry` program on `127.0.0.1` (a free port, a
# temporary storage folder) for this notebook only. On the simulator, a small in-memory model
# of a registry plays its part; labkit's tests check that both give the same answers.

# %%
import labkit
from labkit.daemon.registry import (
    local_chain_ids, open_registry, plain_http_allowed, pull, push, registry_name,
    transfer_diagram)

engine = labkit.connect()
registry = open_registry(engine).start()

# %% [markdown]
# Which registry, and where it keeps its files (a port and a folder that change every run —
# so this cell's output is not compared by the tests):

# %% tags=["nbval-ignore-output"]
# (why: the registry's port and storage folder are new on every run)
print(registry.describe())

# %% [markdown]
# Docker insists on HTTPS for registries, except for the ones listed as *insecure*;
# `docker info` lists `127.0.0.0/8` there by default, so a registry on `127.0.0.1` works
# without certificates. On Docker, this asks the daemon:

# %%
print("plain HTTP to 127.0.0.1 allowed:", plain_http_allowed(engine))

# %% [markdown]
# ## Two versions of an app
# Both Dockerfiles copy the same file, then write their own version number. Version 2 is built
# with the cache on, so its `COPY` step is a cache hit: the very same layer as version 1's.

# %%
context = labkit.example("dist09")
print((context / "Dockerfile.v2").read_text())
v1 = engine.build(context, dockerfile="Dockerfile.v1", tag="app:v1", no_cache=True)
v2 = engine.build(context, dockerfile="Dockerfile.v2", tag="app:v2")
print(labkit.format_build(v2))

# %% [markdown]
# ## Push version 1, then version 2
# labkit names your images `labkit-<session>/name:tag`, in the registry too. The first push
# uploads everything: the registry is empty.

# %%
first_push = push(engine, registry, v1.image, "app:v1")
print(first_push)

# %% [markdown]
# The second push asks about each layer first. The base and the shared `COPY` layer are
# already there ("Layer already exists", Docker's own words): only the top layer travels.

# %%
second_push = push(engine, registry, v2.image, "app:v2")
print(second_push)

# %% [markdown]
# On disk the registry keeps each blob once: 4 distinct layers, 2 configs, 2 manifests.

# %%
print("blobs stored in the registry:", registry.blob_count())

# %% [markdown]
# ## Pull version 2 where version 1 already is
# Remove version 2 from the engine, then pull it back. Before pulling, the model predicts what
# must be downloaded: a layer is skipped when a layer with the same **chainID** (the layer
# together with everything below it) is already in the engine's layer store.
#
# (Docker decides before downloading, from the blob's digest — the digest of *compressed*
# bytes. So it also needs to know which layer a blob holds; it remembers that for blobs it
# pushed or pulled itself, as here.)

# %%
engine.remove(v2.image)
plan = registry.plan_pull(registry_name("app:v2"), local_chain_ids(engine))
print(plan)

# %%
pulled = pull(engine, registry, "app:v2")
print(pulled)
print()
print("the pull did what the model predicted:", pulled.statuses == plan.statuses)
print("the pulled image is version 2, byte for byte:", pulled.image.id == v2.image.id)

# %% [markdown]
# The three transfers side by side (blue: the blob moved; grey: skipped):

# %%
diagram = transfer_diagram(first_push, second_push, pulled)
print(diagram.source)

# %% tags=["nbval-ignore-output"]
# (why: a drawing of the source printed above, as SVG)
diagram

# %% [markdown]
# The image id survived the trip: it is the digest of the config, and the config travels as
# a blob, unchanged. (The layer blobs are gzip-compressed by the push, so *their* digests are
# not the diffIDs — the config's `rootfs.diff_ids` still name the uncompressed layers.)
#
# What this means for you: layers at the bottom of your images, shared by many images, are
# uploaded and downloaded once. Put what changes often in the top layers, and a new version
# costs only those.
#
# ## Exercise 09-a · Ship only what changed
# Push two versions of an app to `registry` so that the second push uploads only its own top
# layer: every layer below it must be a layer of the first. Use your own names, e.g.
# `ship:v1` and `ship:v2`, then pass them as `image=` and `other=`.

# %%
# TODO 09-a: build and push your second version, then pass its name as other=
labkit.check("09-a", registry=registry, image="app:v1", other=None)

# %% [markdown]
# When you are done, stop the registry (on Docker this ends the `docker-registry` process and
# removes its folder; it is also stopped when the notebook's kernel exits).

# %%
registry.stop()
