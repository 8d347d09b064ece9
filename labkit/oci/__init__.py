"""bytes <-> layers and images: layer tars, image archives and layouts, digests, flatten."""
