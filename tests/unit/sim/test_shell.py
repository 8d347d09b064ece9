"""labkit.shell against the real thing: BusyBox ``sh`` on the kernel's overlayfs.

Every script in ``SCRIPTS`` runs twice on the same two lower layers (BusyBox + a data
layer): once for real (``chroot MERGED /bin/sh -c SCRIPT`` on a kernel overlay mount with
Docker's options, umask 022, ``/dev`` bind-mounted like a container's, stdin /dev/null),
once in ``labkit.shell.run`` on ``labkit.overlay.Mount`` (``Oracle.check``). The exit
status, the output and the upper directory (paths, kinds, modes, owners, sizes, content
digests, symlink targets, whiteouts, opaque marks, hard-link groups) must be the same.
Hypothesis adds random file-command scripts and random pipelines of text applets checked
the same way, and random regular expressions given to the host's BusyBox grep and sed.
"""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from requirekit import skip_unless_required

from labkit.errors import UnsupportedOperation
from labkit.fs import overlay, realfs
from labkit.fs.node import Node
from labkit.sim.shell import ShellResult, busybox_applets, run, run_argv

BUSYBOX = Path("/bin/busybox")
ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root"}
NOW = 1_700_000_000


def _applets_from_the_binary_itself() -> list[str]:
    out = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.fixture(scope="session")
def lowers():
    """(data layer, busybox layer): top first, like lowerdir=."""
    if not BUSYBOX.exists():
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "needs the static busybox at /bin/busybox")
    return make_lowers()


def make_lowers() -> tuple[dict, dict]:
    base: dict[str, Node] = {"bin": Node.dir(), "dev": Node.dir(),
                             "bin/busybox": Node.file(BUSYBOX.read_bytes(), mode=0o755)}
    for name in _applets_from_the_binary_itself():
        if name != "busybox":
            base[f"bin/{name}"] = Node.symlink("/bin/busybox")
    data = {
        "etc": Node.dir(),
        "etc/passwd": Node.file(b"root:x:0:0:root:/root:/bin/sh\napp:x:1001:1002::/home/app:/bin/sh\n"),
        "etc/group": Node.file(b"root:x:0:\nstaff:x:50:\napp:x:1002:\n"),
        "srv": Node.dir(),
        "srv/a.txt": Node.file(b"alpha\n"),
        "srv/secret": Node.file(b"s3cret\n", mode=0o600),
        "srv/link": Node.symlink("a.txt"),
        "srv/run.sh": Node.file(b"#!/bin/sh\necho ran $0 $1\nexit 4\n", mode=0o755),
        "srv/sub": Node.dir(0o750),
        "srv/sub/b.bin": Node.file(bytes(range(256)) * 40, mode=0o640, uid=7, gid=8),
        "srv/sub/deep": Node.dir(),
        "srv/sub/deep/c": Node.file(b"c\n"),
        "old": Node.dir(0o700),
        "old/x": Node.file(b"x\n"),
        "old/y": Node.symlink("/srv/a.txt"),
        "old/z": Node.dir(),
    }
    return data, base


@pytest.fixture(scope="session")
def lower_dirs(lowers, kernel_overlay, tmp_path_factory):
    return write_lowers(lowers, tmp_path_factory.mktemp("shell-lowers"))


def write_lowers(lowers, root: Path) -> tuple[Path, Path]:
    data, base = lowers
    realfs.write_dir(base, root / "l0")
    realfs.write_dir(data, root / "l1")
    return root / "l1", root / "l0"


