"""Rules of the overlay model, each written from the kernel's overlayfs documentation
(Documentation/filesystems/overlayfs.rst) and rename(2)/unlink(2)/rmdir(2)/mkdir(2).
The kernel itself checks the model in test_overlay_kernel.py."""
from __future__ import annotations

import errno
import time

import pytest

from labkit.fs.node import OPAQUE_XATTR, Node
from labkit.fs.overlay import UPPER, Mount, OpEvent

T = 1_000


def F(data: bytes = b"", **kw) -> Node:
    return Node.file(data, mtime=kw.pop("mtime", T), **kw)


def D(mode: int = 0o755, **kw) -> Node:
    return Node.dir(mode, mtime=kw.pop("mtime", T), **kw)


def errno_of(fn, *args) -> str:
    with pytest.raises(OSError) as info:
        fn(*args)
    return errno.errorcode[info.value.errno]


@pytest.fixture
def base():
    """Two lowers (top first): lower 0 over lower 1."""
    top = {"etc": D(0o750, uid=3), "etc/hosts": F(b"h" * 220, mode=0o600, uid=5, mtime=77),
           "var": D(), "var/cache": D().with_opaque(), "var/cache/new": F(b"n"),
           "tmp": Node.whiteout(), "bin": F(b"a file over a dir")}
    bottom = {"etc": D(), "etc/motd": F(b"hi"), "etc/hosts": F(b"old"),
              "var": D(), "var/cache": D(), "var/cache/old": F(b"o"), "var/log": D(),
              "tmp": D(), "tmp/x": F(), "bin": D(), "bin/sh": F(b"sh")}
    return [top, bottom]


# ------------------------------------------------------------------ lookup
def test_non_directory_above_hides_everything_below(base):
    m = Mount(base, {})
    assert m.stat("bin").kind == "file"
    assert errno_of(m.stat, "bin/sh") == "ENOTDIR"


def test_directories_merge_names_and_take_topmost_metadata(base):
    m = Mount(base, {})
    assert m.listdir("etc") == ["hosts", "motd"]
    assert (m.stat("etc").mode, m.stat("etc").uid) == (0o750, 3)
    assert m.read("etc/hosts") == b"h" * 220


def test_whiteout_and_opaque_dir_in_lower_hide_names_below(base):
    m = Mount(base, {})
    assert not m.exists("tmp") and not m.exists("tmp/x")
    assert m.listdir("var/cache") == ["new"]
    assert "tmp" not in m.listdir("/")
    assert OPAQUE_XATTR not in dict(m.stat("var/cache").xattrs)


def test_tree_is_merged_view_without_whiteouts_or_opaque_marks(base):
    tree = Mount(base, {}).tree()
    assert sorted(tree) == ["bin", "etc", "etc/hosts", "etc/motd", "var", "var/cache",
                            "var/cache/new", "var/log"]
    assert all(n.kind != "whiteout" and not n.opaque for n in tree.values())


def test_layers_of_names_where_entries_come_from(base):
    m = Mount(base, {})
    assert m.layers_of("etc") == (0, 1)
    assert m.layers_of("etc/motd") == (1,)
    assert m.layers_of("var/cache") == (0,)     # opaque: lower 1 does not merge in
    m.write("etc/motd", b"x")
    assert m.layers_of("etc") == (UPPER, 0, 1)
    assert m.origin("etc/motd") == UPPER


# ----------------------------------------------------------------- copy-up
def test_read_never_copies_up(base):
    m = Mount(base, {})
    m.read("etc/hosts"), m.listdir("etc"), m.stat("etc/motd")
    assert m.upper == {} and m.events == []


def test_write_copies_whole_file_and_parents_with_attributes(base):
    m = Mount(base, {})
    m.write("etc/hosts", b"!", append=True)
    assert m.upper["etc"].mode == 0o750 and m.upper["etc"].uid == 3
    hosts = m.upper["etc/hosts"]
    assert hosts.data == b"h" * 220 + b"!" and (hosts.mode, hosts.uid) == (0o600, 5)
    assert [str(e) for e in m.take_events()] == [
        "copied up directory etc", "copied up etc/hosts, 220 bytes", "wrote etc/hosts, 1 bytes"]
    assert m.events == []


def test_metadata_change_copies_up_and_keeps_data_and_mtime(base):
    m = Mount(base, {})
    m.chmod("etc/hosts", 0o644)
    assert m.upper["etc/hosts"].data == b"h" * 220
    assert m.upper["etc/hosts"].mtime == 77
    m.chown("etc/motd", 1, 2)
    assert (m.stat("etc/motd").uid, m.stat("etc/motd").gid) == (1, 2)
    m.utime("var/log", 123)
    assert m.upper["var/log"].mtime == 123 and "var" in m.upper


