# %% [markdown]
# # 10 · Storage drivers: what an image costs on disk
#
# The same image can take very different room on disk, depending on the daemon's **storage
# driver** — the code that turns layers into directories:
#
# * **overlay2** (Docker's default on Linux) keeps each layer's *diff* in its own directory
#   and stacks them with the kernel's overlayfs (lessons 02–04). A layer costs what it adds.
# * **vfs** uses no union filesystem at all: each layer's directory is a *full copy* of the
#   image's tree up to that layer. Simple, works everywhere, and expensive.
#
# You will not take a size table's word for it: labkit models both, and on Docker (as root) it
# measures both — the main daemon's overlay2 directories, and a second, temporary `dockerd`
# started with `--storage-driver vfs` on its own data-root, into which the same image is
# loaded. (The second daemon is stopped and removed as soon as the measurement is done; the
# main daemon's data is only read.)

# %%
import labkit
from labkit.daemon.storage import compare_drivers

engine = labkit.connect()

# %% [markdown]
# ## An image with a big layer low down
# Three layers on the base: a 2 MB file first, then two tiny ones.

# %%
context = labkit.example("disk10")
print((context / "Dockerfile").read_text())
record = engine.build(context, tag="disk10", no_cache=True)
print(labkit.format_build(record))

# %% [markdown]
# ## The model
# Sizes count file bytes (each hard-linked file once, symlinks by their target's length), like
# `docker history`. They include the base layer — busybox — whose size depends on your
# machine, so the tests compare those as `MEASURED`; the small layers' bytes are compared
# exactly.

# %%
report = compare_drivers(engine, record.image)
print(report.table())

# %% [markdown]
# Under overlay2 the 2 MB file is stored once. Under vfs it is stored in layer 1 and copied
# into layers 2 and 3, and the base is in all four. What holds on every machine:

# %%
print(report.conclusions())

# %% [markdown]
# ## The measurement on this machine
# On Docker as root, the same table measured on disk (the overlay2 `diff` directories of the
# image, and the vfs directories of the second daemon), and whether it agrees with the model.
# On the simulator or without root there is nothing to measure, and the cell says so — which
# is why its output is not compared by the tests.

# %% tags=["nbval-ignore-output"]
# (why: measured on Docker as root only; sizes depend on this machine)
print(report.measurement())

# %% tags=["nbval-ignore-output"]
# (why: a picture of the totals above; bar lengths depend on this machine's busybox)
labkit.size_chart([("overlay2 (model)", report.total("overlay2")), ("vfs (model)", report.total("vfs"))],
                  title="bytes on disk for the same image")

# %% [markdown]
# Why would anyone use vfs? It needs nothing from the kernel, so it runs where overlayfs
# cannot — inside some containers, on odd filesystems — and it is the reference the other
# drivers are tested against. `docker info` tells you which driver your daemon uses (the
# engine line at the top of each lesson says it too).
#
# Note what the model says about **order**: under vfs, everything written early is paid for
# again in every later layer.
#
# ## Exercise 10-a · Order layers for vfs
# Rebuild the image with the same three files and three layers of its own, ordered so that
# under vfs the 2 MB file is stored only once. Copy `labkit.example("disk10")` somewhere,
# write your own Dockerfile there, build it and pass the image as `image=`.

# %%
# TODO 10-a: build your reordered image and pass it here
labkit.check("10-a", image=record.image)
