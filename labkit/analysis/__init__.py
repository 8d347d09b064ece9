"""Readable images -> findings: what each layer does and where its bytes go.

Contract: ``efficiency.analyze(Image) -> Analysis`` (per-layer changes, dive's score computed
as dive computes it, labkit's corrected waste, ``.dive-ci`` rules); ``secrets`` finds
credentials left in any layer (masked); ``compare.compare(a, b) -> Comparison`` (shared
layers by diffID and chainID, what a pull transfers, path changes); ``report`` renders these
values as dicts (JSON), text and HTML and computes nothing. Input is an ``oci.image.Image``
(from a tar, a layout or ``Engine.open_image``); never imports an engine.
"""