def _kernel_run(script: str, lower_dirs) -> tuple[int, str, dict]:
    work = Path(tempfile.mkdtemp(prefix="labkit-shell-"))
    upper, wd, merged = work / "u", work / "w", work / "m"
    for d in (upper, wd, merged):
        d.mkdir()
    opts = (f"lowerdir={lower_dirs[0]}:{lower_dirs[1]},upperdir={upper},workdir={wd},"
            "index=off,redirect_dir=off")
    mounted = dev = False
    try:
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(merged)], check=True)
        mounted = True
        subprocess.run(["mount", "--bind", "/dev", str(merged / "dev")], check=True)
        dev = True
        proc = subprocess.run(["chroot", str(merged), "/bin/sh", "-c", script], env=ENV, umask=0o022,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    finally:
        if dev:
            subprocess.run(["umount", str(merged / "dev")], check=True)
        if mounted:
            subprocess.run(["umount", str(merged)], check=True)
    layer = realfs.read_dir(upper)
    subprocess.run(["rm", "-rf", str(work)], check=True)
    return proc.returncode, proc.stdout.decode(errors="replace"), layer


def _sim_run(script: str, lowers) -> tuple[int, str, dict]:
    mount = overlay.Mount(list(lowers), {})
    result = run(script, mount, env=ENV, now=NOW)
    return result.exit_code, result.output, dict(mount.upper)


def comparable(layer: dict) -> dict:
    """What must agree between the kernel's upper and the simulator's (mtimes may not)."""
    out = {}
    for path, n in layer.items():
        row = (n.kind, n.mode if n.kind != "whiteout" else 0, n.uid, n.gid)
        if n.kind == "file":
            row += (n.size, n.sha256)
        elif n.kind == "symlink":
            row += (n.linkname,)
        elif n.kind == "dir":
            row += (n.opaque,)
        out[path] = row
    groups: dict[int, list[str]] = {}
    for path, n in layer.items():
        if n.kind == "file" and n.inode is not None:
            groups.setdefault(n.inode, []).append(path)
    out["<hard links>"] = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return out


SCRIPTS = {
    # files, redirections, quoting, expansion
    "write-and-append": "echo one > /srv/new && echo two >> /srv/new && echo three >> /srv/a.txt",
    "quoting": """A="a  b"; echo $A "$A" '$A' a\\ b "x\\"y" ${NOPE:-dflt} ${A:+set} "${HOME}" > /q""",
    "printf": "printf '%s-%s\\n' a b c > /p && printf 'x\\ty %d%%\\n' 42 >> /p && printf '%5s|%-3s|\\n' r l >> /p",
    "echo-n": "echo -n no-newline > /e; echo 'a\\nb' >> /e",
    "redirect-through-symlink": "echo via-link > /srv/link",
    "stderr-redirects": "cat /nope 2>/dev/null; echo $? > /r; cat /nope 2>> /r; echo out >&2",
    "redirect-errors": "echo > /nonexist/x; echo rc=$?; echo > /srv; echo rc=$?; cat < /nope; echo rc=$?; "
                       "echo x > /srv/a.txt/y; echo fd3 3>&1",
    "stderr-to-stdout-file": "cat /srv/a.txt /nope > /both 2>&1; echo rc=$?",
    "globs": "cd /srv && echo * > /g1 && echo /srv/*.txt /srv/s* /nomatch* > /g2 && echo ./sub/* >> /g2",
    # copy-up, whiteouts, opaque directories
    "touch-copies-up": "touch /srv/a.txt /srv/fresh",
    "chmod-octal-and-symbolic": "chmod 600 /srv/a.txt && chmod u+x,g-r,o= /srv/sub/b.bin && chmod -R go-rwx /old",
    "chown-numeric-and-names": "chown 5:6 /srv/a.txt && chown app /srv/secret && chown app:staff /srv/run.sh && chown -R 9 /srv/sub",
    "chown-unknown": "chown nobody /srv/a.txt; echo rc=$?",
    "rm-lower-file": "rm /srv/a.txt && rm -f /nope && rm /nope2",
    "rm-rf-lower-dir": "rm -rf /srv/sub",
    "rm-rf-then-mkdir-opaque": "rm -rf /old && mkdir /old && echo new > /old/n",
    "rm-dir-without-r": "rm /srv; echo rc=$?; rmdir /srv; echo rc=$?",
    "mkdir-p-and-errors": "mkdir -p /a/b/c && mkdir /srv; mkdir /x/y; mkdir -p /srv/sub/deep/e && mkdir -m 700 /m7",
    "mv-lower-dir-exdev": "mv /old /moved",
    "mv-lower-file": "mv /srv/a.txt /srv/a2.txt && mv /srv/secret /old/",
    "mv-upper-dir": "mkdir -p /t/u && echo f > /t/u/f && mv /t /t2",
    "mv-errors": "mv /nope /x; echo rc=$?",
    "cp-file-modes": "cp /srv/secret /s2 && cp /srv/link /l2 && cp /srv/run.sh /srv/sub/ && cp /srv /x; echo rc=$?",
    "cp-r-and-a": "cp -r /srv /c1 && cp -a /old /c2 && cp -r /srv/sub /c1",
    "cp-recursion-and-same-file": "cp -r /srv /srv; echo rc=$?; cd /srv && cp -r sub sub/x; echo rc=$?; "
                                  "cp a.txt a.txt; cp -r /old/ /srv/; cp -a /srv/link /srv/a.txt; "
                                  "cp -af /srv/link /srv/secret; cp -a /old/. /new/; echo rc=$?",
    "cp-p": "cp -p /srv/sub/b.bin /bp",
    "ln-symlink-and-hard": "ln -s /srv/a.txt /s && ln -s a.txt /srv/l3 && ln /srv/secret /hl && ln -sf x /srv/link",
    "ln-errors": "ln -s a /srv/a.txt; echo rc=$?; ln /nope /n2; echo rc=$?",
    "dd-zero": "dd if=/dev/zero of=/z bs=1k count=3 && dd if=/srv/a.txt of=/part bs=2 count=2",
    "test-brackets": "[ -d /srv ] && [ -f /srv/a.txt ] && [ ! -e /nope ] && test -L /srv/link && [ a != b ] && "
                     "[ 3 -lt 4 ] && echo all-true; [ -e /srv; echo rc=$?",
    "and-or-not": "false || echo fallback; true && echo yes; ! false && echo negated; false && echo never; echo $?",
    "sh-c-and-exit": "sh -c 'echo in $0 $1; exit 3' zero one; echo sub=$?; exit 7",
    "set-e": "set -e; echo before; false; echo never",
    "not-found": "nosuchprogram arg; echo rc=$?",
    "cd-and-relative": "cd /srv/sub && touch rel && mkdir ../up && cd /nope; echo rc=$? $PWD",
    "scripts": "sh /srv/run.sh one; echo rc=$?; /srv/run.sh two; echo rc=$?",
    "busybox-and-paths": "busybox mkdir /bb && /bin/touch /bb/t && busybox echo hi > /bb/e",
    "busybox-install": "mkdir -p /usr/local/bin && /bin/busybox --install -s /usr/local/bin",
    "ls-plain-and-recursive": "ls /srv > /l1; ls -R /srv /old >> /l1; cd /srv && ls -R >> /l1; ls -a /old; "
                              "ls -A /srv/sub; ls -d /srv /old; ls /srv/a.txt /nope /old; echo rc=$?",
    "ls-through-symlink-and-dotdot": "cd /srv/sub && ls ..; ls /srv/link /srv/../old",
    "wc-head-tail": "printf 'a b\\nc\\nlast' > /w; wc /w; wc -c /w; wc -l < /w; wc -l /w /srv/a.txt; "
                    "head -n 1 /w; head -c 3 /w; echo; tail -n 1 /w; echo; head -1 /w; tail -2 /w; "
                    "echo; tail -n +2 /w; echo; head /w /srv/a.txt; wc -w /nope; echo rc=$?",
    "who-and-names": "whoami; id -u; id -g; id -un; basename /a/b/c.txt .txt; basename /a/b/; "
                     "dirname /a/b/c; dirname c; dirname /a",
    "if-elif-else": "if [ -d /srv ]; then echo dir > /i; fi; if false; then echo no; elif [ -e /nope ]; "
                    "then echo no2; else echo else >> /i; fi; if false; then :; fi; echo rc=$?",
    "for-loops": "for f in /srv/*.txt /old/x; do cp $f $f.bak; done; for x in a 'b c'; do echo \"[$x]\"; done; "
                 "for n in 1 2 3 4; do [ $n = 2 ] && continue; [ $n = 4 ] && break; touch /n$n; done; echo $n",
    "while-until": "i=x; while [ $i != xxxx ]; do echo $i >> /w; i=${i}x; done; until true; do echo never; done; "
                   "while true; do while true; do break 2; done; echo never; done; echo out",
    "set-e-and-conditions": "set -e; if false; then :; fi; false || true; for x in a; do false && true; done; "
                            "echo survived; false; echo never",
    "compound-syntax-errors": "fi",
    "compound-syntax-eof": "echo a\nif true; then echo b",
    "for-syntax": "for 1x in a; do :; done",
    "command-substitution": "x=$(cat /srv/a.txt); echo \"[$x]\"; for n in $(seq 3); do touch /s$n; done; "
                            "echo `echo a b` \"$(echo c; echo; echo)\" $(echo '(' \")\"); y=$(false); echo $?; "
                            "echo $(cd /srv; pwd) $PWD; echo $(seq 2 2 7) $(seq 3 -1 1)",
    "arithmetic": "i=3; echo $((i + 4 * 2)) $(( (i+1) / 2 )) $((-7 / 2)) $((-7 % 3)) $((i > 2)) $((i == 3 && 0)); "
                  "n=0; while [ $n -lt 3 ]; do n=$((n + 1)); echo $n >> /count; done",
    "export-and-prefix": "export Q=1; echo $Q > /v; X=2 sh -c 'echo $X' >> /v; echo \"[$X]\" >> /v",
    # pipelines: each element in a subshell, stdin-reading applets
    "pipe-basics": "echo a b c | wc -w; x=1 | true; echo \"[$x]\"; cd /srv | true; pwd; echo a |\ncat; "
                   "ls /srv | wc -l > /out; echo $(echo sub | cat) done",
    "pipe-status-and-negation": "! echo a | false; echo $?; ! true | true; echo $?; false | true; echo $?; "
                                "exit 3 | echo ok; echo $?; echo a | exit 4; echo $?; true && echo a | cat || echo no",
    "pipe-stderr-and-errors": "cat /nope | cat; echo $?; cat /srv/a.txt | cat - /srv/a.txt | wc -l; echo a >&2 | cat",
    "pipe-set-e": "set -e; echo x | true; echo x | false; echo never",
    "pipe-stdin-applets": "printf 'a\\nb\\nc' | tail -n 1; printf '1\\n2\\n3\\n' | head -2 | tail -1; printf '' | wc; "
                          "printf x | wc -c; echo abc | wc -l -; echo abc | head -c 2 -; echo; "
                          "echo x | cat /srv/a.txt - /srv/a.txt; cat /srv/sub/b.bin | wc -c",
    "pipe-compounds": "if echo a | false; then echo t; else echo f; fi; for x in 1 2; do echo $x; done | cat; "
                      "while false; do :; done | cat; echo $?; echo 'echo from-stdin $0' | sh; echo abc | sh",
    "pipe-syntax-errors": "echo a | ; echo",
    "pipe-syntax-leading": "| echo",
    "pipe-syntax-trailing": "echo a |",
    # { } groups, ( ) subshells, case, functions, redirected blocks, here-documents
    "read-while-pipes": "printf 'a b c\\nd e\\n' | while read x y; do echo \"[$x][$y]\"; done; printf 'last' | { read l; echo \"$? [$l]\"; }; echo '  lead  trail  ' | { read v; echo \"[$v]\"; }",
    "read-escapes-and-ifs": "printf 'a\\\\b c\\\\\\nd\\n' | { read x; echo \"[$x]\"; }; printf 'a\\\\b\\n' | { read -r x; echo \"[$x]\"; }; printf 'a:b:c\\n' | { IFS=: read x y; echo \"[$x][$y]\"; }",
    "read-redirected-blocks": "while read line; do echo \"got $line\"; done < /etc/group; printf '' | { read z; echo $?; }; { read a; read b; } < /etc/passwd; echo \"$b\"",
    "redirect-whole-blocks": "for f in a b; do echo $f; done > /loop; cat /loop; if true; then echo yes; fi >> /loop; cat /loop; while false; do :; done 2>/dev/null < /nope; echo rc=$?",
    "subshells": "(cd /srv && ls) > /sub; pwd; cat /sub; (echo err >&2) 2>/dev/null; ( echo a; exit 4; echo b ); echo $?; (exit 1) || echo failed",
    "functions": "f() { echo \"f:$*\"; g \"$@\"; }; g() { echo \"g:$#\"; }; f 1 \"2 3\"; f > /fo; cat /fo; h() { echo in; } > /ho; h; cat /ho",
    "case-patterns": "case /srv/a.txt in *.txt) echo text;; *.sh) echo script;; esac; for f in /srv/*; do case $f in */sub|*/link) echo skip $f;; *) echo keep $f;; esac; done",
    "case-brackets-and-redirect": "case x in [abc]) echo no;; [!a-w]) echo bracket;; esac; case '' in '') echo empty;; esac; x=5; case $x in [0-9]) echo digit;; esac > /case; cat /case",
    "functions-return-and-override": "f() { [ \"$1\" ] || return 7; echo arg $1; }; f; echo $?; f z; echo $?; f() { echo redefined; }; f; echo() { printf 'E:%s\\n' \"$*\"; }; echo hi; unset -f echo 2>/dev/null; exit 0",
    "groups-and-subshells-in-lists": "{ echo a; false; } && echo no || echo yes; ! { true; }; echo $?; { echo x; } | cat; ( echo y ) | tr y z; echo a | ( read v; echo \"[$v]\" )",
    "set-e-functions-subshells": "set -e; f() { false; }; if f; then :; fi; echo survived; (false) || echo caught; { false; } || echo caught2; (exit 5); echo never",
    "compound-redirect-errors": "{ echo a; } 2>/dev/null > /nope/x; echo rc=$?; ( cd /srv; x=1 ) ; echo \"[$x]\" $PWD; f() { exit 3; }; (f); echo $?; ( ) ; echo rc=$?",
    "subshell-syntax-eof": "( echo a",
    "function-syntax-eof": "f() { echo a; ",
    "functions-subshell-body-and-pipes": "f() ( echo sub $1 ); f one; a() { echo A; }; b() { a; }; b | cat",
    "case-in-loops-and-return-in-loop": "for i in 1 2 3; do case $i in 2) continue;; 3) break;; esac; echo $i; done; f() { for x in a b; do return 2; done; }; f; echo $?",
    "local-and-return-outside": "f() { local x=2; echo in$x; }; x=1; f; echo $x; local y; echo rc=$?",
    "return-ends-script": "f() { return; }; false; f; echo $?; g() { return 4; echo no; }; g; echo $?; return 3; echo after",
    "case-syntax-errors": "case",
    "case-syntax-eof": "case a in",
    "double-semicolon": ";;",
    "stray-paren": "echo a )",
    "line-continuations": "echo a\\\nb \"c\\\nd\" 'e\\\nf' && \\\necho g",
    "heredoc-expansion-quoted-and-tabs": "cat <<EOF\na $HOME `echo x` \"q\" \\$ \\\\\n$((1+2)) ${NOPE:-d} 'single'\nEOF\ncat <<'EOF'\na $HOME `x` \\$\nEOF\ncat <<-X\n\t\ttabbed $HOME\n\tX\necho end",
    "heredoc-targets": "cat <<EOF > /hd; cat /hd\nto file\nEOF\nwhile read l; do echo \"[$l]\"; done <<E\n1\n2\nE\ncat <<A; cat <<B\nfirst\nA\nsecond\nB\nf() { cat; }; f <<EOF\nvia function\nEOF\ncat <<\"Q\" | wc -l\nx\ny\nQ",
    "heredoc-unterminated": "cat <<EOF\nno end",
    "heredoc-delimiter-spacing": "cat << EOF\nspaced delimiter\n EOF\nEOF\ncat <<E1 && echo after\nbody\nE1",
    "heredoc-command-substitution": "cat <<EOF\n$(echo sub\n)\nEOF",
    # shell options: -x traces, -u, -o pipefail, sh's own flags
    "set-x-trace": "set -x; echo a 2>/dev/null; echo in for do x=y \"a=b\" \"\" \"~\" \"%\" \"{\" \"it's\"; x=$(echo s) y=2; cd /; { echo g; } > /dev/null; case a in a) echo c;; esac; while false; do :; done; if true; then :; fi; export Z=1; A=1 B=\"x y\"; f() { :; }; f a; [ 1 = 1 ]; echo $(f) $(exit 3) $?; set +x; echo quiet",
    "sh-x-and-flags": "sh -xc \"echo a; echo b; ls /nope; echo c\"; sh -eu -c \"echo \\$1 \\$0\" zero one; sh -c; echo rc=$?; f() { echo F; }; sh -c f; echo rc=$?",
    "set-u": "set -u; echo ${X:-d}; echo $X; echo after",
    "set-u-positional": "set -u; echo $@ $# $?; unset Z; echo ${Z+x} ${Z:+y} done; echo \"$1\"; echo after",
    "set-pipefail-and-e": "set -o pipefail; false | true; echo $?; true | false | true; echo $?; set +o pipefail; false | true; echo $?; sh -ec \"false; echo no\"; echo rc=$?; set -o pipefail -e; true | true; false | true; echo no",
    "set-options-and-flags-variable": "set -o nosuch; echo after $?; set -- a b; echo $# $1; set -e -- c; echo $# $1; set -eux; echo ok $-; sh -c \"echo \\$-\"; sh -e -c \"echo \\$-\"; set -Q; echo no",
    # parameter expansion beyond :- and :+, command -v, which
    "parameter-trimming-and-length": "x=abc.tar.gz; echo ${#x} ${x%.*} ${x%%.*} ${x#*.} ${x##*.} ${x%\"gz\"} ${x#a?c} ${x%[.]gz} \"${x%.*}\" \"${x#\"abc\"}\" ${x%nomatch} ${#} ${#nope}; unset y; echo ${y:=def} $y; z=; echo ${z=no}[$z] ${z:=yes} $z; p=/usr/local/bin; echo ${p##*/} ${p%/*}; echo ${x:?boom}; echo ${nope:?}; echo after",
    "parameter-errors": "echo ${nope:?custom msg}; echo after",
    "parameter-not-set": "echo ${nope?}",
    "parameter-quoted-patterns": "x=\"a b\"; for w in ${x%b}; do echo \"[$w]\"; done; v=\"*.txt\"; f=a.txt; echo ${f%$v}. ${f%\"$v\"} \"${f%\\*.txt}\" ${f%\\*.txt} ${f#\"a\"}; echo ${#x} \"${#x}\"; set -u; echo ${#x}; echo ${X:-\"a b\"} \"${X:-c d}\" ${X:-\\$y} ${X:-a\\ b}; for w in ${X:-\"p q\"}; do echo \"[$w]\"; done",
    "command-v-and-which": "command -v ls; command -v cd; command -v nosuch; echo rc=$?; f() { :; }; command -v f; command -v /bin/ls; command -v ./x; echo rc=$?; command -v ls cd; echo rc=$?; which ls; which nosuch; echo rc=$?; which cd; echo rc=$?; command echo hi; command -v echo; command -v if; command -v od; echo rc=$?; which od sh /srv/run.sh /srv/a.txt; echo rc=$?",
    "command-skips-functions": "echo() { printf \"F\\n\"; }; echo a; command echo b; command -v; echo rc=$?; which; echo rc=$?; cd /srv; command -v run.sh; command -v ./run.sh; PATH=/srv:$PATH; command -v run.sh; which run.sh",
    "case-inside-command-substitution": "echo $(case a in a) echo x;; esac) $(case b in (b) echo y;; esac) done; x=$(case q in q) echo \"(\";; esac; echo \")\"); echo \"$x\"; echo $(echo esac case)",
    "assignments-do-not-split": "y=\"a  b\"; x=$y; echo \"[$x]\"; z=${nope:-$y}; echo \"[$z]\"; w=$(printf \"1\\n2\"); echo \"$w\"; v=*; echo \"$v\"; echo x > /f$y; ls /; case $y in \"a  b\") echo match;; esac; a=\"1 2\"; b=${a}; echo \"$b\"",
    "dockerfile-idioms-read": "printf \"  x  y \\n\\tz\\n\" | while IFS= read -r l; do echo \"[$l]\"; done; printf \"a  b\\n\" | { read -r x y z; echo \"[$x][$y][$z]\"; }; printf \"a:b::c\\n\" | { IFS=: read -r a b c d; echo \"[$a][$b][$c][$d]\"; }",
    "dockerfile-idioms-find-grep": "for f in $(find /srv/sub -type f | sort); do echo \"file: $f\"; done; find /srv -name \"*.sh\" -exec sh {} x \\;; echo rc=$?; grep -q \"^app:\" /etc/passwd && echo exists || echo missing; grep -q \"^nobody:\" /etc/passwd || echo \"nobody:x:65534:65534::/:/bin/false\" >> /etc/passwd; tail -1 /etc/passwd",
    "dockerfile-idioms-text": "cat /etc/passwd | cut -d: -f1 | sort | tr \"\\n\" \" \"; echo; ls /srv | grep -v sub | wc -l; echo $(ls /srv | head -n 2); VERSION=1.2.3; MAJOR=$(echo $VERSION | cut -d. -f1); echo \"$MAJOR ${VERSION%.*}\"; echo \"$VERSION\" | sed \"s/\\./-/g\"; echo $VERSION | tr . _",
    "dockerfile-idioms-loops": "set -eu; for d in a b; do mkdir -p /data/$d; echo \"$d\" > /data/$d/name; done; find /data -type f | sort | xargs cat; ls -la /data | wc -l; which -a sh ls nosuch; echo rc=$?",
    "regex-edges-found-by-fuzzing": "printf 'a+b?\\n(a){b}\\nalphax alpha\\n' > /t; grep -E -w -n '[^a][^a]' /t; grep -w -c 'alpha' /t; sed 's/\\<[[:alpha:]]\\?\\(b*\\)/[\\1]/g' /t; sed 's/[ab]/\\1/' /t; echo aab | sed 's/^a/-/3'; echo xyz | sed 's/^x/-/2'; echo aab | sed 's/x*/-/2'; echo aab | sed 's/b*/-/3'; echo cccd | sed 's/c*/R/g'",
    "sort-cut-edges-found-by-fuzzing": "printf '2:0x1b\\naBB-32\\n0x1e5\\nB10a\\n' | sort -n -t: -k2; printf '_bBe5x\\n1.5\\tb 0x1\\n0x1\\ne5_-3\\n' | sort -f -r -k1,1n; printf '\\n2:\\n-3 \\n_1.5\\n_bx B\\n' | sort -k 2,2; printf 'be5\\nb\\nB\\n1\\nax\\n::e5\\t\\n' | sort -u -r -f -k 2,2; for f in 1,3 2,3 3 1-3 1,3,5 3,1 1-2,4; do printf 'a\\na:b\\na:b:c\\n:\\n\\n' | cut -d: -f$f | tr '\\n' '|'; echo; done; printf 'a\\n\\nb:c\\n' | cut -s -d: -f1",
    # control flow details found by fuzzing compound scripts against BusyBox
    "break-continue-outside-and-across": "break; echo after $?; continue 2; echo after; f() { break; }; for i in 1 2; do f; echo $i; done; for i in 1 2; do ( break; echo in ); echo $i; done; for i in 1 2; do echo x | break; echo $i; done; for i in 1 2; do for j in a b; do break 5; done; echo $i; done; for i in 1 2; do y=$(break; echo in); echo \"$i[$y]\"; done; for i in 1 2 3; do while true; do continue 2; done; done; echo ok; break 0; echo $?",
    "break-bad-number": "break x; echo $?",
    "semicolon-after-newline": "echo a\n; echo b",
    "for-semicolon-newline-do": "for x in a b;\ndo echo $x; done",
    "bang-after-pipe": "true | ! false; echo $?",
    "double-bang": "! ! true",
    "return-negated-and-in-subshells": "( ! return 3 ); echo $?; ls /nope | if true; then return 3; fi; echo $?; f() { ( return 4 ); echo in $?; }; f; echo $(return 5; echo no) $?; g() { ! { return 3; }; }; g; echo $?; { ! return 3; }; echo no",
    "syntax-error-inside-substitution": "echo first\necho $(echo a; ;) second\necho third",
    "line-numbers-inside-substitution": "echo one\ny=$(local x=9); echo \"[$y]\"",
    "arithmetic-operators": "x=3; echo $((x=5)) $x $((x+=2)) $x $((1?2:3)) $((0?2:3)) $((010)) $((0x10)) $((1<<4)) $((~0)) $((3 > 2 && 0 || 5)) $((-7/2)) $((-7%3)) $((2**10)) $((! 0)) $((!5)) $((5&3)) $((5|3)) $((5^3)) $(( (1+2)*3 )) $((9223372036854775807+1)) $((y)) $((x++)) $x $((--x)); z=abc; echo $((z+1)); z=\"2+3\"; echo $((z*2)); y=$(( ! set -e )); echo \"[$y]\" $((2**3**2)) $((-2**2)) $(( 1 - - 1 ))",
    "arithmetic-divide-by-zero": "echo $((1/0)); echo after",
    "arithmetic-syntax-error": "echo $((1+)); echo after",
    "arithmetic-bad-octal": "echo $((08)); echo after",
    "redirected-block-file-offsets": "{ echo aaaa; echo b > /f; echo c; } > /f; cat /f; { echo x; echo y >> /g; echo z; } >> /g; cat /g; { echo 12345; : > /h; echo 6; } > /h; wc -c /h; tr \"\\000\" 0 < /h; if false; then :; else echo 1 0 > /o; cat /o\nif pwd; then echo \"$@\"; fi; fi > /o; cat /o",
    "keywords-before-parentheses-and-nested-case": "if ( true ); then echo a; fi; while ( false ); do :; done; until ( true ); do :; done; echo ok; y=$(case a in a|b) case b in b) echo in;; esac;; *) echo no;; esac\necho more); echo \"[$y]\"; z=$(for i in 1\ndo pwd\nlocal q\ndone); echo \"[$z]\"",
    "set-e-off-under-bang": "x=a; for i in 1 2; do ! if false; then exit 4; else set -e; ls /nope; fi; done; ! { false; echo in; }; echo b; false; echo no",
    "return-before-a-bad-line": "while read l; do return 3; done <<EOF\nl1\nEOF\n | cd /srv",
    # text applets (BusyBox behaviour and messages, stdin and files)
    "grep-basics": "grep root /etc/passwd; grep -c x /etc/passwd /etc/group; grep -n -i APP /etc/passwd; echo rc=$?; grep -l alpha /srv/a.txt /etc/passwd /nope; echo rc=$?; grep -L alpha /srv/a.txt /etc/passwd; echo rc=$?",
    "grep-quiet-and-dirs": "grep -q zz /etc/passwd; echo rc=$?; grep -q root /nope /etc/passwd; echo rc=$?; grep -r c /srv/sub/deep; grep -r alpha /srv | sort; grep alpha /srv; echo rc=$?; grep -c alpha /srv; grep -L x /srv; grep -rh c /srv/sub/deep /srv/sub/deep/c",
    "grep-words-lines-invert": "echo 'xalpha alpha' | grep -ow alpha; echo 'alphax alpha' | grep -w alpha; echo 'a.b' | grep -w a; echo alphax | grep -w alpha; echo rc=$?; printf 'alpha\\nBeta\\nalpha2' | grep -x alpha; printf 'alpha\\nbeta\\n' | grep -v alpha; printf 'x\\ny' | grep -v q",
    "grep-usage-errors": "grep; echo rc=$?; grep -Z x /srv/a.txt; echo rc=$?; grep -e; echo rc=$?",
    "grep-patterns": "grep -e a -e B /etc/group; grep -E 'ro+t|app' /etc/passwd; grep -F 'a.' /srv/a.txt; echo rc=$?; grep '[' /srv/a.txt; echo rc=$?; grep -E '(' /srv/a.txt; echo rc=$?; grep 'a\\{2' /srv/a.txt; echo rc=$?",
    "grep-bre-ere-edges": "echo 'a+b' | grep 'a+b'; echo aab | grep -o 'a\\+'; echo 'a{' | grep -E 'a{'; echo '*a' | grep '*a'; echo 'a^b' | grep 'a^b'; echo 'a$b' | grep 'a$b'; echo 'ab' | grep -E 'a$b'; echo abc | grep -o ''; echo rc=$?",
    "grep-binary-and-o": "printf 'ab\\0cd\\n' | grep -c cd; printf 'ab\\0cd\\n' | grep cd | wc -c; grep -c . /srv/sub/b.bin; grep -o 'x' /srv/sub/b.bin | wc -l; echo abab | grep -o 'b*'; echo alpha | grep -oF -e al -e ph; echo alpha | grep -x -e alp -e alpha; echo Alpha | grep -i -o 'ALP'",
    "grep-files-and-empty": "printf 'a1\\nb2\\na3\\n' | grep -m1 a; printf 'a1\\nb2\\n' | grep -n -H . ; printf 'x\\n' | grep -h x - /srv/a.txt; grep -s x /nope; echo rc=$?; printf '' | grep x; echo rc=$?; printf '' | grep -c x; printf '' | grep -v x; echo rc=$?",
    "grep-classes-and-backrefs": "echo 'foo bar' | grep '[[:space:]]bar'; echo 'ab1' | grep -o '[[:digit:]]'; echo 'a]b' | grep -o '[]]'; echo 'a-b' | grep -o '[a-]*'; echo 'word' | grep '\\<wo'; echo 'word' | grep 'rd\\>'; echo 'a b' | grep -c '\\w\\s\\w'; echo 'aXbXc' | grep -o 'X.'; echo 'abcabc' | grep '\\(abc\\)\\1'; echo 'abab' | grep -E '(ab)\\1'; echo '.' | grep -c '\\.'; echo 'abc' | grep '^abc$'",
    "grep-f-egrep-fgrep": "grep -f /srv/a.txt /etc/passwd /srv/a.txt; echo 'ROOT' | grep -i root; egrep 'a|b' /srv/a.txt; fgrep '.' /srv/a.txt; echo rc=$?",
    "sort-basics": "printf 'b\\na\\nc' | sort; printf '10\\n9\\n1a\\n1b\\n-2\\n' | sort -n; printf '1b\\n1a\\n' | sort -n -u; printf '1b\\n1a\\n' | sort -nr; printf 'b 2\\na 10\\nc 1\\n' | sort -k 2 -n; printf 'x:b\\ny:a\\n' | sort -t: -k2; printf 'B\\na\\nb\\n' | sort -f; sort /nope; echo rc=$?",
    "sort-files-and-keys": "sort -r /etc/passwd /etc/group; sort -t: -k3 -n /etc/passwd; sort -u /srv/a.txt /srv/a.txt; printf '' | sort; echo rc=$?; sort -Q; echo rc=$?; printf 'b 1\\na 1\\nc 0\\n' | sort -k2,2 -u; printf 'a b\\na  a\\n' | sort -k2; printf '3\\n1\\n2\\n' | sort -o /sorted; cat /sorted",
    "uniq": "printf 'a\\na\\nb\\nc\\nc\\nc\\n' | uniq -c; printf 'a\\na\\nb\\n' | uniq -d; printf 'a\\na\\nb\\n' | uniq -u; printf 'a\\nb' | uniq; printf 'A\\na\\n' | uniq -i; uniq /nope; echo rc=$?; sort /etc/passwd /etc/passwd | uniq /dev/stdin /u; cat /u",
    "tr": "echo hello | tr a-z A-Z; echo hello | tr -d l; echo heello | tr -s e; echo hello | tr -c 'a-z\\n' X; echo hello | tr '[:lower:]' '[:upper:]'; echo hello | tr elo xy; echo hello | tr; echo rc=$?; echo 'a b  c' | tr -s ' ' '\\n'; echo 'a1b2' | tr -d '[:digit:]'; echo 'tab\tx' | tr '\\t' ' '; echo ab | tr -cd 'a'; echo; printf 'a\\nb\\n' | tr '\\n' ','",
    "cut": "echo 'a:b:c' | cut -d: -f2; echo 'a:b:c' | cut -d: -f1,3; echo 'abc' | cut -d: -f2; echo 'abc' | cut -s -d: -f2; echo 'abcdef' | cut -c2-4; echo 'abcdef' | cut -c-2,5-; echo abc | cut; echo rc=$?; echo abc | cut -f; echo rc=$?; cut -d: -f1,7 /etc/passwd; cut -c1-3 /nope /srv/a.txt; echo rc=$?; printf 'a\\tb\\n' | cut -f2; echo a:b | cut -d: -f3-",
    "tee": "echo x | tee /nope/x; echo rc=$?; echo hi | tee /t1 /t2 > /t3; echo more | tee -a /t1; cat /t1 /t2 /t3; echo y | tee; echo z | tee /srv/a.txt",
    "checksums": "sha256sum /srv/a.txt /srv/sub/b.bin; md5sum /srv/a.txt; echo abc | sha256sum; echo abc | md5sum -; sha256sum /nope; echo rc=$?; sha1sum /srv/a.txt; sha512sum /srv/a.txt",
    "checksums-check": "sha256sum /srv/a.txt /etc/group > /sums; sha256sum -c /sums; echo rc=$?; echo x >> /etc/group; sha256sum -c /sums; echo rc=$?; sha256sum -c -s /sums; echo rc=$?; sha256sum -c /nope; echo rc=$?; printf \"x  /srv/a.txt\\n\\n\" | sha256sum -c -w; echo rc=$?; sha256sum -s /srv/a.txt; echo rc=$?",
    "checksums-failures": "md5sum /srv/a.txt | sed 's/^./0/' > /bad; md5sum -c /bad; echo rc=$?; echo 'garbage' > /g; md5sum -c /g; echo rc=$?; rm /srv/a.txt; md5sum -c /bad; echo rc=$?",
    "sed-basics": "printf 'a\\nb' | sed p; printf 'a\\nb\\n' | sed -n '2p'; echo abc | sed 's/b*/X/g'; echo aaa | sed 's/a/b/2'; echo aaaa | sed 's/a/b/2g'; echo abc | sed 's/\\(b\\)/[\\1&]/'",
    "sed-addresses": "echo abc | sed 's/B/x/I'; printf '1\\n2\\n3\\n4\\n' | sed '2,3d'; printf '1\\n2\\n3\\n4\\n' | sed '/2/,/3/d'; printf '1\\n2\\n3\\n' | sed -n '$p'; printf '1\\n2\\n3\\n' | sed '2!d'; printf '1\\n2\\n3\\n4\\n5\\n' | sed -n '2,4p'; printf '1\\n2\\n3\\n' | sed '$d'; printf 'a\\nb\\n' | sed '$!d'",
    "sed-errors": "echo a | sed 'k'; echo rc=$?; echo a | sed; echo rc=$?; echo a | sed 's/a/b'; echo rc=$?; echo a | sed -n; echo rc=$?; sed p /nope; echo rc=$?; sed -i p; echo rc=$?",
    "sed-scripts-and-quit": "echo a | sed -e 's/a/b/' -e 's/b/c/'; echo a | sed 's/a/b/;s/b/d/'; echo a | sed 's|a|/|'; echo a | sed 's/a/x\\ny/'; echo a.b | sed 's/\\./-/'; echo a | sed 2q; printf '1\\n2\\n3\\n' | sed 2q; printf '1\\n2\\n' | sed '1d;s/2/x/p'; echo ab | sed 's/x*/-/g'; echo hello | sed 's/l/L/3'",
    "sed-in-place": "sed -i 's/alpha/beta/' /srv/a.txt; cat /srv/a.txt; sed -i -e '1d' /etc/group; cat /etc/group; sed -i.bak 's/x/y/g' /srv/run.sh; cat /srv/run.sh /srv/run.sh.bak; sed -n 1p /srv/run.sh /etc/passwd",
    "sed-in-place-symlink-and-errors": "sed -i 's/a/b/' /srv/link; ls -l /srv/link | cut -c1; cat /srv/a.txt; sed -i 's/c/d/' /srv/secret /nope; echo rc=$?",
    "sed-groups-and-escapes": "printf 'x=1\\ny=2\\n' | sed -e 's/=.*//' ; printf 'PATH=a\\n' | sed -E 's/(PATH)=(.*)/\\2:\\1/'; echo 'a/b/c' | sed 's#/#_#g'; echo 'a b' | sed 's/ /\\t/' | cut -f2; printf 'a\\tb\\n' | sed 's/\\t/T/'",
    "sed-ranges-and-empty-regex": "printf '1\\n2\\n3\\n4\\n5\\n' | sed '2,/4/s/^/>/'; printf 'a\\n' | sed 's/a/&&/'; echo a | sed 's/a/\\&/'; echo 'a' | sed '/a/s//b/'; printf 'a\\nb\\n' | sed '/a/,$d'; printf '1\\n2\\n3\\n' | sed '2,1d'; printf '1\\n2\\n3\\n' | sed -n '/2/,/nomatch/p'; printf 'aXb\\n' | sed 's/x/-/I'; echo abc | sed 's/^/-/g'; echo abc | sed 's/$/-/g'; echo abc | sed 's/b\\?/-/g'",
    "xargs": "echo a b c | xargs; echo a b c | xargs -n 2 echo x; printf 'a\\nb\\n' | xargs -I {} echo [{}]; printf '' | xargs echo none; printf '' | xargs -r echo none; echo rc=$?; echo /srv/a.txt /etc/group | xargs cat",
    "xargs-quotes-and-failures": "echo \"'a b' c\\\\ d\" | xargs -n1; echo x | xargs false; echo rc=$?; echo x | xargs nosuch; echo rc=$?; echo x | xargs cd; echo rc=$?; printf '/srv/a.txt\\n/nope\\n' | xargs rm; echo rc=$?; ls /srv; echo a | xargs -t echo; echo a | xargs -Q; echo rc=$?; echo \"a 'b\" | xargs; echo rc=$?",
    "find-basics": "find /srv/sub/deep; find /srv/sub -type f | sort; find /srv/sub -type d | sort; find /srv -name '*.txt'; find /nope; echo rc=$?; find /srv/sub/deep /srv/a.txt",
    "find-depths-and-negation": "cd /srv/sub/deep && find; find . -maxdepth 0; cd /srv && find . -mindepth 2 | sort; find /old -type l; find /srv/sub ! -type d | sort; find /srv/sub -name 'd*' -print",
    "find-exec-and-errors": "find /srv/sub/deep -type f -exec echo got {} \\; ; find /old -type f -exec echo all {} +; find /srv/sub/deep -exec nosuch {} \\; ; echo rc=$?; find /srv -Q; echo rc=$?; find /srv/sub/deep -type f -exec false {} + ; echo rc=$?; find /srv/sub/deep/ -maxdepth 1; find /srv/sub -iname 'B*'; find /srv/sub -path '*deep*' | sort; find /srv/sub -name c -exec rm {} \\; ; ls /srv/sub/deep; find /srv/sub -delete; echo rc=$?",
    "env-and-read": "env X=1 sh -c 'echo $X'; env -i sh -c 'echo \"[$PATH][$HOME]\"'; env -u HOME sh -c 'echo \"[$HOME]\"'; env nosuch; echo rc=$?; read 1x < /srv/a.txt; echo rc=$?; read a b < /srv/a.txt; echo \"[$a][$b]\"; printf '' | read z; echo $?",
}


class Oracle:
    """Runs a script on real BusyBox and on the simulator; the two must agree."""

    def __init__(self, lowers, lower_dirs) -> None:
        self.lowers, self.lower_dirs = lowers, lower_dirs

    def __repr__(self) -> str:          # keeps hypothesis' failure reports short
        return "Oracle()"

    def check(self, script: str) -> None:
        k_code, k_out, k_upper = _kernel_run(script, self.lower_dirs)
        s_code, s_out, s_upper = _sim_run(script, self.lowers)
        assert (s_code, s_out) == (k_code, k_out), script
        assert comparable(s_upper) == comparable(k_upper), script


@pytest.fixture(scope="session")
def oracle(lowers, lower_dirs) -> Oracle:
    return Oracle(lowers, lower_dirs)


@pytest.mark.kernel
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_shell_matches_busybox_on_kernel_overlayfs(name, oracle):
    oracle.check(SCRIPTS[name])


@pytest.mark.parametrize("script, what", [
    ("function f { echo; }", "'function'"),
    ("select x in a; do :; done", "'select'"),
    ("cat <<$X\nx\n", "delimiter"),
    ("set", "'set' without arguments"),
    ("echo $(od /srv/a.txt)", "'od'"),
    ("od /srv/a.txt", "'od'"),
    ("echo a | grep -A1 a", "-A of grep"),
    ("echo a | sed y/a/b/", "sed command 'y'"),
    ("echo ab | sed -E 's/a|ab/x/'", "alternation"),
    ("echo ab | grep -E '*a'", "nothing to repeat"),
    ("echo ab | grep -E 'a|'", "empty alternative"),
    ("echo ab | grep -w 'x*'", "empty string"),
    ("env", "printing the environment"),
    ("find / -newer /etc", "'-newer'"),
    ("sleep 1 &", "background"),
])
def test_unsupported_features_raise_and_name_the_feature(script, what, lowers):
    with pytest.raises(UnsupportedOperation) as info:
        run(script, overlay.Mount(list(lowers), {}), env=ENV)
    message = str(info.value)
    assert what in message and "Docker engine" in message


def test_unsupported_command_fails_before_touching_nothing_silently(lowers):
    mount = overlay.Mount(list(lowers), {})
    with pytest.raises(UnsupportedOperation, match="'od'"):
        run("mkdir /made && od /srv/a.txt", mount, env=ENV)
    assert "made" in mount.upper      # what ran before the unsupported command is kept


def test_busybox_applet_table_matches_busybox_list():
    if not BUSYBOX.exists():
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "needs /bin/busybox")
    assert busybox_applets(BUSYBOX.read_bytes()) == _applets_from_the_binary_itself()


