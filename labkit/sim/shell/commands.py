"""The command tables the interpreter is given: the builtins, the BusyBox applets, and
``SUPPORTED_COMMANDS`` (every name either table runs).
"""
from __future__ import annotations

from typing import Callable

from .applets.files import (
    _cmd_basename,
    _cmd_cat,
    _cmd_chmod,
    _cmd_chown,
    _cmd_cp,
    _cmd_dd,
    _cmd_dirname,
    _cmd_ln,
    _cmd_ls,
    _cmd_mkdir,
    _cmd_mv,
    _cmd_rm,
    _cmd_rmdir,
    _cmd_touch,
)
from .applets.find import _cmd_env, _cmd_find, _cmd_xargs
from .applets.sed import _cmd_sed
from .applets.system import _cmd_busybox, _cmd_id, _cmd_sleep, _cmd_whoami
from .applets.text import (
    _cmd_cut,
    _cmd_echo,
    _cmd_grep,
    _cmd_head,
    _cmd_printf,
    _cmd_seq,
    _cmd_sort,
    _cmd_sum,
    _cmd_tail,
    _cmd_tee,
    _cmd_tr,
    _cmd_uniq,
    _cmd_wc,
)
from .builtins import (
    _cmd_break,
    _cmd_cd,
    _cmd_command,
    _cmd_exit,
    _cmd_export,
    _cmd_false,
    _cmd_local,
    _cmd_pwd,
    _cmd_read,
    _cmd_return,
    _cmd_set,
    _cmd_sh,
    _cmd_test,
    _cmd_true,
    _cmd_unset,
    _cmd_which,
)

_BUILTINS: dict[str, Callable] = {
    "true": _cmd_true, "false": _cmd_false, ":": _cmd_true, "echo": _cmd_echo,
    "printf": _cmd_printf, "test": _cmd_test, "[": _cmd_test, "cd": _cmd_cd, "pwd": _cmd_pwd,
    "export": _cmd_export, "unset": _cmd_unset, "set": _cmd_set, "exit": _cmd_exit,
    "break": _cmd_break, "continue": _cmd_break, "read": _cmd_read, "return": _cmd_return,
    "local": _cmd_local, "command": _cmd_command,
}

_APPLETS: dict[str, Callable] = {
    "mkdir": _cmd_mkdir, "rmdir": _cmd_rmdir, "touch": _cmd_touch, "cat": _cmd_cat,
    "rm": _cmd_rm, "cp": _cmd_cp, "mv": _cmd_mv, "ln": _cmd_ln, "chmod": _cmd_chmod,
    "chown": _cmd_chown, "dd": _cmd_dd, "sleep": _cmd_sleep, "sh": _cmd_sh, "ash": _cmd_sh,
    "true": _cmd_true, "false": _cmd_false, "echo": _cmd_echo, "printf": _cmd_printf,
    "test": _cmd_test, "[": _cmd_test, "pwd": _cmd_pwd, "busybox": _cmd_busybox,
    "ls": _cmd_ls, "wc": _cmd_wc, "head": _cmd_head, "tail": _cmd_tail, "whoami": _cmd_whoami,
    "id": _cmd_id, "basename": _cmd_basename, "dirname": _cmd_dirname, "seq": _cmd_seq,
    "grep": _cmd_grep, "egrep": _cmd_grep, "fgrep": _cmd_grep, "sort": _cmd_sort,
    "uniq": _cmd_uniq, "tr": _cmd_tr, "cut": _cmd_cut,
    "tee": _cmd_tee, "sed": _cmd_sed, "md5sum": _cmd_sum, "sha1sum": _cmd_sum,
    "sha256sum": _cmd_sum, "sha512sum": _cmd_sum, "xargs": _cmd_xargs, "find": _cmd_find,
    "env": _cmd_env, "which": _cmd_which,
}

SUPPORTED_COMMANDS: tuple[str, ...] = tuple(sorted(set(_BUILTINS) | set(_APPLETS)))
