# %% [markdown]
# # 07 · Multi-stage builds and slimming
#
# Building a program often needs much more than running it: a compiler, headers, the sources.
# If all of that happens in the image you ship, all of it ships — and deleting it in a later
# step does not help, because the layer that added it is still part of the image (lesson 04).
#
# This lesson builds one small app three ways, measures the images **on your machine**, scores
# them the way the `dive` tool does, gates them with a `.dive-ci` rules file, and tries
# `squash`.

# %%
import labkit
from labkit.lessons.lesson07 import (analyze_image, build_stages, ci_gate, dive_above_base, efficiency_line,
                                     size_table)

engine = labkit.connect()

# %% [markdown]
# ## One app, three Dockerfiles
# The "toolchain" is a 400 KiB file (it stands for a compiler); "compiling" concatenates the
# two source files into `/out/app`.

# %%
context = labkit.example("slim-app")
for name in ["single.Dockerfile", "cleanup.Dockerfile", "Dockerfile"]:
    print(f"----- {name}")
    print((context / name).read_text())

# %%
single = engine.build(context, dockerfile="single.Dockerfile", tag="slim-single")
cleanup = engine.build(context, dockerfile="cleanup.Dockerfile", tag="slim-cleanup")
multi = engine.build(context, tag="slim-multi")
print(single.ok, cleanup.ok, multi.ok)

# %% [markdown]
# All three run the same program:

# %%
print(engine.run(single.image, "/out/app", keep=False).output, end="")
print(engine.run(cleanup.image, "/out/app", keep=False).output, end="")
print(engine.run(multi.image, "app", keep=False).output, end="")

# %% [markdown]
# ## Every stage is an image
# `build_stages` builds the Dockerfile cut after each stage (what `docker build --target` does)
# and measures each one. The `build` stage holds the toolchain; the last stage starts again
# from `labkit/base` and copies one file out of it.

# %%
stages = build_stages(engine, context, tag="slim-stage")
print(size_table(engine, [(s.size.name, s.record) for s in stages]))

# %% [markdown]
# ## Final sizes
# *Added above the base* is what each Dockerfile adds to `labkit/base` (the same on every
# machine); *size* includes the base, i.e. your machine's busybox binary.

# %%
sizes = size_table(engine, {"single stage": single, "single stage + rm": cleanup,
                            "multi-stage": multi})
print(sizes)

# %% tags=["nbval-ignore-output"]
# (not compared: the bars include the base layer (this machine's busybox); the bytes above the base are compared in the table above)
sizes.chart()

# %% [markdown]
# The `rm` step did not make the image any smaller: it added one more layer (holding only
# whiteouts), and the toolchain is still stored in layer 1.
#
# ## Efficiency, as dive scores it
# `dive` counts bytes that are stored but not visible at the top (deleted or overwritten by a
# later layer) as *wasted*. Its efficiency score does not know what your app needs: the single
# stage image scores perfectly although it ships the toolchain.

# %%
built = {"single stage": single, "single stage + rm": cleanup, "multi-stage": multi}
analyses = {name: analyze_image(engine, record.image) for name, record in built.items()}
for name, analysis in analyses.items():
    print(efficiency_line(name, analysis, dive_above_base(engine, built[name].image)))

# %% tags=["nbval-ignore-output"]
# (not compared: bar lengths include the base layer (this machine's busybox); the wasted bytes are compared above)
labkit.viz.efficiency_chart(analyses["single stage + rm"])

# %% [markdown]
# ## A CI gate: `.dive-ci`
# `dive --ci` (and `labkit inspect IMAGE --ci`, which reads `./.dive-ci` or `--ci-config FILE`)
# fails a pipeline when an image breaks these rules. `ci_gate` applies the same rules here:

# %%
rules = context / ".dive-ci"
print(rules.read_text())
for name, analysis in analyses.items():
    print(ci_gate(analysis, rules, name=name))

# %% [markdown]
# The gate catches the `rm` mistake, but passes the single-stage image: efficiency rules find
# waste, not weight. Compare sizes too.
#
# ## `squash`
# `engine.build(..., squash=True)` (Docker's `--squash`, an experimental daemon feature) merges
# every layer the Dockerfile made into one, keeping the base's layers. Deleted files are then
# gone for good:

# %%
squashed = engine.build(context, dockerfile="cleanup.Dockerfile", tag="slim-squashed", squash=True)
print(size_table(engine, {"single stage + rm": cleanup, "squashed": squashed, "multi-stage": multi}))
print(efficiency_line("squashed", analyze_image(engine, squashed.image), dive_above_base(engine, squashed.image)))
print(engine.run(squashed.image, "/out/app", keep=False).output, end="")

# %% [markdown]
# Squash gives up what layers are good for: the squashed layer shares nothing with other images
# built from the same steps, and every change re-ships all of it. A multi-stage build keeps the
# layers and ships only the result.
#
# ## Exercises
# **07-a No dead weight.** Build an image of at least 3 layers whose final filesystem has
# `/app/data` (at least 100,000 bytes), with a dive efficiency of at least 0.95.

# %%
# TODO: build your image, e.g. engine.build(my_folder, tag="no-dead-weight"), and pass its tag
labkit.check("07-a", image=None)

# %% [markdown]
# **07-b Ship only the app.** From the slim-app example, build an image in which the program
# `app` (on the PATH) prints the greeting while neither the toolchain nor the sources ship in any
# layer.

# %%
# TODO: build it, e.g. engine.build(my_context, dockerfile="my.Dockerfile", tag="only-app")
labkit.check("07-b", image=None)
