"""The simulator: a build plan and images -> new images, with no daemon.

Contract: ``builder.build(context, resolve=...) -> (BuildRecord, SimImage)`` executes the plan
of ``build.cache.plan`` step by step on ``fs.overlay.Mount`` values, the way Docker 20.10's
classic builder does (same history text, layers and cache decisions; checked against a real
daemon); ``image.SimImage`` is an image as layers + config with Docker's ids; ``shell`` runs
RUN steps through a documented model of BusyBox ``sh`` and refuses what it does not model
with ``UnsupportedOperation``. Files' content lives in memory: ``budget`` bounds what a build
or an image holds by ``oci.limits.Limits.memory_bytes``, counted before it is read (``archive``
reads an ``ADD`` archive's headers first). Standard library only; never imports an engine.
"""
