"""Inspect an image: per-layer changes, dive's efficiency, reclaimable bytes, secrets."""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path

from ..analysis.efficiency import analyze, evaluate_ci, parse_dive_ci
from ..analysis.report import analysis_dict, ci_text
from ..engine.connect import connect
from ..errors import ImageError
from ..formatting import escape_controls
from ..oci.image import open_image
from ..oci.limits import Limits
from .common import (
    PIPE_HELP,
    add_limit_option,
    check_output,
    count,
    for_terminal,
    input_path,
    read_text,
    shown,
    write_output,
)


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("image", metavar="IMAGE|TAR|DIR",
                        help="a docker-save tar, an OCI layout directory, or an image name (saved from "
                             "the engine); " + PIPE_HELP % "inspect")
    parser.add_argument("--json", action="store_true", help="print the analysis as JSON")
    parser.add_argument("--html", metavar="FILE", help="also write an HTML report to FILE")
    parser.add_argument("--top", type=count(0), default=10, help="how many items per list (default 10)")
    parser.add_argument("--tag", help="which image, when the tar holds several")
    parser.add_argument("--ci", action="store_true",
                        help="evaluate dive's CI rules; exit 1 when one fails (unlike dive, the CI "
                             "environment variable does not turn this on: CI systems set it everywhere)")
    parser.add_argument("--ci-config", metavar="FILE", default=None,
                        help="dive rules file (default: ./.dive-ci when it exists, else dive's defaults)")
    parser.add_argument("--no-secrets", action="store_true", help="do not read file contents for secrets")
    add_limit_option(parser)


@contextlib.contextmanager
def image_source(name: str, tag: str | None = None, *, verify: bool = True,
                 limits: Limits | None = None) -> Iterator[object]:
    """Open ``name`` as a tar/dir (``-`` and pipes too, see ``common.input_path``), or save it
    from the engine to a temporary tar first. ``verify=False`` leaves the digest checks to the
    first full read (the analysis does one)."""
    with input_path(name, "image", limits, missing_ok=True) as path:
        if path is not None:
            with open_image(path, tag=tag, verify=verify, limits=limits) as img:
                yield img
            return
    engine = connect(quiet=True)
    with contextlib.ExitStack() as stack:
        try:
            img = stack.enter_context(engine.open_image(name, verify=verify))
        except Exception as exc:
            raise ImageError(f"{name}: not a file or directory, and the {engine.name or 'current'} engine "
                             f"cannot save an image by that name ({str(exc).split(chr(10))[0]})",
                             fix="pass a docker-save tar or OCI layout directory, or an image name "
                                 "the engine knows (see `docker images`)") from None
        yield img


def _ci_rules(path: str | None, limits: Limits | None = None) -> dict[str, str]:
    if path is None:
        path = ".dive-ci" if Path(".dive-ci").is_file() else None
    if path is None:
        return parse_dive_ci("")
    return parse_dive_ci(read_text(path, "CI rules file", limits))


def run(args: argparse.Namespace) -> int:
    limits = getattr(args, "limits", None)
    if args.image == "-" and args.ci and args.ci_config == "-":
        print("labkit inspect: error: the image and --ci-config cannot both be '-': stdin can be read once\n"
              "  fix: save the rules to a file first", file=sys.stderr)
        return 2
    if args.html:
        check_output(args.html, "HTML report")
    rules = _ci_rules(args.ci_config, limits) if args.ci else None
    with image_source(args.image, args.tag, verify=False, limits=limits) as img:  # analyze() verifies
        result = analyze(img, top=args.top, scan_secrets=not args.no_secrets, limits=limits)
    verdicts = evaluate_ci(result.dive, rules) if rules is not None else []
    failed = [v for v in verdicts if v.status == "FAIL"]
    if args.json:
        d = analysis_dict(result)
        if rules is not None:
            d["ci"] = {"pass": not failed, "rules": [v.__dict__ for v in verdicts]}
        # one string, one write: json.dump would write each of ~100k small pieces on its own
        sys.stdout.write(shown(json.dumps(d, indent=2, allow_nan=False)) + "\n")
    else:
        sys.stdout.write(for_terminal(result.text(top=args.top)))
        if rules is not None:
            sys.stdout.write("\n" + for_terminal(ci_text(verdicts)))
    if args.html:
        write_output(args.html, "<!doctype html><meta charset=utf-8><title>labkit inspect</title>"
                     + result.html(), "HTML report")
    if failed:
        print("labkit inspect: CI rule failed: " + escape_controls(
            ", ".join(f"{v.rule} ({v.message})" for v in failed)), file=sys.stderr)
        return 1
    return 0
