"""One validation of image metadata: ``manifest.json``, ``oci-layout``, ``index.json``, OCI
manifests and manifest lists, image configs (``rootfs``, ``history``, ``config``).

``image.open_image`` runs every document it reads through here before using it, so every
command and both engines see the same rules and the same errors: a wrong JSON type is an
``ImageError`` naming the file and the field ("manifest.json: [0].RepoTags is a string, not a
list of strings"), never a traceback from deeper down. The rules are the JSON types Docker's
Go structs give these documents (``docker load`` refuses the same inputs: "json: cannot
unmarshal ..."); ``null`` is accepted wherever Go accepts it (an absent value). Each function
returns the document it checked, unchanged.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ..errors import ImageError

__all__ = ["legacy_manifest", "oci_layout", "index", "manifest", "descriptor", "config",
           "is_index", "DIGEST"]

DIGEST = re.compile(r"sha256:[0-9a-f]{64}\Z")
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
_FIX = "the image is malformed: save it again (or fix the file by hand)"


class _Doc:
    """Type checks on one JSON document; errors name ``label: name: field``."""

    def __init__(self, label: str, name: str) -> None:
        self.label, self.name = label, name

    def fail(self, where: str, problem: str) -> ImageError:
        at = f"{self.name}: {where}" if where else self.name
        return ImageError(f"{self.label}: {at} {problem}", fix=_FIX)

    def obj(self, value: Any, where: str, *, null: bool = False) -> dict[str, Any]:
        if value is None and null:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, f"is {_kind(value)}, not a JSON object")
        return value

    def lst(self, value: Any, where: str, *, null: bool = False) -> list[Any]:
        if value is None and null:
            return []
        if not isinstance(value, list):
            raise self.fail(where, f"is {_kind(value)}, not a list")
        return value

    def string(self, value: Any, where: str, *, null: bool = True) -> None:
        if not (isinstance(value, str) or (null and value is None)):
            raise self.fail(where, f"is {_kind(value)}, not a string")

    def strings(self, value: Any, where: str, *, null: bool = True) -> list[str]:
        if value is None and null:
            return []
        items = self.lst(value, where)
        for i, x in enumerate(items):
            if not isinstance(x, str):
                raise self.fail(f"{where}[{i}]", f"is {_kind(x)}, not a string")
        return items

    def integer(self, value: Any, where: str, *, null: bool = True, minimum: int | None = None) -> None:
        if null and value is None:
            return
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, f"is {_kind(value)}, not a whole number")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"is {value}, less than {minimum}")

    def boolean(self, value: Any, where: str) -> None:
        if not (value is None or isinstance(value, bool)):
            raise self.fail(where, f"is {_kind(value)}, not true or false")

    def str_map(self, value: Any, where: str) -> None:
        for k, v in self.obj(value, where, null=True).items():
            self.string(v, f"{where}[{k!r}]")

    def obj_map(self, value: Any, where: str) -> None:
        """A set written as an object of empty objects (``ExposedPorts``, ``Volumes``)."""
        for k, v in self.obj(value, where, null=True).items():
            self.obj(v, f"{where}[{k!r}]", null=True)

    def str_list_or_str(self, value: Any, where: str) -> None:
        """Go's ``strslice.StrSlice``: a list of strings, or one string."""
        if not isinstance(value, str):
            self.strings(value, where)

    def fields(self, d: dict[str, Any], prefix: str, rules: dict[str, Callable[..., Any]]) -> None:
        for key, check in rules.items():
            if key in d:
                check(self, d[key], f"{prefix}{key}")

    def digest(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"is {_kind(value)}, not a digest")
        if not DIGEST.match(value):
            algo = value.split(":", 1)[0] if ":" in value else ""
            if algo and algo != "sha256" and re.fullmatch(r"[a-z0-9]+([+._-][a-z0-9]+)*", algo):
                raise self.fail(where, f"uses the digest algorithm {algo}, which labkit does not "
                                       "support (only sha256)")
            raise self.fail(where, f"is {_short(value)}, not a digest (sha256: and 64 hex digits)")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return {dict: "a JSON object", list: "a list", str: "a string", int: "a number",
            float: "a number"}.get(type(value), type(value).__name__)


def _short(value: str) -> str:
    return repr(value if len(value) <= 80 else value[:77] + "...")


# --------------------------------------------------------------------------- docker save