def test_supported_applets_exist_in_busybox_and_usage_texts_match_its_help():
    if not BUSYBOX.exists():
        skip_unless_required("LABKIT_REQUIRE_KERNEL", "needs /bin/busybox")
    from labkit.sim.shell import SUPPORTED_COMMANDS, busybox_usage
    from labkit.sim.shell.commands import _BUILTINS
    applets = set(_applets_from_the_binary_itself())
    shell_only = {"cd", "export", "unset", "set", "exit", "break", "continue", "read", ":",
                  "return", "local", "command"}
    assert set(SUPPORTED_COMMANDS) - applets == shell_only
    assert shell_only <= set(_BUILTINS)
    usage = busybox_usage(BUSYBOX.read_bytes())
    for name in ("grep", "sed", "sort", "find", "xargs", "mkdir"):
        helped = subprocess.run([str(BUSYBOX), name, "--help"], capture_output=True, text=True)
        assert f"Usage: {name} {usage[name]}\n" in helped.stderr


def test_exec_form_install_like_the_base_image(lowers):
    data, base = lowers
    only_busybox = {"bin": Node.dir(), "bin/busybox": base["bin/busybox"]}
    mount = overlay.Mount([only_busybox], {})
    result = run_argv(["/bin/busybox", "--install", "-s", "/bin"], mount, env=ENV)
    assert result == ShellResult(0, "")
    links = {p for p, n in mount.upper.items() if n.kind == "symlink"}
    assert links == {f"bin/{a}" for a in _applets_from_the_binary_itself() if a != "busybox"}
    assert {mount.upper[p].linkname for p in links} == {"/bin/busybox"}
    missing = run_argv(["nosuch"], overlay.Mount([only_busybox], {}), env=ENV)
    assert missing.exit_code == 127 and "executable file not found" in missing.output