def test_chown_clears_setuid_like_the_kernel():
    m = Mount([{"f": F(b"x", mode=0o4755)}], {})
    m.chown("f", 0, 0)
    assert m.stat("f").mode == 0o755


def test_lower_layers_and_given_upper_are_not_modified(base):
    before = [dict(layer) for layer in base]
    given = {"new": F(b"u")}
    m = Mount(base, given)
    m.write("etc/motd", b"x")
    m.unlink("new")
    assert base == before and given == {"new": F(b"u")}


# ------------------------------------------------------- whiteouts, opaque
def test_unlink_of_lower_name_leaves_whiteout(base):
    m = Mount(base, {})
    m.unlink("etc/motd")
    assert m.upper["etc/motd"] == Node.whiteout()
    assert m.listdir("etc") == ["hosts"]
    assert "whiteout etc/motd" in [str(e) for e in m.events]


def test_unlink_of_upper_only_name_leaves_nothing(base):
    m = Mount(base, {})
    m.write("etc/new", b"1")
    m.unlink("etc/new")
    assert "etc/new" not in m.upper


def test_rmdir_merged_dir_needs_it_empty_then_leaves_only_a_whiteout(base):
    m = Mount(base, {})
    assert errno_of(m.rmdir, "etc") == "ENOTEMPTY"
    m.unlink("etc/hosts")
    m.unlink("etc/motd")
    assert m.listdir("etc") == []
    m.rmdir("etc")
    assert m.upper["etc"] == Node.whiteout()
    assert not any(p.startswith("etc/") for p in m.upper)


def test_mkdir_over_whiteout_gives_opaque_dir(base):
    m = Mount(base, {})
    m.unlink("etc/hosts"), m.unlink("etc/motd"), m.rmdir("etc")
    m.mkdir("etc", 0o700)
    assert m.upper["etc"].opaque and m.upper["etc"].mode == 0o700
    assert m.listdir("etc") == []
    assert "opaque dir etc" in [str(e) for e in m.events]


def test_mkdir_of_new_name_is_not_opaque(base):
    m = Mount(base, {})
    m.mkdir("srv")
    assert not m.upper["srv"].opaque


# ------------------------------------------------------------------ rename
def test_rename_of_dir_in_lower_layer_is_exdev(base):
    m = Mount(base, {})
    assert errno_of(m.rename, "var/log", "var/log2") == "EXDEV"
    m.write("etc/x", b"")       # etc is now in upper AND lower: a merged dir
    assert errno_of(m.rename, "etc", "etc2") == "EXDEV"


def test_rename_of_upper_only_dir_works_and_marks_it_opaque_in_merged_parent(base):
    m = Mount(base, {})
    m.mkdir("srv")
    m.write("srv/a", b"1")
    m.rename("srv", "etc2")
    assert m.read("etc2/a") == b"1" and not m.exists("srv")
    assert m.upper["etc2"].opaque


def test_rename_of_lower_file_copies_up_and_whites_out_source(base):
    m = Mount(base, {})
    m.rename("etc/motd", "var/motd")
    assert m.upper["etc/motd"] == Node.whiteout()
    assert m.upper["var/motd"].data == b"hi"
    assert m.read("var/motd") == b"hi" and not m.exists("etc/motd")


def test_rename_errnos(base):
    m = Mount(base, {})
    m.mkdir("a")
    m.mkdir("a/b")
    assert errno_of(m.rename, "a", "a/b/c") == "EINVAL"
    assert errno_of(m.rename, "a/b", "a") == "ENOTEMPTY"
    assert errno_of(m.rename, "a", "etc/hosts") == "ENOTDIR"
    assert errno_of(m.rename, "etc/hosts", "a") == "EISDIR"
    assert errno_of(m.rename, "nope", "x") == "ENOENT"
    m.rename("etc/hosts", "etc/hosts")   # same name: nothing happens
    assert "etc/hosts" not in m.upper


# -------------------------------------------------------------- hard links
def test_hard_links_break_on_copy_up():
    shared = F(b"v1", inode=7)
    m = Mount([{"a": shared, "b": shared}], {})
    m.write("a", b"v2")
    assert m.read("a") == b"v2" and m.read("b") == b"v1"
    assert "hard link broken: a no longer shares data with b" in [str(e) for e in m.events]