def legacy_manifest(data: Any, label: str) -> list[dict[str, Any]]:
    """``manifest.json`` of ``docker save``: a list of ``{"Config": str, "Layers": [str],
    "RepoTags": [str] | null, "Parent": str, "LayerSources": {diffID: descriptor}}``."""
    doc = _Doc(label, "manifest.json")
    entries = doc.lst(data, "")
    for i, e in enumerate(entries):
        at = f"[{i}]"
        doc.obj(e, at)
        if not isinstance(e.get("Config"), str):
            raise doc.fail(f"{at}.Config", "is missing or not a string (the config file's name)")
        if "Layers" not in e:
            raise doc.fail(f"{at}.Layers", "is missing (the list of layer files)")
        doc.strings(e["Layers"], f"{at}.Layers", null=False)
        doc.strings(e.get("RepoTags"), f"{at}.RepoTags")
        doc.string(e.get("Parent"), f"{at}.Parent")
        for k, d in doc.obj(e.get("LayerSources"), f"{at}.LayerSources", null=True).items():
            _descriptor(doc, d, f"{at}.LayerSources[{k!r}]")
    return entries


# --------------------------------------------------------------------------- OCI layout

def oci_layout(data: Any, label: str) -> dict[str, Any]:
    """``oci-layout``: ``{"imageLayoutVersion": str}``."""
    doc = _Doc(label, "oci-layout")
    d = doc.obj(data, "")
    if not isinstance(d.get("imageLayoutVersion"), str):
        raise doc.fail("imageLayoutVersion", "is missing or not a string")
    return d


def _platform(doc: _Doc, value: Any, where: str) -> None:
    p = doc.obj(value, where, null=True)
    doc.fields(p, f"{where}.", {"architecture": _Doc.string, "os": _Doc.string,
                                "variant": _Doc.string, "os.version": _Doc.string,
                                "os.features": _Doc.strings, "features": _Doc.strings})


def descriptor(data: Any, label: str, name: str, where: str = "") -> dict[str, Any]:
    """An OCI content descriptor (``where`` in the file ``name``): ``digest`` (sha256),
    ``size`` (whole number, optional here), ``mediaType``, ``annotations`` (strings),
    ``platform``, ``urls``."""
    return _descriptor(_Doc(label, name), data, where)


def _descriptor(doc: _Doc, data: Any, where: str) -> dict[str, Any]:
    pre = f"{where}." if where else ""
    d = doc.obj(data, where)
    if "digest" not in d:
        raise doc.fail(f"{pre}digest", "is missing")
    doc.digest(d["digest"], f"{pre}digest")
    doc.integer(d.get("size"), f"{pre}size", minimum=0)
    doc.string(d.get("mediaType"), f"{pre}mediaType")
    doc.str_map(d.get("annotations"), f"{pre}annotations")
    doc.strings(d.get("urls"), f"{pre}urls")
    if "platform" in d:
        _platform(doc, d["platform"], f"{pre}platform")
    return d


def is_index(d: dict[str, Any]) -> bool:
    """An image index or manifest list (as opposed to one image's manifest)."""
    return d.get("mediaType") in (OCI_INDEX, DOCKER_LIST) or ("manifests" in d and "layers" not in d)


def index(data: Any, label: str, name: str = "index.json") -> dict[str, Any]:
    """An image index (``index.json``, or a manifest list blob): ``{"manifests": [descriptor]}``."""
    doc = _Doc(label, name)
    d = doc.obj(data, "")
    doc.integer(d.get("schemaVersion"), "schemaVersion")
    doc.string(d.get("mediaType"), "mediaType")
    doc.str_map(d.get("annotations"), "annotations")
    if "manifests" not in d:
        raise doc.fail("manifests", "is missing (the list of image manifests)")
    for i, m in enumerate(doc.lst(d["manifests"], "manifests")):
        _descriptor(doc, m, f"manifests[{i}]")
    return d


def manifest(data: Any, label: str, name: str) -> dict[str, Any]:
    """An image manifest (``config`` and ``layers`` descriptors), or an index / manifest list
    (checked as ``index``; ``is_index`` tells which)."""
    doc = _Doc(label, name)
    d = doc.obj(data, "")
    if is_index(d):
        return index(d, label, name)
    doc.integer(d.get("schemaVersion"), "schemaVersion")
    doc.string(d.get("mediaType"), "mediaType")
    doc.str_map(d.get("annotations"), "annotations")
    if "config" not in d:
        raise doc.fail("config", "is missing (the image config's descriptor)")
    _descriptor(doc, d["config"], "config")
    if "layers" not in d:
        raise doc.fail("layers", "is missing (the list of layer descriptors)")
    for i, la in enumerate(doc.lst(d["layers"], "layers")):
        _descriptor(doc, la, f"layers[{i}]")
    return d


