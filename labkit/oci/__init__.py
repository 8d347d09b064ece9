"""Bytes <-> layers and images: layer tars, saved images and OCI layouts, digests, flatten.

Contract: ``tar`` reads a layer tar as a stream of entries and unpacks it with Docker
overlay2's rules into a ``fs.node.LayerDir`` (refusing what Docker refuses, never writing
outside its target), and writes layer directories back deterministically; ``image.open_image``
opens a ``docker save`` tar (legacy or OCI) or an OCI layout as an ``Image`` (config,
manifest, layers bottom first, history, diffIDs, chainIDs), its digests verified by ``blobs``;
``write.write_image_tar`` writes one; ``flatten`` merges an image's layers into the
filesystem a container starts with (in worker processes from ``parallel`` where that is safe).
Every JSON document of an image is checked by ``validate`` (one set of rules: wrong types are
an ``ImageError`` naming the file and field), and every reader keeps to the resource budgets
of one ``limits.Limits`` (``LimitExceeded`` names the limit and how to raise it), so no input
makes labkit use memory or time out of proportion to what the image holds.
Standard library only; never imports an engine.
"""