def test_urandom_is_deterministic_and_sized(lowers):
    uppers = []
    for _ in range(2):
        mount = overlay.Mount(list(lowers), {})
        r = run("dd if=/dev/urandom of=/r bs=1000 count=5", mount, env=ENV)
        assert r.exit_code == 0
        uppers.append(mount.upper["r"])
    assert uppers[0].size == 5000 and uppers[0].sha256 == uppers[1].sha256
    assert uppers[0].sha256 != Node.file(bytes(5000)).sha256


def test_result_is_frozen(lowers):
    result = run("true", overlay.Mount(list(lowers), {}), env=ENV)
    with pytest.raises(FrozenInstanceError):
        result.exit_code = 1  # type: ignore[misc]


def test_copies_keep_hard_links_like_busybox(lowers, lower_dirs):
    """Hard links made in a lower layer survive `mv` across the overlay (EXDEV) and `cp -a`."""
    linked = {"h": Node.dir(), "h/one": Node.file(b"same\n", inode=1),
              "h/sub": Node.dir(), "h/sub/two": Node.file(b"same\n", inode=1)}
    data, base = lowers
    with tempfile.TemporaryDirectory(prefix="labkit-shell-links-") as tmp:
        realfs.write_dir(linked, Path(tmp) / "l2")
        script = "cp -a /h /c && cp -r /h /r && mv /h /m"
        k_code, k_out, k_upper = _kernel_run(script, (Path(tmp) / "l2", lower_dirs[1]))
    mount = overlay.Mount([linked, base], {})
    result = run(script, mount, env=ENV, now=NOW)
    assert (result.exit_code, result.output) == (k_code, k_out)
    assert comparable(mount.upper) == comparable(k_upper)
    assert len(comparable(k_upper)["<hard links>"]) == 3


