"""The filesystem model: layer directories, the overlay, and the kernel as its oracle.

Contract: a *layer directory* (``node.LayerDir``) is ``dict[path, Node]`` in overlay2's form
(paths relative, no leading slash; whiteouts are char 0/0 Nodes, opaque directories carry
``trusted.overlay.opaque=y``); a merged view (``Tree``) holds neither. ``overlay.Mount(lowers
top first, upper)`` behaves like a kernel overlayfs mount and raises ``OSError`` with the
kernel's errno; ``layers`` merges, applies, diffs and squashes layer directories (bottom
first); ``realfs`` writes and reads them as real directories, never anything privileged (no device
other than a whiteout, no set-id bit, no xattr but the opaque mark); ``kernel`` mounts the
real overlayfs with nodev,nosuid; ``users`` and ``volumes`` add USER permissions and image volumes. Standard
library only; imports nothing outside ``values``, ``errors`` and ``formatting``.
"""
