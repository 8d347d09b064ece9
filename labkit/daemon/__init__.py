"""Where images travel and how a daemon stores them (lessons 09 and 10).

Contract: ``registry`` — a registry model and a real local ``docker-registry`` on 127.0.0.1,
push/pull with Docker's per-layer words; ``storage`` — what each storage driver keeps on disk
for an image's layers, modelled and measured. Both work through the public
``engine.base.Engine`` interface only, never an engine's private parts.
"""