# --------------------------------------------------------------------------- random scripts

try:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is in the test extra
    given = None

_PATHS = ["/srv", "/srv/a.txt", "/srv/secret", "/srv/link", "/srv/sub", "/srv/sub/b.bin",
          "/srv/sub/deep", "/srv/sub/deep/c", "/old", "/old/x", "/old/y", "/old/z", "/new",
          "/new/n", "/etc/passwd"]


def _commands():
    p = st.sampled_from(_PATHS)
    return st.one_of(
        st.builds(lambda a: f"mkdir -p {a}", p),
        st.builds(lambda a: f"mkdir {a}", p),
        st.builds(lambda a: f"touch {a}", p),
        st.builds(lambda a, t: f"echo {t} > {a}", p, st.sampled_from(["x", "two words", ""])),
        st.builds(lambda a: f"echo more >> {a}", p),
        st.builds(lambda a: f"rm -f {a}", p),
        st.builds(lambda a: f"rm -rf {a}", p),
        st.builds(lambda a: f"rmdir {a}", p),
        st.builds(lambda a, b: f"mv {a} {b}", p, p),
        st.builds(lambda a, b: f"cp -r {a} {b}", p, p),
        st.builds(lambda a, b: f"cp -a {a} {b}", p, p),
        st.builds(lambda a, b: f"ln -s {a} {b}", p, p),
        st.builds(lambda a, b: f"ln {a} {b}", p, p),
        st.builds(lambda a, m: f"chmod {m} {a}", p, st.sampled_from(["600", "755", "u+x", "go-r"])),
        st.builds(lambda a: f"chown 3:4 {a}", p),
        st.builds(lambda a: f"cat {a}", p),
    )


