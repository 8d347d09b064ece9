"""labkit.secrets: the quick name filter never hides a credential file name."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.analysis.secrets import by_name, maybe_named

# pieces of real credential paths and of near misses, to build paths from
PIECES = ["", ".env", ".env.local", ".env.example", "env", ".npmrc", ".netrc", ".git-credentials",
          ".pypirc", ".pgpass", "id_rsa", "id_rsa.pub", "id_dsa", "id_ecdsa", "id_ed25519", ".docker",
          "config.json", ".aws", "credentials", ".kube", "config", "home", "root", ".ssh", "x", "é", "-"]


@settings(max_examples=800, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(PIECES), st.text(min_size=1, max_size=6)), min_size=1, max_size=5))
def test_every_name_by_name_knows_passes_the_quick_filter(parts: list[str]) -> None:
    path = "/".join(parts)
    if by_name(path) is not None:
        assert maybe_named(path), path


def test_known_credential_paths_pass_and_plain_files_do_not() -> None:
    for path in ("root/.ssh/id_rsa", "app/.env", "app/.env.production", "home/u/.docker/config.json",
                 "root/.aws/credentials", "root/.kube/config", ".npmrc", "x/.git-credentials"):
        assert by_name(path) is not None and maybe_named(path), path
    for path in ("usr/bin/python3", "l0/d0/f17", "etc/hosts", "app/main.py"):
        assert by_name(path) is None and not maybe_named(path), path
