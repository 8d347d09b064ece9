"""The kernel overlay's routes, for every test here: which can mount on this machine (probed
once a session), and a ``route`` parameter that runs a test once per route (skipped, or failed
under LABKIT_REQUIRE_KERNEL, where a route cannot mount)."""
from __future__ import annotations

import pytest
from requirekit import skip_unless_required

from labkit.fs.kernel import ROUTES, kernel_unavailable


@pytest.fixture(scope="session")
def routes_here() -> dict:
    """Why each route cannot run here (None when it can), probed once."""
    return {r: kernel_unavailable(r) for r in ROUTES}


@pytest.fixture(params=ROUTES)
def route(request, routes_here) -> str:
    why = routes_here[request.param]
    if why:
        skip_unless_required("LABKIT_REQUIRE_KERNEL", f"the {request.param} route cannot mount "
                             f"overlayfs here: {why}")
    return request.param
