# %% [markdown]
# # 05 · Content addressing: diffIDs, digests, chainIDs
#
# Images are not named by what they are called but by **what they contain**. Every piece —
# each layer, the config, the manifest — is named by the SHA-256 of its bytes. In this lesson:
#
# * the three names of a layer: **diffID**, **blob digest**, **chainID**;
# * the manifest and the config, the two JSON documents that tie an image together;
# * why one changed byte is always caught;
# * why two images built on the same layers store them only once.

# %%
import hashlib
from pathlib import Path

import labkit
from labkit.analysis.compare import compare
from labkit.lessons.lesson05 import (compressed_copy, config_view, flip_byte, id_table, manifest_view,
                                     restack, sharing_text, show_json)

engine = labkit.connect()
work = labkit.scratch("lesson05")          # removed when this kernel shuts down

# %% [markdown]
# ## Image A
# Two layers of its own on labkit's base: a `COPY` and a `RUN`.

# %%
context = labkit.example("share05")
print((context / "Dockerfile.a").read_text())
record_a = engine.build(context, dockerfile="Dockerfile.a", tag="share-a", no_cache=True)
print(labkit.format_build(record_a))

# %% [markdown]
# ## The three names of a layer
# Save it (`docker save`) and open the saved tar. For each layer:
#
# * **diffID** — SHA-256 of the layer's *uncompressed* tar. The config lists them
#   (`rootfs.diff_ids`); this is the layer's identity.
# * **blob digest** — SHA-256 of the file *as stored*. `docker save` stores layers uncompressed,
#   so here it equals the diffID.
# * **chainID** — the layer *together with everything below it*: `chainID(0) = diffID(0)`,
#   `chainID(n) = sha256(chainID(n-1) + " " + diffID(n))`. Docker's layer store is keyed by it.
#
# (Digests are replaced by placeholders when the tests compare this notebook on both engines:
# the layers a build makes hold file times, so their digests differ on every build. The
# `yes`/`no` columns do not.)

# %%
saved_a = engine.save(record_a.image, work / "a.tar")
image_a = labkit.open_image(saved_a)
print(id_table(image_a))

# %% [markdown]
# Nothing magic: hash the layer's bytes yourself and you get its diffID; hash the chainID
# below plus the diffID and you get the next chainID.

# %%
with image_a.open_layer(1) as layer:
    by_hand = "sha256:" + hashlib.sha256(layer.read()).hexdigest()
print("diffID of layer 1 by hand matches:", by_hand == image_a.diff_ids[1])

chain_1 = "sha256:" + hashlib.sha256(f"{image_a.chain_ids[0]} {image_a.diff_ids[1]}".encode()).hexdigest()
print("chainID of layer 1 by hand matches:", chain_1 == image_a.chain_ids[1])

# %% [markdown]
# ## Manifest and config
# The **manifest** says where the config and each layer blob are; the **config** holds the run
# settings, the history and the diffIDs. Below are the parts that say what the image *is*
# (creation times, the builder's bookkeeping and labkit's own labels left out —
# `config_view` says which).

# %%
print(show_json(manifest_view(image_a)))

# %%
print(show_json(config_view(image_a)))

# %% [markdown]
# The **image id** is the SHA-256 of the config's bytes. The config lists every diffID, so
# the id pins down every byte of every layer:

# %%
print("image id:", record_a.image.id)
print("the saved config hashes to the image id:", image_a.ref.id == record_a.image.id)

# %% [markdown]
# ## Compressed blobs: the digest changes, the diffID does not
# A registry stores layers gzip-compressed. `compressed_copy` writes the same image that way
# (OCI layout). The blob digests are new — they hash the gzip bytes — but the diffIDs and
# chainIDs stay: they name the *content*, whatever the packaging.

# %%
image_gz = labkit.open_image(compressed_copy(image_a, work / "a-gzip.tar"))
print(id_table(image_gz))
print()
print("same diffIDs:", image_gz.diff_ids == image_a.diff_ids)
print("same chainIDs:", image_gz.chain_ids == image_a.chain_ids)

