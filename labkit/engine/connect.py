"""Choose an engine: the Docker daemon when one answers, otherwise the simulator.

``LABKIT_ENGINE=sim|docker`` forces the choice; forcing docker without a daemon is a clear
error that says how to start one. The chosen engine is announced in one visible line.
"""
from __future__ import annotations

import importlib
import os

from ..errors import EngineUnavailable, LabkitError
from .base import Engine

CHOICES = ("auto", "sim", "docker")
# each engine's module is imported when that engine is chosen, so choosing one never loads the
# other: the simulator's builder and shell cost a fifth of a second of imports, which a CLI
# command that reads a saved tar (or a Docker session) should not pay
ENGINES = {"sim": ("labkit.engine.sim", "SimEngine"), "docker": ("labkit.engine.docker", "DockerEngine")}


def engine_class(name: str) -> type[Engine]:
    """The class of the engine called ``name`` ("sim" or "docker")."""
    module, cls = ENGINES[name]
    return getattr(importlib.import_module(module), cls)
_current: list[Engine] = []   # the engine connect() last returned in this kernel


def current() -> Engine | None:
    """The engine ``connect()`` last returned in this process (checks use the learner's engine)."""
    return _current[-1] if _current else None


def wanted_engine(engine: str | None = None) -> str:
    """The engine asked for: the argument, else ``LABKIT_ENGINE``, else ``auto``."""
    choice = (engine or os.environ.get("LABKIT_ENGINE") or "auto").strip().lower()
    if choice not in CHOICES:
        raise EngineUnavailable(f"unknown engine {choice!r} (from LABKIT_ENGINE or the argument)",
                                fix="use LABKIT_ENGINE=sim, LABKIT_ENGINE=docker, or leave it unset")
    return choice


def connect(engine: str | None = None, *, quiet: bool = False) -> Engine:
    """Return the Docker engine when a daemon answers, otherwise the simulator engine."""
    choice = wanted_engine(engine)
    chosen: Engine
    if choice == "sim":
        chosen = engine_class("sim")()
    else:
        try:
            chosen = engine_class("docker").connect(ping_timeout=3 if choice == "auto" else 10)
        except LabkitError as exc:
            if choice == "docker":
                raise EngineUnavailable(f"LABKIT_ENGINE=docker but no Docker daemon is usable: {exc}",
                                        fix="start one: sudo dockerd --bridge=none --iptables=false "
                                            "--ip-masq=false &   (or LABKIT_ENGINE=sim)") from None
            chosen = engine_class("sim")()
        except ImportError:
            if choice == "docker":
                raise EngineUnavailable("LABKIT_ENGINE=docker but the docker package is not installed",
                                        fix="pip install 'labkit[docker]'") from None
            chosen = engine_class("sim")()
    if not quiet:
        print(chosen.describe())
    _current[:] = [chosen]
    return chosen
