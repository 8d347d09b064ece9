"""Helpers that single lessons call (``lessonNN``), and the example build contexts.

Contract: each ``lessonNN`` module turns one lesson's question into calls of the public
engine, ``oci``, ``analysis`` and ``ui`` APIs and returns plain values and text the notebook
prints; ``examples.example(name)`` copies a shipped build context to a fresh folder. Logic a
lesson shows lives here, tested, so notebooks stay thin.
"""