if given is not None:
    @pytest.mark.kernel
    @settings(max_examples=60, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(script=st.lists(_commands(), min_size=1, max_size=6).map("; ".join))
    def test_random_scripts_match_busybox_on_the_kernel(script, oracle):
        oracle.check(script)


_PRODUCERS = ["cat /etc/passwd", "cat /srv/a.txt /etc/group", "printf 'b 2\\na 10\\nb 2\\n\\nc'",
              "seq 12", "ls /srv /old", "head -c 300 /srv/sub/b.bin | tr -d '\\000'", "printf ''", "find /srv/sub/deep",
              "echo 'x:y:z'", "cat /nope"]
_FILTERS = ["grep a", "grep -v a", "grep -c x", "grep -n o", "grep -i A", "grep -o '[a-z]*'",
            "grep -E '^[0-9]+$'", "grep -w b", "grep -x c", "sed 's/a/A/g'", "sed -n '2,3p'",
            "sed '1d'", "sed 's/\\([a-z]*\\):.*/\\1/'", "sed '$d'", "sort", "sort -r", "sort -n",
            "sort -u", "sort -t: -k3 -n", "uniq", "uniq -c", "cut -d: -f1", "cut -c1-3",
            "tr a-z A-Z", "tr -d '\\n'", "tr -s ' '", "head -n 2", "tail -n 2", "wc -l", "wc -c",
            "xargs echo", "xargs -n 2 echo", "tee /tee-out", "sha256sum", "cat -"]


def _pipelines():
    # a later element's stderr races with the output after it on a real system: kept out
    return st.builds(
        lambda p, fs, tail: " | ".join([p] + [f + " 2>/dev/null" for f in fs]) + tail,
        st.sampled_from(_PRODUCERS),
        st.lists(st.sampled_from(_FILTERS), min_size=1, max_size=3),
        st.sampled_from(["", "; echo rc=$?", " > /out; cat /out", " | while read l; do echo \"<$l>\"; done"]))


if given is not None:
    @pytest.mark.kernel
    @settings(max_examples=50, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(script=_pipelines())
    def test_random_pipelines_match_busybox_on_the_kernel(script, oracle):
        oracle.check(script)


_BRE_PIECES = ["a", "b", ".", "*", "\\+", "\\?", "[ab]", "[^a]", "^", "$", "\\(", "\\)",
               "\\{1,2\\}", "\\|", "\\<", "\\>", "\\w", "x", " ", "\\1", "+", "?", "{",
               "[[:alpha:]]", "\\.", "[]a]"]
_ERE_PIECES = ["a", "b", ".", "*", "+", "?", "[ab]", "[^a]", "^", "$", "(", ")", "{1,2}", "|",
               "\\<", "\\>", "\\w", "x", " ", "\\(", "{", "[[:space:]]"]
_REGEX_TEXT = b"aab\nabab\nbba b\n\nab_ba\nxaax\na+b?\n(a){b}\n[x]|y\n^a$\nbbbb\nab ab"


def _quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


if given is not None:
    @settings(max_examples=100, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(ere=st.booleans(), pieces=st.data())
    def test_random_regexes_match_busybox_grep_and_sed(ere, pieces, lowers, tmp_path):
        """Patterns glibc reads differently from Python's re must raise, never differ."""
        pattern = "".join(pieces.draw(st.lists(st.sampled_from(_ERE_PIECES if ere else _BRE_PIECES),
                                               min_size=1, max_size=5)))
        (tmp_path / "t").write_bytes(_REGEX_TEXT)
        data = dict(lowers[0], t=Node.file(_REGEX_TEXT))
        commands = [["grep"] + (["-E"] if ere else []) + flags + ["-e", pattern]
                    for flags in (["-n"], ["-o"], ["-w", "-c"], ["-x", "-c"], ["-i", "-c"])]
        if not ere:
            commands += [["sed", f"s/{pattern}/[&]/g"], ["sed", "-n", f"s/{pattern}/<\\1>/2p"]]
        for argv in commands:
            real = subprocess.run([str(BUSYBOX), *argv, str(tmp_path / "t")], capture_output=True)
            script = " ".join(_quote(a) for a in argv) + " /t"
            try:
                sim = run(script, overlay.Mount([data, lowers[1]], {}), env=ENV)
            except UnsupportedOperation:
                continue
            expected = (real.stdout + real.stderr).decode(errors="replace")
            assert (sim.exit_code, sim.output) == (real.returncode, expected), script
