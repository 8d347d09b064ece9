"""labkit.parallel: ordered results from worker processes, labkit errors unchanged."""
from __future__ import annotations

import os
import threading

import pytest

from labkit.errors import DigestMismatch, LabkitError, LayerError, UnsafeEntry
from labkit.oci.parallel import can_start_quietly, cpu_count, ordered_map, start_method


def _square_with_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def _fail_at(x: int) -> int:
    if x == 3:
        raise UnsafeEntry("etc/x", "a reason (in layer 3)", fix="the fix")
    if x == 5:
        raise DigestMismatch("layer 5", "sha256:aa", "sha256:bb")
    return x


def _die(x: int) -> int:
    if x == 2:
        os._exit(3)
    return x


def _plain_error(x: int) -> int:
    raise ValueError(f"not a labkit error {x}")


def test_results_come_back_in_order_from_other_processes():
    out = list(ordered_map(_square_with_pid, range(20), jobs=2))
    assert [v for v, _ in out] == [x * x for x in range(20)]
    assert os.getpid() not in {pid for _, pid in out}


def test_a_labkit_error_from_a_worker_is_the_same_value():
    with pytest.raises(UnsafeEntry) as info:
        list(ordered_map(_fail_at, range(8), jobs=2))
    exc = info.value
    # compared with the exception raised in this process by the same call
    with pytest.raises(UnsafeEntry) as here:
        _fail_at(3)
    assert type(exc) is type(here.value)
    assert (str(exc), exc.entry, exc.reason, exc.fix, exc.args) == \
        (str(here.value), here.value.entry, here.value.reason, here.value.fix, here.value.args)
    assert isinstance(exc, LayerError)


def test_the_first_failure_in_order_wins_and_results_before_it_are_delivered():
    got = []
    with pytest.raises(UnsafeEntry):
        for v in ordered_map(_fail_at, range(8), jobs=2):
            got.append(v)
    assert got == [0, 1, 2]
    with pytest.raises(DigestMismatch) as info:
        list(ordered_map(_fail_at, [4, 5, 3], jobs=2))
    assert (info.value.what, info.value.expected, info.value.actual) == ("layer 5", "sha256:aa", "sha256:bb")


def test_other_exceptions_are_raised_too():
    with pytest.raises(ValueError, match="not a labkit error"):
        list(ordered_map(_plain_error, [1, 2], jobs=2))


def test_fork_only_while_no_other_thread_runs():
    assert cpu_count() >= 1
    assert start_method() == ("fork" if threading.active_count() == 1 else "forkserver")
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert start_method() in ("forkserver", "spawn")
        out = list(ordered_map(_square_with_pid, range(4), jobs=2))
        assert [v for v, _ in out] == [0, 1, 4, 9]
    finally:
        stop.set()
        t.join()


def test_a_worker_that_dies_is_an_error_not_a_hang():
    with pytest.raises(LabkitError, match="worker process stopped") as info:
        list(ordered_map(_die, range(4), jobs=2))
    assert "jobs=1" in info.value.fix


def test_defaults_start_workers_only_where_that_is_quiet():
    import sys
    assert can_start_quietly() == (threading.active_count() == 1 or "ipykernel" in sys.modules
                                   or "IPython" in sys.modules)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        assert can_start_quietly() == ("ipykernel" in sys.modules or "IPython" in sys.modules)
    finally:
        stop.set()
        t.join()
