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
    "ImageRef": "labkit.values",
    "Change": "labkit.values",
    "format_history": "labkit.formatting",
    "instruction_of": "labkit.values",
    "example": "labkit.lessons.examples",
    "scratch": "labkit.engine.session",
    "format_build": "labkit.formatting",
    "human_size": "labkit.formatting",
    "short_instruction": "labkit.formatting",
    "TransferResult": "labkit.values",
    "LayerStorage": "labkit.values",
    # filesystem model and layers
    "Node": "labkit.fs.node",
    "Mount": "labkit.fs.overlay",
    "OpEvent": "labkit.fs.overlay",
    "read_dir": "labkit.fs.realfs",
    "write_dir": "labkit.fs.realfs",
    "TarEntry": "labkit.oci.tar.reader",
    "iter_entries": "labkit.oci.tar.reader",
    "read_layer": "labkit.oci.tar.unpack",
    "write_layer": "labkit.oci.tar.writer",
    "layer_bytes": "labkit.oci.tar.writer",
    "merge": "labkit.fs.layers",
    "apply": "labkit.fs.layers",
    "squash": "labkit.fs.layers",
    "layer_diff": "labkit.fs.layers",
    "check_layer_count": "labkit.fs.layers",
    "flatten": "labkit.oci.flatten",
    # images and analysis
    "open_image": "labkit.oci.image",
    "write_image_tar": "labkit.oci.write",
    "chain_ids": "labkit.oci.image",
    "Image": "labkit.oci.image",
    "Layer": "labkit.oci.image",
    "analyze": "labkit.analysis.efficiency",
    "analyze_entries": "labkit.analysis.efficiency",
    "Analysis": "labkit.analysis.efficiency",
    "DiveScore": "labkit.analysis.efficiency",
    "WasteItem": "labkit.analysis.efficiency",
    "parse_dive_ci": "labkit.analysis.efficiency",
    "evaluate_ci": "labkit.analysis.efficiency",
    "SecretFinding": "labkit.analysis.secrets",
    "compare_images": "labkit.analysis.compare",
    "Comparison": "labkit.analysis.compare",
    # the simulator's own values
    "SimImage": "labkit.sim.image",
    "SimBuildCache": "labkit.sim.builder",
    "ShellResult": "labkit.sim.shell",
    # Dockerfiles, contexts, the build cache
    "Dockerfile": "labkit.build.dockerfile",
    "parse_dockerfile": "labkit.build.dockerfile",
    "DockerIgnore": "labkit.build.dockerignore",
    "list_context": "labkit.build.context",
    "predict": "labkit.build.cache",
    "CacheState": "labkit.build.cache",
    "StepPrediction": "labkit.build.cache",
    "Healthcheck": "labkit.build.healthcheck",
    "parse_healthcheck": "labkit.build.healthcheck",
    "BuildRecord": "labkit.build.events",
    "parse_docker_stream": "labkit.build.events",
    # diagrams and widgets
    "layer_stack": "labkit.ui.viz",
    "overlay_diagram": "labkit.ui.viz",
    "cache_diagram": "labkit.ui.viz",
    "size_chart": "labkit.ui.viz",
    "efficiency_chart": "labkit.ui.viz",
    "overlay_playground": "labkit.ui.widgets",
    "cache_explorer": "labkit.ui.widgets",
    "LayerExplorer": "labkit.ui.widgets",
    "OverlayPlayground": "labkit.ui.widgets",
    "CacheExplorer": "labkit.ui.widgets",
    "SizeView": "labkit.ui.widgets",
    # exercises
    "check": "labkit.exercises.runner",
    "CheckResult": "labkit.exercises.spec",
    "material": "labkit.exercises.materials",
    # distribution and storage (lessons 09, 10)
    "Registry": "labkit.daemon.registry",
    "RealRegistry": "labkit.daemon.registry",
    "push": "labkit.daemon.registry",
    "pull": "labkit.daemon.registry",
    "base_diff_id": "labkit.engine.baseimage",
    "compare_drivers": "labkit.daemon.storage",
    "SecondDaemon": "labkit.daemon.storage",
    # the kernel's overlayfs, for lessons
    "KernelOverlay": "labkit.fs.kernel",
    "kernel_unavailable": "labkit.fs.kernel",
    # environment
    "doctor": "labkit.engine.doctor",
    # errors
    "LabkitError": "labkit.errors",
}


# sub-modules reachable as attributes (``labkit.viz.layer_stack``), imported on first use
_SUBMODULES: dict[str, str] = {
    "viz": "labkit.ui.viz",
    "widgets": "labkit.ui.widgets",
    "image": "labkit.oci.image",
    "layers": "labkit.fs.layers",
    "overlay": "labkit.fs.overlay",
    "cache": "labkit.build.cache",
    "compare": "labkit.analysis.compare",
    "analysis": "labkit.analysis",
    "lessons": "labkit.lessons",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'labkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS) + list(_SUBMODULES))


__all__ = sorted(_EXPORTS)