# %%
print(show_json(manifest_view(image_gz)))

# %% [markdown]
# ## One changed byte is caught
# `flip_byte` copies the saved tar and flips one bit of one byte of a file inside layer 1.
# The tar is still a perfectly good tar — only the digests can tell. `open_image` checks them
# all:

# %%
tampered = flip_byte(saved_a, work / "a-tampered.tar", layer=1)
print(tampered)
try:
    labkit.open_image(tampered.path)
except labkit.LabkitError as error:
    print(type(error).__name__ + ":", error)

# %% [markdown]
# `docker load` checks a layer's diffID too — when it unpacks it. A layer whose chainID the
# daemon already has is not read at all, so loading this very tar on the daemon that built
# image A goes through without a word (labkit's tests measure both behaviours on the real
# daemon). The layer it keeps is its own, unchanged copy: addressing by content means "I have
# this content already", not "I checked your copy".
#
# ## Identical layers are shared
# Image B starts with the same `COPY` as A, then runs a different command. The build cache
# reuses A's `COPY` step (`cache hit`): B gets the very same layer, not a copy of it.

# %%
print((context / "Dockerfile.b").read_text())
record_b = engine.build(context, dockerfile="Dockerfile.b", tag="share-b")
print(labkit.format_build(record_b))

# %%
image_b = labkit.open_image(engine.save(record_b.image, work / "b.tar"))
print(sharing_text(image_a, image_b))

# %% [markdown]
# `compare` (from `labkit.compare`) puts the two images side by side. Their bottom two layers
# have the same chainIDs, so Docker stores them once and a registry pull of B next to A
# fetches only B's top layer. Their final filesystems differ only in what the top layers wrote:

# %%
comparison = compare(image_a, image_b)
print("shared bottom layers (chainID):", comparison.shared_chain)
print("layers a pull of B must fetch:", list(comparison.transfer_layers))
print("\n".join(str(change) for change in comparison.changes))

# %% [markdown]
# ## Same content, different base
# A diffID names a layer's content alone; a chainID names it *on top of* the layers below.
# `restack` writes a new image from A's layers 0 and 2 — A's `RUN` layer, byte for byte, put
# straight on the base. Its diffID is found in A; its chainID is not:

# %%
restacked = labkit.open_image(restack(image_a, work / "restacked.tar", [0, 2]))
print(id_table(restacked))
print()
print(sharing_text(image_a, restacked))

# %% [markdown]
# Docker's layer store is keyed by chainID, so it would store and pull that layer again,
# identical bytes and all (the tests load such an image into the real daemon and find the
# same diffID under a second chainID on disk). Layers are shared only as whole stacks from
# the bottom up.
#
# Note what made B's layer shared: the *cache*, not the instruction. Rebuild the same `COPY`
# with `no_cache=True` and Docker writes a new layer whose directory `/srv` carries a new
# time — a new diffID, stored again (try it on your engine, and compare the digests).
#
# ## Exercises
#
# ### 05-a · Name that layer
# `labkit.material("05-a", work)` writes `layer-puzzle.tar`, a saved image of 3 layers. Give
# the diffID of its layer 1 (layers count from 0 at the bottom).

# %%
puzzle_path = labkit.material("05-a", work)
print(puzzle_path.name)

# %%
# TODO 05-a: put the diffID of the puzzle's layer 1 here, then run this cell
my_diff_id = None
labkit.check("05-a", answer=my_diff_id)

# %% [markdown]
# ### 05-b · Your own diffID
# Build an image with at least one layer of your own and give the diffID of its top layer.
# Image A above qualifies — but find its diffID yourself.

# %%
# TODO 05-b: give the diffID of image A's top layer
labkit.check("05-b", image=record_a.image, answer=None)

# %% [markdown]
# ### 05-c · Shared below, different on top
# Build two images that share their bottom 2 layers or more (the same chainIDs) and each end
# with a layer of their own. Pass them as `image=` and `other=`.

# %%
# TODO 05-c: build a second image and pass it as other=
labkit.check("05-c", image=record_a.image, other=None)
