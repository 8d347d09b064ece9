"""labkit.secrets: the quick name filter never hides a credential file name, and every pattern
(by content and by file name) has a real hit and a near miss that must not be reported."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.analysis.secrets import by_name, maybe_named, scan

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


# --------------------------------------------------------------------------- one table: every pattern
#
# For every pattern the detector knows (by content and by name) at least one real hit and one
# near miss: a string or file name that looks alike but is not a credential (one character too
# short or too long, the wrong prefix, a public key, an example/sample/template file...). The
# expected findings are written from the rules: kind names as the detector calls them, details
# masked to the first 4 characters (fewer below 16) and the length of what matched, e.g.
# "AKIA…(20 chars)". All values are fake (AWS's documented AKIAIOSFODNN7EXAMPLE and friends,
# repeated "Fak3" filler, base64 of "labkit:not-a-real-password").

BY_NAME = "credential file by name"
F4 = "Fak3"                                        # 4 characters of filler
SLACK_BODY = "2468013579-1357924680123-" + F4 * 6   # team id - bot id - 24 characters: 49
GOOGLE_BODY = "Sy" + "Fak3-Fak3_" + F4 * 5 + "abc"  # 35 characters after "AIza"
PAT_BODY = "11LABKIT0" + F4 * 3 + "x" + "_" + F4 * 14 + "abc"   # 22 + "_" + 59 = 82 characters
B64 = "bGFia2l0Om5vdC1hLXJlYWwtcGFzc3dvcmQ="      # 36 characters
UUID = "5f2b1c3a-0d4e-4f6a-9b8c-7d6e5f4a3b2c"       # 36 characters
DOTENV = b"DATABASE_URL=postgres://app@db/app\n"    # 35 bytes


def row(target: str, path: str, head: bytes | None, *expected: tuple[str, str], id: str):
    """One case: ``target`` is the pattern or file name it is about; no ``expected``: a near miss."""
    return pytest.param(target, path, head, list(expected), id=id)


def pem(kind: str) -> bytes:
    return (f"-----BEGIN {kind}-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n"
            f"-----END {kind}-----\n").encode()


SECRET_ROWS = [
    # ---- private key: every PEM header kind; public keys, certificates and prose are not keys
    row("private key", "etc/ssl/private/server.key", pem("PRIVATE KEY"),
        ("private key", "-----BEGIN PRIVATE KEY-----"), id="pem-pkcs8"),
    row("private key", "srv/certs/tls.key", pem("RSA PRIVATE KEY"),
        ("private key", "-----BEGIN RSA PRIVATE KEY-----"), id="pem-rsa"),
    row("private key", "srv/certs/old.key", pem("DSA PRIVATE KEY"),
        ("private key", "-----BEGIN DSA PRIVATE KEY-----"), id="pem-dsa"),
    row("private key", "srv/certs/ec.key", pem("EC PRIVATE KEY"),
        ("private key", "-----BEGIN EC PRIVATE KEY-----"), id="pem-ec"),
    row("private key", "srv/deploy/deploy_key", pem("OPENSSH PRIVATE KEY"),
        ("private key", "-----BEGIN OPENSSH PRIVATE KEY-----"), id="pem-openssh"),
    row("private key", "srv/certs/enc.key", pem("ENCRYPTED PRIVATE KEY"),
        ("private key", "-----BEGIN ENCRYPTED PRIVATE KEY-----"), id="pem-encrypted"),
    row("private key", "root/signing.asc", pem("PGP PRIVATE KEY BLOCK"),
        ("private key", "-----BEGIN PGP PRIVATE KEY BLOCK-----"), id="pem-pgp"),
    row("private key", "srv/certs/tls.pub", pem("PUBLIC KEY"), id="near-pem-public-key"),
    row("private key", "srv/certs/tls.pub.pem", b"# the public half; the PRIVATE KEY stays in the vault\n"
        + pem("PUBLIC KEY"), id="near-pem-public-key-next-to-the-words"),
    row("private key", "srv/certs/tls.crt", pem("CERTIFICATE"), id="near-pem-certificate"),
    row("private key", "usr/local/bin/check-keys", b'grep -q "PRIVATE KEY" "$f" && exit 1\n',
        id="near-pem-prose"),
    # ---- AWS access key id: AKIA (long-term) and ASIA (temporary, STS), 4 + 16 upper/digits
    row("AWS access key id", "etc/profile.d/aws.sh", b"export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
        ("AWS access key id", "AKIA…(20 chars)"), id="aws-akia"),
    row("AWS access key id", "srv/app/sts-session.json",
        b'{"AccessKeyId": "ASIAIOSFODNN7EXAMPLE", "Expiration": "2024-01-01T00:00:00Z"}\n',
        ("AWS access key id", "ASIA…(20 chars)"), id="aws-asia"),
    row("AWS access key id", "etc/profile.d/aws.sh", b"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPL\n",
        id="near-aws-akia-19-chars"),
    row("AWS access key id", "etc/profile.d/aws.sh", b"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE7\n",
        id="near-aws-akia-21-chars"),
    row("AWS access key id", "srv/app/sts-session.json", b'{"AccessKeyId": "ASIAIOSFODNN7EXAMPL"}\n',
        id="near-aws-asia-19-chars"),
    row("AWS access key id", "etc/profile.d/aws.sh", b"AWS_ACCESS_KEY_ID=AKIAiosfodnn7example\n",
        id="near-aws-lowercase-body"),
    row("AWS access key id", "srv/app/iam-user.json", b'{"UserId": "AIDACKCEVSQ6C2EXAMPLE"}\n',
        id="near-aws-user-id-prefix"),
    row("AWS access key id", "srv/ci/build.env.txt",
        b"# AWS key ids start with AKIA or ASIA\nBUILD_ID=ABCDEF0123456789WXYZ\n",
        id="near-aws-other-20-char-id"),
    # a key in an example file is still a key: the example exclusion is about the NAME only
    row("AWS access key id", "srv/app/.env.example", b"AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
        ("AWS access key id", "AKIA…(20 chars)"), id="aws-akia-in-env-example"),
    # ---- GitHub token: gh[pousr]_ + 36 or more, github_pat_ + 22 or more
    *(row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN={p}_{F4 * 9}\n".encode(),
          ("GitHub token", f"{p}_…(40 chars)"), id=f"github-{p}")
      for p in ("ghp", "gho", "ghu", "ghs", "ghr")),
    row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN=github_pat_{PAT_BODY}\n".encode(),
        ("GitHub token", "gith…(93 chars)"), id="github-pat"),
    row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN=github_pat_{F4 * 5}xy\n".encode(),
        ("GitHub token", "gith…(33 chars)"), id="github-pat-22-chars"),
    row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN=ghp_{F4 * 8}Fak\n".encode(),
        id="near-github-ghp-35-chars"),
    row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN=ghx_{F4 * 9}\n".encode(),
        id="near-github-ghx-prefix"),
    row("GitHub token", "srv/ci/env.sh", f"# from: gh auth token\nGITHUB_TOKEN=GHP_{F4 * 9}\n".encode(),
        id="near-github-uppercase-prefix"),
    row("GitHub token", "srv/ci/env.sh", f"GITHUB_TOKEN=github_pat_{F4 * 5}x\n".encode(),
        id="near-github-pat-21-chars"),
    # ---- Slack token: xox[abposr]- then 10 or more
    *(row("Slack token", "srv/bot/config.yml", f"slack_token: xox{t}-{SLACK_BODY}\n".encode(),
          ("Slack token", f"xox{t}…(54 chars)"), id=f"slack-xox{t}") for t in "abposr"),
    row("Slack token", "srv/bot/config.yml", f"slack_token: xoxb-{F4 * 2}Fa\n".encode(),
        ("Slack token", "xox…(15 chars)"), id="slack-10-chars"),
    row("Slack token", "srv/bot/config.yml", f"slack_token: xoxb-{F4 * 2}F\n".encode(),
        id="near-slack-9-chars"),
    row("Slack token", "srv/bot/config.yml", f"slack_token: xoxq-{SLACK_BODY}\n".encode(),
        id="near-slack-xoxq-prefix"),
    row("Slack token", "srv/bot/config.yml", f"# xox tokens only\nslack_token: XOXB-{SLACK_BODY}\n".encode(),
        id="near-slack-uppercase-prefix"),
    # ---- npm token: npm_ + exactly 36
    row("npm token", "srv/ci/publish.sh", f"export NPM_TOKEN=npm_{F4 * 9}\n".encode(),
        ("npm token", "npm_…(40 chars)"), id="npm-token"),
    row("npm token", "srv/ci/publish.sh", f"export NPM_TOKEN=npm_{F4 * 8}Fak\n".encode(),
        id="near-npm-35-chars"),
    row("npm token", "srv/ci/publish.sh", f"export NPM_TOKEN=npm_{F4 * 9}x\n".encode(),
        id="near-npm-37-chars"),
    row("npm token", "srv/ci/publish.sh", b"echo $npm_config_registry $npm_package_version\n",
        id="near-npm-environment-names"),
    # ---- Google API key: AIza + exactly 35 of [0-9A-Za-z_-]
    row("Google API key", "srv/web/maps.js", f'const key = "AIza{GOOGLE_BODY}";\n'.encode(),
        ("Google API key", "AIza…(39 chars)"), id="google-api-key"),
    row("Google API key", "srv/web/maps.js", f'const key = "AIza{GOOGLE_BODY[:-1]}";\n'.encode(),
        id="near-google-34-chars"),
    row("Google API key", "srv/web/maps.js", f'const key = "AIza{GOOGLE_BODY}d";\n'.encode(),
        id="near-google-36-chars"),
    row("Google API key", "srv/web/maps.js",
        f'// AIza keys only\nconst key = "aiza{GOOGLE_BODY}";\n'.encode(),
        id="near-google-lowercase-prefix"),
    # ---- registry auth: docker/podman "auths" entries with an "auth" of 8+ base64 characters
    row("registry auth", "run/containers/0/auth.json",
        f'{{"auths": {{"registry.example.com": {{"auth": "{B64}"}}}}}}\n'.encode(),
        ("registry auth", '"aut…(46 chars)'), id="registry-auth"),
    row("registry auth", "root/.docker/config.json",
        f'{{"auths": {{"registry.example.com": {{"auth": "{B64}"}}}}}}\n'.encode(),
        ("registry auth in Docker registry credentials", '"aut…(46 chars)'),
        id="registry-auth-docker-config"),
    row("registry auth", "run/containers/0/auth.json", b'{"auths": {"r.example.com": {"auth":"dXNlcjpw"}}}\n',
        ("registry auth", '"aut…(17 chars)'), id="registry-auth-8-chars"),
    row("registry auth", "run/containers/0/auth.json", b'{"auths": {"r.example.com": {"auth": "dXNlcjp"}}}\n',
        id="near-registry-auth-7-chars"),
    row("registry auth", "run/containers/0/auth.json", b'{"auths": {"r.example.com": {"auth": ""}}}\n',
        id="near-registry-auth-empty"),
    row("registry auth", "run/containers/0/auth.json",
        b'{"auths": {"r.example.com": {"auth": "${REGISTRY_AUTH}"}}}\n',
        id="near-registry-auth-variable"),
    row("registry auth", "run/containers/0/auth.json",
        b'{"auths": {"r.example.com": {}}, "credsStore": "pass"}\n',
        id="near-registry-creds-store"),
    # ---- npm auth token: _authToken= then 8+ non-space characters, not a ${VARIABLE}
    row("npm auth token", "usr/local/etc/npmrc", f"//registry.npmjs.org/:_authToken={UUID}\n".encode(),
        ("npm auth token", "_aut…(47 chars)"), id="npm-auth-token"),
    row("npm auth token", "home/node/.npmrc", f"//registry.npmjs.org/:_authToken={UUID}\n".encode(),
        ("npm auth token in npm credentials file", "_aut…(47 chars)"), id="npm-auth-token-in-npmrc"),
    row("npm auth token", "usr/local/etc/npmrc", b"//registry.npmjs.org/:_authToken=abcd1234\n",
        ("npm auth token", "_aut…(19 chars)"), id="npm-auth-token-8-chars"),
    row("npm auth token", "usr/local/etc/npmrc", b"//registry.npmjs.org/:_authToken=abcd123\n",
        id="near-npm-auth-token-7-chars"),
    row("npm auth token", "usr/local/etc/npmrc", b"//registry.npmjs.org/:_authToken=${NPM_TOKEN}\n",
        id="near-npm-auth-token-variable"),
    # ---- file names (head None: a binary or unread file is judged by its name only)
    row(".env", "srv/app/.env", DOTENV, ("dotenv file", BY_NAME + ", 35 bytes read"), id="name-env"),
    row(".env", "usr/bin/env", None, id="near-name-usr-bin-env"),
    row(".env.*", "srv/app/.env.production", DOTENV, ("dotenv file", BY_NAME + ", 35 bytes read"),
        id="name-env-production"),
    row(".env.*", "srv/app/.env.local", None, ("dotenv file", BY_NAME), id="name-env-local"),
    *(row(".env.*", f"srv/app/.env{safe}", DOTENV, id=f"near-name-env{safe}")
      for safe in (".example", ".sample", ".template", ".dist")),
    row(".env.*", "srv/app/.env.production.example", None, id="near-name-env-production-example"),
    row(".env.*", "srv/app/.envrc", b"use nix\nlayout python3\n", id="near-name-envrc"),
    row(".npmrc", "root/.npmrc", None, ("npm credentials file", BY_NAME), id="name-npmrc"),
    row(".npmrc", "root/.nvmrc", None, id="near-name-nvmrc"),
    row(".netrc", "root/.netrc", None, ("netrc credentials file", BY_NAME), id="name-netrc"),
    row(".netrc", "root/.netrc.sample", None, id="near-name-netrc-sample"),
    row(".git-credentials", "root/.git-credentials", None, ("git credentials file", BY_NAME),
        id="name-git-credentials"),
    row(".git-credentials", "usr/lib/git-core/git-credential-store", None,
        id="near-name-git-credential-store"),
    row(".pypirc", "root/.pypirc", None, ("PyPI credentials file", BY_NAME), id="name-pypirc"),
    row(".pypirc", "root/.pylintrc", None, id="near-name-pylintrc"),
    row(".pgpass", "var/lib/postgresql/.pgpass", None, ("PostgreSQL password file", BY_NAME),
        id="name-pgpass"),
    row(".pgpass", "var/lib/postgresql/.psqlrc", None, id="near-name-psqlrc"),
    *(row(key, f"root/.ssh/{key}", None, ("SSH private key file", BY_NAME), id=f"name-{key}")
      for key in ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")),
    *(row(key, f"root/.ssh/{key}.pub", None, id=f"near-name-{key}.pub")
      for key in ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")),
    row(".docker/config.json", "root/.docker/config.json", None, ("Docker registry credentials", BY_NAME),
        id="name-docker-config"),
    row(".docker/config.json", ".docker/config.json", None, ("Docker registry credentials", BY_NAME),
        id="name-docker-config-at-top"),
    row(".docker/config.json", "root/docker/config.json", None, id="near-name-docker-config-no-dot"),
    row(".docker/config.json", "etc/docker/daemon.json", None, id="near-name-docker-daemon-json"),
    row(".aws/credentials", "root/.aws/credentials", None, ("AWS credentials file", BY_NAME),
        id="name-aws-credentials"),
    row(".aws/credentials", "root/.aws/config", None, id="near-name-aws-config"),
    row(".aws/credentials", "srv/fixtures/fake.aws/credentials", None, id="near-name-not-an-aws-directory"),
    row(".kube/config", "root/.kube/config", None, ("Kubernetes credentials", BY_NAME),
        id="name-kube-config"),
    row(".kube/config", "srv/app/.git/config", None, id="near-name-git-config"),
]


@pytest.mark.parametrize("target, path, head, expected", SECRET_ROWS)
def test_every_secret_pattern_hits_and_near_misses(target: str, path: str, head: bytes | None,
                                                   expected: list[tuple[str, str]]) -> None:
    assert scan(path, head) == expected


def test_the_table_has_a_hit_and_a_near_miss_for_every_pattern() -> None:
    """A pattern or file name added to secrets.py without rows above fails here."""
    from labkit.analysis import secrets
    targets = {kind for kind, _, _ in secrets._PATTERNS} | set(secrets._NAMES) | {".env.*"}
    hits = {p.values[0] for p in SECRET_ROWS if p.values[3]}
    misses = {p.values[0] for p in SECRET_ROWS if not p.values[3]}
    assert targets - hits == set() and targets - misses == set()
    assert hits | misses == targets


# ---------------------------------------------------------------------- the small rules, pinned
# (mutation testing found each of these untested)

def test_a_finding_tells_its_story_in_the_layers_words() -> None:
    from labkit.analysis.secrets import SecretFinding
    gone = SecretFinding("app/.env", "dotenv file", "credential file by name", 1, 2)
    steps = {1: "COPY . /app", 2: "RUN rm /app/.env"}
    assert gone.story(steps) == ("/app/.env: dotenv file [credential file by name], added by layer 1 "
                                 "(COPY . /app), deleted by layer 2 (RUN rm /app/.env), but still "
                                 "stored in layer 1")
    hidden = SecretFinding("k", "private key", "d", 3, 4, "hidden by opaque directory")
    assert hidden.story() == ("/k: private key [d], added by layer 3, hidden by opaque directory by "
                              "layer 4, but still stored in layer 3")
    kept = SecretFinding("k", "private key", "d", 0)
    assert kept.story({}) == "/k: private key [d], added by layer 0, still in the final filesystem"


def test_mask_keeps_a_quarter_up_to_four_characters_of_text_or_bytes() -> None:
    from labkit.analysis.secrets import mask
    assert mask("AKIAIOSFODNN7EXAMPLE") == "AKIA…(20 chars)"
    assert mask(b"abcdefg") == "a…(7 chars)"
    assert mask(b"\xff\xfeSECRETS") == "\ufffd\ufffd…(9 chars)"      # bad UTF-8 is replaced, not raised


def test_only_non_empty_files_up_to_the_cap_are_read() -> None:
    from labkit.analysis.secrets import SIZE_CAP, wants_content
    assert [wants_content("f", n) for n in (0, 1, SIZE_CAP, SIZE_CAP + 1)] == [False, True, True, False]


def test_a_nul_in_the_first_kilobyte_makes_a_file_binary_and_judged_by_name_only() -> None:
    key = b"AKIAIOSFODNN7EXAMPLE"
    assert scan("bin", b"x" * 1023 + b"\0" + key) == []                   # NUL at byte 1024
    assert [k for k, _ in scan("txt", b"x" * 1024 + b"\0 " + key)] == ["AWS access key id"]
    assert scan(".env", b"\0" + b"A=1") == [("dotenv file", "credential file by name")]
    assert scan(".env", b"A=1\n") == [("dotenv file", "credential file by name, 4 bytes read")]
