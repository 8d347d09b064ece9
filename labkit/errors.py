"""The one exception hierarchy of labkit.

Every error a learner can meet says what went wrong and how to fix it::

    LabkitError
    ├── EngineError             an engine cannot be used or failed
    │   ├── EngineUnavailable   e.g. LABKIT_ENGINE=docker but no daemon answers
    │   │   └── KernelUnavailable  the kernel's overlayfs cannot be mounted here (``.why``)
    │   └── UnsupportedOperation the simulator does not model this (use Docker)
    ├── LimitExceeded           input bigger than a resource budget (names the limit and option)
    ├── LayerError              a layer tar is unsafe or Docker would refuse it
    │   └── UnsafeEntry         path escape, device file, huge size ... (names the entry)
    ├── ImageError              a saved image / OCI layout is malformed
    │   └── DigestMismatch      "layer N digest mismatch: expected ..., actual ..."
    ├── DockerfileError         a Dockerfile does not parse (names the line)
    ├── BuildError              a build step failed (carries the step and its output)
    └── ExerciseError           an exercise check cannot run
"""
from __future__ import annotations


class LabkitError(Exception):
    """Root of every labkit error. ``fix`` is the one thing to do about it, when known;
    ``message`` is the problem alone (``str()`` adds the fix on its own line)."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.fix = fix
        self.message = message
        super().__init__(message if not fix else f"{message}\n  fix: {fix}")


class EngineError(LabkitError):
    """An engine cannot be used, or an engine call failed."""


class EngineUnavailable(EngineError):
    """The requested engine cannot work on this machine."""


class KernelUnavailable(EngineUnavailable):
    """No route can mount the kernel's overlayfs here; ``why`` is the reason alone."""

    def __init__(self, why: str, *, fix: str | None = None) -> None:
        self.why = why
        super().__init__(f"cannot mount the kernel's overlayfs: {why}", fix=fix)


class UnsupportedOperation(EngineError):
    """The simulator does not model this; the Docker engine does."""


class LimitExceeded(LabkitError):
    """Untrusted input is bigger than one of labkit's resource budgets (``oci.limits``).
    ``limit`` names the budget, ``value`` is what the input needed; the fix says how to raise it."""

    def __init__(self, what: str, limit: str, value: int, allowed: int) -> None:
        self.limit, self.value, self.allowed = limit, value, allowed
        super().__init__(f"{what}: {value} is over the {limit} limit of {allowed}",
                         fix=f"if the input is trusted, raise it: --limit {limit}=N on the command "
                             f"line, or LABKIT_LIMITS={limit}=N in the environment")


class LayerError(LabkitError):
    """A layer tar is malformed or one Docker would refuse."""


class UnsafeEntry(LayerError):
    """A tar entry that would touch something outside its target, or is not allowed."""

    def __init__(self, entry: str, reason: str, *, fix: str | None = None) -> None:
        self.entry = entry
        self.reason = reason
        super().__init__(f"unsafe tar entry {entry!r}: {reason}", fix=fix)


class ImageError(LabkitError):
    """A saved image, OCI layout or manifest is malformed or incomplete."""


class DigestMismatch(ImageError):
    """Content does not hash to the digest that names it."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        self.what, self.expected, self.actual = what, expected, actual
        super().__init__(f"{what} digest mismatch: expected {expected}, actual {actual}",
                         fix="the file was changed or truncated after it was saved; save it again")


class DockerfileError(LabkitError):
    """A Dockerfile that does not parse or refers to something missing."""

    def __init__(self, message: str, *, line: int | None = None, fix: str | None = None) -> None:
        self.line = line
        super().__init__(f"Dockerfile line {line}: {message}" if line else message, fix=fix)


class BuildError(LabkitError):
    """A build step failed: carries the step number, instruction, exit status and output.
    ``reason`` is the failure alone (what the builder said), without "step N ... failed:"."""

    def __init__(self, message: str, *, step: int | None = None, instruction: str = "",
                 exit_code: int | None = None, output: str = "", line: int | None = None,
                 fix: str | None = None, reason: str | None = None) -> None:
        self.step, self.instruction, self.exit_code = step, instruction, exit_code
        self.output, self.line = output, line
        self.reason = message if reason is None else reason
        super().__init__(message, fix=fix)


class ExerciseError(LabkitError):
    """An exercise check cannot run (unknown id, missing image ...)."""
