"""Engines: one interface (``base.Engine``), two implementations (simulator, Docker)."""
