"""What the learner sees: graphviz diagrams (``viz``) and ipywidgets (``widgets``).

Contract: functions and widgets fed labkit values only (layer directories, mounts, history,
analyses, cache predictions); ``graphviz`` and ``ipywidgets`` are imported inside the
functions that draw, so importing this package does no work. Nothing in the core imports it.
"""
