"""``USER`` resolved the way the container runtime does it, in the image's own files.

``user_cred("app", mount)`` reads ``/etc/passwd`` and ``/etc/group`` through the mount and
returns the ``overlay.Cred`` a process of that user runs with, plus its home directory
(Docker sets ``HOME`` from it when the image's environment has none).
"""
from __future__ import annotations

from ..errors import LabkitError
from .overlay import Cred

__all__ = ["user_cred", "account_rows", "id_of", "name_of"]


def account_rows(mount, db: str) -> list[list[str]]:
    """The entries of the mount's ``/etc/<db>`` (``passwd`` or ``group``), each split on
    ``:`` (three fields at least); none when the file is missing or unreadable."""
    try:
        text = mount.read("/etc/" + db).decode(errors="surrogateescape")
    except (OSError, LabkitError):
        return []
    return [f for f in (line.split(":") for line in text.splitlines()) if len(f) >= 3]


def id_of(mount, db: str, name: str) -> int | None:
    """The number of the user or group called ``name`` in the mount's ``/etc/<db>``."""
    return next((int(f[2]) for f in account_rows(mount, db) if f[0] == name and f[2].isdigit()), None)


def name_of(mount, db: str, ident: int) -> str | None:
    """The name of user or group number ``ident`` in the mount's ``/etc/<db>``."""
    return next((f[0] for f in account_rows(mount, db) if f[2] == str(ident)), None)


def user_cred(spec: str, mount):
    """``USER user[:group]`` as the container runtime resolves it in the image's
    ``/etc/passwd`` and ``/etc/group``: names or numbers; without a group, the user's
    primary group plus every group that lists the user; an unknown number is used as is
    (group 0), an unknown name is an error with the runtime's words. Returns
    ``(overlay.Cred, home directory)``."""
    user, _, group = spec.partition(":")
    passwd = account_rows(mount, "passwd")
    entry = next((f for f in passwd if f[0] == user), None)
    if entry is None and user.isdigit():
        entry = next((f for f in passwd if f[2] == user), None)
    if entry is None and not user.isdigit():
        raise LabkitError(f"unable to find user {user}: no matching entries in passwd file",
                          fix=f"create the user first (RUN adduser -D {user}), or use a number")
    uid = int(entry[2]) if entry is not None and entry[2].isdigit() else int(user)
    gid = int(entry[3]) if entry is not None and len(entry) > 3 and entry[3].isdigit() else 0
    home = entry[5] if entry is not None and len(entry) > 5 and entry[5] else "/"
    groups: tuple[int, ...] = ()
    if group:
        row = next((f for f in account_rows(mount, "group") if f[0] == group), None)
        if row is None and group.isdigit():
            gid = int(group)
        elif row is None:
            raise LabkitError(f"unable to find group {group}: no matching entries in group file",
                              fix=f"create the group first (RUN addgroup {group}), or use a number")
        else:
            gid = int(row[2])
    elif entry is not None:
        groups = tuple(int(f[2]) for f in account_rows(mount, "group")
                       if f[2].isdigit() and len(f) > 3 and entry[0] in f[3].split(","))
    return Cred(uid, gid, tuple(g for g in groups if g != gid)), home
