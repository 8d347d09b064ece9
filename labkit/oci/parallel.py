"""Independent jobs in worker processes: results in order, labkit errors unchanged.

``ordered_map(fn, items, jobs=N)`` runs ``fn(item)`` in ``N`` worker processes and yields
the results in the order of ``items``, each as soon as it and those before it are back (a
consumer can start on the first while the rest are computed). A ``LabkitError`` raised in a
worker is raised in the caller with the same class, message and attributes (``entry``,
``fix`` ...); the other jobs are then cancelled and the workers stopped, so nothing that
failed can be taken for a complete result.

Start method: ``fork`` is cheap but copies a process with only the forking thread alive;
when other threads run (a Jupyter kernel always has some) a lock one of them held stays
locked forever in the child. So ``fork`` is used only while this process has a single
thread, otherwise ``forkserver`` (children forked from a clean single-threaded server).
``fn``, ``items`` and results must be picklable: module-level functions and tuples of
plain values (pickling many small objects costs more than it saves).
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from typing import Any, Callable, Iterable, Iterator, TypeVar

from ..errors import LabkitError

__all__ = ["ordered_map", "OrderedResults", "cpu_count", "start_method", "can_start_quietly"]

T = TypeVar("T")
R = TypeVar("R")


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def start_method() -> str:
    """``fork`` when it is safe here (one thread alive), else ``forkserver`` (or ``spawn``)."""
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


def can_start_quietly() -> bool:
    """Whether workers can start here without surprising the caller: by ``fork`` (one
    thread), or from a fork server in IPython/Jupyter, whose ``__main__`` is safe to import
    again. (A plain script with threads would have its main module run again in each worker
    unless it has the ``if __name__ == "__main__":`` guard; defaults stay in-process there.)"""
    import sys  # noqa: PLC0415
    return start_method() == "fork" or "ipykernel" in sys.modules or "IPython" in sys.modules


class _Failure:
    """A LabkitError on its way back from a worker.

    Pickling an exception re-creates it by calling its class with ``args``, which fails for
    classes whose ``__init__`` takes other parameters (``UnsafeEntry(entry, reason)``); this
    carries the class, ``args`` and attributes and rebuilds the very same value."""

    __slots__ = ("cls", "args", "attrs")

    def __init__(self, exc: LabkitError) -> None:
        self.cls, self.args, self.attrs = type(exc), exc.args, dict(exc.__dict__)

    def __getstate__(self) -> tuple:
        return (self.cls, self.args, self.attrs)

    def __setstate__(self, state: tuple) -> None:
        self.cls, self.args, self.attrs = state

    def rebuild(self) -> LabkitError:
        exc = self.cls.__new__(self.cls)
        exc.args = self.args
        exc.__dict__.update(self.attrs)
        return exc


_FN: list[Callable[[Any], Any]] = []    # the job function, set in each worker


def _init(fn: Callable[[Any], Any], init: Callable[..., None] | None, initargs: tuple) -> None:
    _FN[:] = [fn]
    if init is not None:
        init(*initargs)


def _call(item: Any) -> tuple[bool, Any]:
    try:
        return True, _FN[0](item)
    except LabkitError as exc:
        return False, _Failure(exc)


class OrderedResults:
    """The iterator ``ordered_map`` returns: the workers run from the start; results come in
    order. ``close()`` cancels what has not started (and is done for you on an error, at
    the end, and on leaving a ``with`` block)."""

    def __init__(self, pool: Any, results: Iterator[tuple[bool, Any]]) -> None:
        self._pool, self._results = pool, results

    def __iter__(self) -> "OrderedResults":
        return self

    def __next__(self) -> Any:
        from concurrent.futures.process import BrokenProcessPool  # noqa: PLC0415
        try:
            good, value = next(self._results)
        except StopIteration:
            self.close(wait=True)        # all done: the workers are joined
            raise
        except BrokenProcessPool as exc:
            self.close()
            raise LabkitError(f"a worker process stopped before finishing its job ({exc})",
                              fix="run with one job (jobs=1 / --jobs 1); a script that starts "
                                  "workers while other threads run needs the "
                                  "`if __name__ == '__main__':` guard") from None
        except BaseException:
            self.close()
            raise
        if not good:
            self.close()
            raise value.rebuild()
        return value

    def close(self, wait: bool = False) -> None:
        """Cancel the jobs not started; running ones finish in the background (``wait``
        waits for them and joins the workers)."""
        self._pool.shutdown(wait=wait, cancel_futures=True)

    def __enter__(self) -> "OrderedResults":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ordered_map(fn: Callable[[T], R], items: Iterable[T], *, jobs: int,
                initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> OrderedResults:
    """``fn(item)`` for each item, in ``jobs`` worker processes (started now), yielded in order.

    ``initializer(*initargs)`` runs once in each worker first (e.g. to open a file). A
    ``LabkitError`` from ``fn`` is raised here unchanged; any other exception from a worker
    is raised too (as multiprocessing re-creates it); a worker that dies (or cannot start)
    raises ``LabkitError``. After an error nothing more is yielded.
    """
    from concurrent.futures import ProcessPoolExecutor  # noqa: PLC0415
    items = list(items)
    method = start_method()
    ctx = multiprocessing.get_context(method)
    if method == "forkserver":   # the server imports fn's module once; its forks start warm
        ctx.set_forkserver_preload([m for m in ("labkit", getattr(fn, "__module__", None)) if m])
    pool = ProcessPoolExecutor(max(1, min(jobs, len(items))), mp_context=ctx, initializer=_init,
                               initargs=(fn, initializer, initargs))
    try:
        results = pool.map(_call, items)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    return OrderedResults(pool, results)
