"""labkit: a teaching and lab kit for container image layering.

Public names are re-exported lazily, so ``import labkit`` does no work and never imports
``docker``, ``ipywidgets`` or ``graphviz``::

    import labkit
    engine = labkit.connect()          # Docker when a daemon answers, else the simulator
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # engines
    "connect": "labkit.engine.connect",
    "Engine": "labkit.engine.base",
    "ImageRef": "labkit.engine.base",
    "Change": "labkit.engine.base",
    "format_history": "labkit.formatting",
    "instruction_of": "labkit.engine.base",
    "example": "labkit.examples",
    "format_build": "labkit.formatting",
    "human_size": "labkit.formatting",
    "TransferResult": "labkit.engine.base",
    "LayerStorage": "labkit.engine.base",
    # filesystem model and layers
    "Node": "labkit.fsmodel",
    "Mount": "labkit.overlay",
    "OpEvent": "labkit.overlay",
    "read_dir": "labkit.realfs",
    "write_dir": "labkit.realfs",
    "TarEntry": "labkit.tarlayer",
    "iter_entries": "labkit.tarlayer",
    "read_layer": "labkit.tarlayer",
    "write_layer": "labkit.tarlayer",
    "layer_bytes": "labkit.tarlayer",
    "merge": "labkit.layers",
    "apply": "labkit.layers",
    "squash": "labkit.layers",
    "layer_diff": "labkit.layers",
    "check_layer_count": "labkit.layers",
    "flatten": "labkit.oci.flatten",
    # images and analysis
    "open_image": "labkit.image",
    "write_image_tar": "labkit.image",
    "chain_ids": "labkit.image",
    "Image": "labkit.image",
    "Layer": "labkit.image",
    "analyze": "labkit.analysis",
    "analyze_entries": "labkit.analysis",
    "Analysis": "labkit.analysis",
    "DiveScore": "labkit.analysis",
    "WasteItem": "labkit.analysis",
    "parse_dive_ci": "labkit.analysis",
    "evaluate_ci": "labkit.analysis",
    "SecretFinding": "labkit.secrets",
    "compare_images": "labkit.compare",
    "Comparison": "labkit.compare",
    # the simulator's own values
    "SimImage": "labkit.simimage",
    "SimBuildCache": "labkit.simbuild",
    "ShellResult": "labkit.shell",
    # Dockerfiles, contexts, the build cache
    "Dockerfile": "labkit.dockerfile",
    "parse_dockerfile": "labkit.dockerfile",
    "DockerIgnore": "labkit.dockerignore",
    "list_context": "labkit.context",
    "predict": "labkit.cache",
    "CacheState": "labkit.cache",
    "StepPrediction": "labkit.cache",
    "Healthcheck": "labkit.healthcheck",
    "parse_healthcheck": "labkit.healthcheck",
    "BuildRecord": "labkit.buildevents",
    "parse_docker_stream": "labkit.buildevents",
    # diagrams and widgets
    "layer_stack": "labkit.viz",
    "overlay_diagram": "labkit.viz",
    "cache_diagram": "labkit.viz",
    "size_chart": "labkit.viz",
    "efficiency_chart": "labkit.viz",
    "overlay_playground": "labkit.widgets",
    "cache_explorer": "labkit.widgets",
    "LayerExplorer": "labkit.widgets",
    "OverlayPlayground": "labkit.widgets",
    "CacheExplorer": "labkit.widgets",
    "SizeView": "labkit.widgets",
    # exercises
    "check": "labkit.exercises.runner",
    "CheckResult": "labkit.exercises.spec",
    "material": "labkit.exercises.materials",
    # distribution and storage (lessons 09, 10)
    "Registry": "labkit.registry",
    "RealRegistry": "labkit.registry",
    "push": "labkit.registry",
    "pull": "labkit.registry",
    "base_diff_id": "labkit.baseimage",
    "compare_drivers": "labkit.storage",
    "SecondDaemon": "labkit.storage",
    # the kernel's overlayfs, for lessons
    "KernelOverlay": "labkit.kernelmount",
    "kernel_unavailable": "labkit.kernelmount",
    # environment
    "doctor": "labkit.doctor",
    # errors
    "LabkitError": "labkit.errors",
}


# sub-modules reachable as attributes (``labkit.viz.layer_stack``), imported on first use
_SUBMODULES = ("viz", "widgets", "analysis", "image", "layers", "overlay", "cache", "compare", "lessons")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"labkit.{name}")
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))


__all__ = sorted(_EXPORTS)
