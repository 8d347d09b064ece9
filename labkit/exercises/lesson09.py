"""Lesson 09: distribution (layer sharing on pull). No exercises registered yet.

The efficiency exercise that used to live here is "07-a" (lesson 07, slimming)."""
from __future__ import annotations

EXERCISES: tuple = ()