def test_link_makes_upper_names_share_one_file(base):
    m = Mount(base, {})
    m.link("etc/motd", "motd2")
    assert m.upper["etc/motd"].inode == m.upper["motd2"].inode is not None
    m.write("motd2", b"!", append=True)
    assert m.read("etc/motd") == b"hi!"
    m.rename("motd2", "etc/motd")            # two names of one file: a no-op
    assert m.exists("motd2")
    assert errno_of(m.link, "etc", "etc3") == "EPERM"


# ------------------------------------------------------------------ symlinks
def test_symlinks_are_followed_in_path_components():
    lower = {"d": D(), "d/f": F(b"x"), "abs": Node.symlink("/d"), "rel": Node.symlink("d"),
             "d/up": Node.symlink("../d/f"), "loop": Node.symlink("loop"),
             "dangling": Node.symlink("d/new")}
    m = Mount([lower], {})
    assert m.read("abs/f") == m.read("rel/f") == m.read("d/up") == b"x"
    assert m.read("/abs/../d/f") == b"x"
    assert m.readlink("d/up") == "../d/f"
    assert errno_of(m.stat, "loop") == "ELOOP"
    assert m.stat("loop", follow=False).kind == "symlink"
    m.write("dangling", b"made")        # O_CREAT through a dangling symlink makes its target
    assert m.read("d/new") == b"made"
    assert "dangling" not in m.upper and m.upper["d/new"].data == b"made"


# -------------------------------------------------------------------- errno
def test_errnos_of_the_kernel(base):
    m = Mount(base, {})
    assert errno_of(m.read, "nope") == "ENOENT"
    assert errno_of(m.read, "etc/hosts/x") == "ENOTDIR"
    assert errno_of(m.read, "etc") == "EISDIR"
    assert errno_of(m.write, "etc", b"") == "EISDIR"
    assert errno_of(m.mkdir, "etc") == "EEXIST"
    assert errno_of(m.unlink, "etc") == "EISDIR"
    assert errno_of(m.rmdir, "etc/hosts") == "ENOTDIR"
    assert errno_of(m.rmdir, "/") == "EBUSY"
    assert errno_of(m.readlink, "etc") == "EINVAL"
    assert errno_of(m.listdir, "etc/hosts") == "ENOTDIR"
    assert errno_of(m.symlink, "x", "etc") == "EEXIST"


def test_read_only_mount_refuses_writes_with_erofs(base):
    m = Mount(base)
    for call, args in [(m.write, ("etc/motd", b"")), (m.chmod, ("etc", 0o700)),
                       (m.unlink, ("etc/motd",)), (m.mkdir, ("new",)),
                       (m.rename, ("etc/motd", "x"))]:
        assert errno_of(call, *args) == "EROFS"
    assert errno_of(m.mkdir, "etc") == "EEXIST"      # EEXIST is checked first
    assert m.read("etc/motd") == b"hi"


# ------------------------------------------------------------------ events
def test_op_event_is_a_frozen_value_with_a_readable_string():
    e = OpEvent("copy_up", "etc/hosts", 220)
    assert str(e) == "copied up etc/hosts, 220 bytes"
    assert str(OpEvent("whiteout", "etc/motd")) == "whiteout etc/motd"
    assert str(OpEvent("opaque", "var/cache")) == "opaque dir var/cache"
    with pytest.raises(AttributeError):
        e.path = "x"  # type: ignore[misc]


# ------------------------------------------------------------- performance
def _layers(n: int, per_layer: int = 40) -> list[dict[str, Node]]:
    out = []
    for i in range(n):
        layer = {"usr": D(), "usr/lib": D(), f"usr/lib/l{i}": D()}
        layer.update({f"usr/lib/l{i}/f{j}": F(b"x") for j in range(per_layer)})
        out.append(layer)
    return out


def _lookup_time(m: Mount, paths: list[str]) -> float:
    t0 = time.perf_counter()
    for _ in range(5):
        for p in paths:
            m.stat(p)
    return time.perf_counter() - t0


def test_lookup_cost_does_not_grow_with_the_number_of_lowers():
    one, many = Mount(_layers(1), {}), Mount(_layers(128), {})
    paths = [f"usr/lib/l0/f{j}" for j in range(40)] * 10
    t_one = min(_lookup_time(one, paths) for _ in range(3))
    t_many = min(_lookup_time(many, paths) for _ in range(3))
    assert t_many < 3 * t_one + 0.01, (t_one, t_many)
    assert len(many.listdir("usr/lib")) == 128
