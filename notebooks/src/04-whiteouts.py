# %% [markdown]
# # 04 · Whiteouts and opaque directories
#
# Layers are read-only, so a later layer — or a container — cannot really delete a file that a
# lower layer holds. It **hides** it instead, with one of two markers:
#
# * a **whiteout** hides one name. In a layer tar it is an empty entry `DIR/.wh.NAME`; on disk
#   (overlay2's unpacked layers, a container's upper directory) a character device 0/0 `NAME`;
# * an **opaque directory** hides everything the lower layers have in that directory. In a tar
#   it is an entry `DIR/.wh..wh..opq`; on disk the xattr `trusted.overlay.opaque=y` on `DIR`.

# %%
import labkit
from labkit.lessons.lesson02 import side_by_side, format_layer
from labkit.lessons.lesson04 import layer_entries, format_entries, on_disk

engine = labkit.connect()

# %% [markdown]
# ## Deleting in a Dockerfile
# This image writes some files in one step and deletes some of them in the next two:

# %%
context = labkit.example("whiteouts04")
print((context / "Dockerfile").read_text())
record = engine.build(context, tag="whiteouts")
print(labkit.format_history(engine.history(record.image)))

# %% [markdown]
# The deleting layers are 0 bytes, and layer 1 keeps all 64 KiB of the blob that layer 3
# "removed": every client that pulls the image still downloads it. Here are the raw entries of
# the saved layers (`engine.save`, then the layer tars read entry by entry):

# %%
saved = engine.save(record.image, context / "whiteouts.tar")
for i in (1, 2, 3):
    print(f"-- layer {i}")
    print(format_entries(layer_entries(saved, i)))

# %% [markdown]
# `rm -rf /srv/data/cache` left ONE whiteout for the whole directory, not one per file.
#
# ## What `rm -rf` really leaves in a container
# Delete a whole directory of the image in a running container:

# %%
c = engine.start(record.image)
engine.exec(c, "rm -rf /srv/data")
print(*engine.diff(c), sep="\n")
print("writable layer:", labkit.viz.human_size(engine.container_size(c).rw))

# %% [markdown]
# `docker diff` reports one deletion, and the writable layer holds **0 bytes**: deleting frees
# nothing from the image. To see the writable layer itself, commit it as an image layer and
# unpack that layer onto a real disk the way overlay2 does (when this machine allows it:
# device nodes and `trusted.*` xattrs need root):

# %%
deleted = engine.commit(c, tag="whiteouts-rm")
top = engine.layer_dirs(deleted)[-1]
print(on_disk(top))

# %% tags=["nbval-ignore-output"]
# (not compared: machine-specific: whether this machine could make device nodes)
print(on_disk(top).source)

# %% [markdown]
# `srv/data` is now a character device 0/0: a whiteout. In the committed layer's tar it is
# `srv/.wh.data`:

# %%
print(format_entries(layer_entries(engine.save(deleted, context / "deleted.tar"))))

# %% [markdown]
# ## mkdir over a deleted directory: opaque
# Delete the directory and create a new one of the same name. The new directory must not show
# the old contents, so overlayfs marks it **opaque**:

# %%
c2 = engine.start(record.image)
engine.exec(c2, "rm -rf /srv/data && mkdir /srv/data && echo fresh > /srv/data/fresh.txt")
print(*engine.diff(c2), sep="\n")
replaced = engine.commit(c2, tag="whiteouts-opaque")
print(on_disk(engine.layer_dirs(replaced)[-1]))
print(format_entries(layer_entries(engine.save(replaced, context / "replaced.tar"))))

# %% [markdown]
# ## The kernel, side by side
# The same two container actions on the kernel's own overlayfs, mounted from this image's
# layers (top first), against the simulator. `format_layer` prints the upper directory each
# leaves behind:

# %%
lowers = list(reversed(engine.layer_dirs(record.image)))
rm_only = side_by_side(lowers, {}, [("rm_rf", "srv/data")])
print(rm_only.verdict())
print(format_layer(rm_only.sim_upper, title="upper after rm -rf /srv/data"))
rm_mkdir = side_by_side(lowers, {}, [("rm_rf", "srv/data"), ("mkdir", "srv/data")])
print(rm_mkdir.verdict())
print(format_layer(rm_mkdir.sim_upper, title="upper after rm -rf + mkdir /srv/data"))

# %% [markdown]
# The second upper directory as it is stored on disk: read back from the kernel's upper
# directory when the kernel ran (otherwise the simulator's, in the same words). The whiteout
# that `rm -rf` left was replaced by a directory that carries the opaque xattr:

# %%
print(rm_mkdir.upper_on_disk())

# %% [markdown]
# ## Exercise 04-a: delete, and see the whiteout
# In a container of labkit's base image, delete `/etc/group` so that `docker diff` reports it
# as deleted (**D**).

# %%
# TODO: c4 = engine.start(engine.base_image()); engine.exec(c4, ...)
c4 = None
labkit.check("04-a", container=c4, engine=engine)

# %% [markdown]
# ## Exercise 04-b: the whiteout in a layer
# Commit the container of 04-a as an image: its top layer must hold the whiteout.

# %%
# TODO: img4 = engine.commit(c4, tag="deleted")
img4 = None
labkit.check("04-b", image=img4, engine=engine)

# %% [markdown]
# ## Exercise 04-c: replace a directory
# In a container of the `whiteouts04` image, replace `/srv/data` by a new, empty directory,
# write `/srv/data/fresh.txt` into it, and commit: the top layer must mark `/srv/data` opaque.

# %%
# TODO: start a container of record.image, replace /srv/data, commit it
img4c = None
labkit.check("04-c", image=img4c, engine=engine)