# --------------------------------------------------------------------------- image config

def _healthcheck(doc: _Doc, value: Any, where: str) -> None:
    h = doc.obj(value, where, null=True)
    doc.fields(h, f"{where}.", {"Test": _Doc.strings, "Interval": _Doc.integer, "Timeout": _Doc.integer,
                                "StartPeriod": _Doc.integer, "StartInterval": _Doc.integer,
                                "Retries": _Doc.integer})


# the fields of a container config (``config`` and ``container_config``) and their types
_RUN_CONFIG: dict[str, Callable[..., Any]] = {
    "Hostname": _Doc.string, "Domainname": _Doc.string, "User": _Doc.string,
    "WorkingDir": _Doc.string, "StopSignal": _Doc.string, "Image": _Doc.string,
    "Env": _Doc.strings, "OnBuild": _Doc.strings,
    "Cmd": _Doc.str_list_or_str, "Entrypoint": _Doc.str_list_or_str, "Shell": _Doc.str_list_or_str,
    "Labels": _Doc.str_map, "ExposedPorts": _Doc.obj_map, "Volumes": _Doc.obj_map,
    "Healthcheck": _healthcheck, "ArgsEscaped": _Doc.boolean, "StopTimeout": _Doc.integer,
    "Tty": _Doc.boolean, "OpenStdin": _Doc.boolean, "AttachStdin": _Doc.boolean,
    "AttachStdout": _Doc.boolean, "AttachStderr": _Doc.boolean, "StdinOnce": _Doc.boolean,
}
_HISTORY: dict[str, Callable[..., Any]] = {
    "created": _Doc.string, "created_by": _Doc.string, "author": _Doc.string,
    "comment": _Doc.string, "empty_layer": _Doc.boolean,
}
_TOP: dict[str, Callable[..., Any]] = {
    "architecture": _Doc.string, "os": _Doc.string, "variant": _Doc.string,
    "os.version": _Doc.string, "os.features": _Doc.strings, "created": _Doc.string,
    "author": _Doc.string, "docker_version": _Doc.string, "container": _Doc.string,
    "comment": _Doc.string, "parent": _Doc.string, "id": _Doc.string,
}


def config(data: Any, label: str, name: str, n_layers: int | None = None) -> dict[str, Any]:
    """An image config: ``rootfs.diff_ids`` a list of sha256 digests (``n_layers`` of them,
    when given), ``history`` a list of objects with string ``created``/``created_by``/
    ``author``/``comment`` and boolean ``empty_layer``, ``config`` a container config (``Env``
    a list of strings, ``Cmd`` a list of strings or a string, ``Labels`` strings ...)."""
    doc = _Doc(label, name)
    d = doc.obj(data, "")
    doc.fields(d, "", _TOP)
    if "rootfs" not in d:
        raise doc.fail("rootfs", "is missing (the list of the layers' diffIDs)")
    rootfs = doc.obj(d["rootfs"], "rootfs")
    doc.string(rootfs.get("type"), "rootfs.type")
    if "diff_ids" not in rootfs:
        raise doc.fail("rootfs.diff_ids", "is missing (the list of the layers' diffIDs)")
    ids = doc.lst(rootfs["diff_ids"], "rootfs.diff_ids")
    for i, x in enumerate(ids):
        doc.digest(x, f"rootfs.diff_ids[{i}]")
    if n_layers is not None and len(ids) != n_layers:
        raise ImageError(f"{label}: the config lists {len(ids)} diff_ids but the manifest {n_layers} layers",
                         fix="the manifest and config do not belong together; save the image again")
    for i, h in enumerate(doc.lst(d.get("history"), "history", null=True)):
        doc.fields(doc.obj(h, f"history[{i}]"), f"history[{i}].", _HISTORY)
    for key in ("config", "container_config"):
        doc.fields(doc.obj(d.get(key), key, null=True), f"{key}.", _RUN_CONFIG)
    return d
