# %% [markdown]
# # 03 · Copy-on-write
#
# Image layers are read-only and shared by every container of the image. A container gets one
# more directory on top — its **writable layer** (overlayfs' *upper*). Nothing is copied when
# the container starts; a file is copied up only when the container first **changes** it.
# This lesson watches that happen, measures what it costs, and shows a surprise it causes.

# %%
import labkit
from labkit.ui.viz import human_size
from labkit.lessons.lesson02 import side_by_side
from labkit.lessons.lesson03 import measure_copy_up, copy_up_chart, hardlink_layer

engine = labkit.connect()

# %% [markdown]
# ## A new container costs nothing
# `engine.container_size(c).rw` is what `docker ps -s` calls SIZE: the bytes in the container's
# writable layer. A fresh container's is empty:

# %%
c = engine.start(engine.base_image())
print("writable layer:", human_size(engine.container_size(c).rw))
print("docker diff:", engine.diff(c))

# %% [markdown]
# Write a new file: the writable layer holds exactly its bytes, and `docker diff` lists it as
# **A**dded (its directory `/tmp`, which exists in the image, shows as **C**hanged):

# %%
engine.exec(c, "echo hello > /tmp/hello.txt")
print("writable layer:", human_size(engine.container_size(c).rw))
print(*engine.diff(c), sep="\n")

# %% [markdown]
# ## Changing an image file copies ALL of it
# `touch` changes only the modification time of `/bin/busybox` (the image's biggest file).
# To record even that, overlayfs first copies the **whole file** up into the writable layer:

# %%
before = engine.container_size(c).rw
engine.exec(c, "touch /bin/busybox")
after = engine.container_size(c).rw
file_size = int(engine.exec(c, "wc -c < /bin/busybox").output)
print("the writable layer grew by the whole file:", after - before == file_size)
print(*engine.diff(c), sep="\n")

# %% tags=["nbval-ignore-output"]
# (not compared: the size of busybox depends on the machine's busybox package)
print(f"/bin/busybox: {file_size:,} bytes; writable layer {before:,} -> {after:,} bytes")

# %% [markdown]
# ## What copy-up costs
# `measure_copy_up` puts files of growing size in a lower layer and appends ONE byte to each,
# twice, on the **kernel's overlayfs** when this machine allows it (Linux, root; otherwise the
# simulator counts the bytes it copies). The times vary from run to run, so the checked output
# is the conclusion drawn from them:

# %%
cost = measure_copy_up()
print(cost.conclusions())

# %% tags=["nbval-ignore-output"]
# (not compared: timings vary with the machine and its load; the conclusions above are checked)
print(cost.table())
copy_up_chart(cost)

# %% [markdown]
# Appending one byte to a big file costs as much as copying the file — once. That is why
# writing logs or databases into a container's filesystem (instead of a volume) is slow at
# first, and why the writable layer can grow by far more than what the program wrote.
#
# ## Hard links break on copy-up
# In this image `/data/a` and `/data/b` are **one file** with two names (a hard link):

# %%
context = labkit.example("hardlinks03")
print((context / "Dockerfile").read_text())
record = engine.build(context, tag="links")
links = engine.start(record.image)
print(engine.exec(links, "cat /data/a /data/b").output)

# %% [markdown]
# Append to `/data/a`. Copy-up copies the **name** you wrote to; Docker mounts overlayfs with
# `index=off`, so the other name stays behind in the image layer with the old content:

# %%
print(engine.exec(links, "echo v2 >> /data/a && cat /data/a && echo --- && cat /data/b").output)
print(*engine.diff(links), sep="\n")

# %% [markdown]
# The same on the kernel's overlayfs, side by side with the simulator (lesson 02's helper):

# %%
broken = side_by_side([hardlink_layer()], {}, [("append", "data/a", b"v2\n")])
print(broken.verdict())
print("a:", broken.sim_tree["data/a"].data, " b:", broken.sim_tree["data/b"].data)

# %% [markdown]
# ## Exercise 03-a: a heavy writable layer
# Start a container and make its writable layer hold more than 1 MiB, without changing the
# image. Pass the container to the check.

# %%
# TODO: c3 = engine.start(engine.base_image()); engine.exec(c3, ...)
c3 = None
labkit.check("03-a", container=c3, engine=engine)

# %% [markdown]
# ## Exercise 03-b: a hard link breaks
# Build `labkit.example("hardlinks03")`, start a container of it, append a line to `/data/a`
# only, and check that `/data/b` no longer follows.

# %%
# TODO: start a container of the hardlinks03 image and append to /data/a
c3b = None
labkit.check("03-b", container=c3b, engine=engine)
