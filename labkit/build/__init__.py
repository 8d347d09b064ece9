"""Dockerfile text and a build context -> a build plan, as Docker's classic builder reads them.

Contract: ``dockerfile.parse(text) -> Dockerfile`` (stages, instructions, Docker's refusals);
``context.list_context(dir)`` (after ``.dockerignore``, with the daemon's COPY checksums);
``cache.plan(...) -> tuple[PlannedStep, ...]`` resolves every step ONCE: its cache key (what
``docker history`` shows) and its arguments after variable substitution, from the FROM images'
config (``BaseImage``) — a builder executes that plan and never substitutes again;
``cache.predict`` says which steps hit the cache and why; ``events`` holds the typed build
events and ``BuildRecord`` both engines return, and parses Docker's build stream into them.
Standard library only; never imports an engine.
"""
