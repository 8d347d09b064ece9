"""The simulator's small shell: runs the commands the lessons use on an overlay ``Mount``.

Docker runs a shell-form ``RUN`` as ``/bin/sh -c "<script>"``; in labkit's base image that
shell is BusyBox ``ash``. This module interprets the part of that shell the lessons need,
against a ``labkit.fs.overlay.Mount``, so every file operation goes through the overlay model
(copy-up, whiteouts, opaque directories) exactly as the kernel would see it::

    result = run("mkdir -p /app && echo hi > /app/greeting", mount, env={"PATH": "/bin"})
    result.exit_code, result.output        # (0, "")

What is supported
-----------------
Syntax
    lists ``a && b``, ``a || b``, ``a ; b`` and newlines; comments ``# ...``; ``\\``-newline
    continuations; pipelines ``a | b | c`` and ``! a | b`` (each element runs in a subshell
    environment: assignments, ``cd``, ``exit`` and ``return`` do not leak; the status is the
    last element's, or with ``set -o pipefail`` the last failing one's; the elements run one
    after the other, each to its end, the whole stdout of one being the stdin of the next, so
    a writer is never stopped early by ``SIGPIPE`` and an element's stderr comes before what
    later elements print, where the kernel's concurrent processes may interleave them);
    ``{ list; }`` groups and ``( list )`` subshells; ``if/elif/else/fi``, ``for NAME [in
    WORDS]; do ...; done``, ``while``/``until`` loops (at most 100000 rounds), ``break [n]``
    and ``continue [n]`` (no-ops outside a loop, dynamic across function calls, ending only
    the subshell they run in); ``case WORD in [(]PAT|PAT) list ;; ... esac`` (glob patterns,
    quoted parts literal); functions ``name() COMMAND`` with ``$1``.., ``$#``, ``$@``,
    ``return [n]`` and ``local NAME[=VALUE]``, found after the special builtins and before
    the other commands; redirections on any command, compound ones included (``while read l;
    do ...; done < file``, ``{ ...; } > file``), applied in order: ``>``, ``>>``, ``<``,
    ``2>``, ``2>>``, ``2>&1``, ``>&2`` (``/dev/null``, ``/dev/stdout``, ``/dev/stderr``
    understood; a redirected file keeps an offset like an open descriptor, ``>>`` writes at
    its end); here-documents ``<<WORD``, ``<<-WORD`` (leading tabs stripped) and
    ``<<'WORD'``/``<<"WORD"`` (body literal; otherwise ``$``, ``$(...)``, backquotes and
    ``\\`` before ``$ ` \\`` or a newline work as in double quotes).
Expansion
    quoting ``'...'``, ``"..."`` and backslash; ``$(command)`` and backquotes (a subshell
    environment, trailing newlines dropped; a syntax error inside is found when its line is
    parsed); ``$((arithmetic))`` (ash's: 64-bit integers, C operators and precedence,
    ``**``, ``?:``, assignments ``= += ...``, ``++``/``--``, decimal, octal and hex numbers;
    a variable's value is evaluated in turn; errors end the shell); ``$VAR``, ``${VAR}``,
    ``${VAR:-word}``, ``${VAR:+word}``, ``${VAR:=word}``, ``${VAR:?message}`` (and the
    forms without ``:``), ``${#VAR}``, ``${VAR#pat}``, ``${VAR##pat}``, ``${VAR%pat}``,
    ``${VAR%%pat}`` (quoted parts of ``pat`` literal), ``$?``, ``$#``, ``$@``, ``$*``,
    ``$0``..``$9``, ``$$``, ``$-``; field splitting of unquoted expansions (not in
    assignments, redirection targets or the ``case`` word); globs ``*``, ``?``, ``[...]``
    matched against the mount (a pattern that matches nothing stays as written, like sh);
    assignments ``A=1`` and ``A=1 cmd``.
Shell options
    ``set`` with ``-e -u -x`` / ``+e +u +x``, ``-o errexit|nounset|xtrace|pipefail`` and
    ``--`` (new positional parameters); ``sh [-eux] [-o OPT] -c SCRIPT [ARG0 ARGS]`` (``-ec``
    too), ``sh FILE``, ``sh`` reading its script from stdin. ``-e`` is off in conditions, in
    the functions they call and under ``!``; ``-u`` ends the shell with ash's ``parameter not
    set``; ``-x`` traces like ash (``$PS4``, words single-quoted when needed, before the
    command's own redirections).
Commands (BusyBox behaviour and messages)
    ``mkdir [-p] [-m MODE]``, ``rmdir``, ``touch [-c]``, ``echo [-n] [-e]``, ``printf``
    (``%s %d %b %%`` with widths, ``\\n \\t \\\\``; the format is reused for extra arguments),
    ``cat``, ``rm [-r -f -R]``, ``cp [-r -R -a -p -d -f]``, ``mv [-f]``, ``ln [-s] [-f] [-n]``,
    ``chmod [-R]`` (octal or ``u+x,go-w`` style), ``chown [-R] USER[:GROUP]`` (numeric ids, or
    names looked up in the mount's ``/etc/passwd`` and ``/etc/group``),
    ``dd if= of= bs= count=``, ``ls [-1 -a -A -R -d -l -n]`` (``-l``: link counts and
    ``total`` are estimates), ``wc [-l -w -c]``, ``head``/``tail`` (``-n N``, ``-N``,
    ``-c N``, ``tail -n +N``), ``whoami``, ``id -u|-g [-n]``, ``basename``, ``dirname``,
    ``seq [FIRST [INC]] LAST``, ``true``, ``false``, ``:``, ``test`` / ``[`` (``-e -f -d -h -L
    -s -x -r -w -z -n``, ``= != -eq -ne -lt -le -gt -ge``, ``!``), ``cd``, ``pwd``, ``export``,
    ``unset``, ``exit``, ``sleep`` (returns at once), running a ``#!/bin/sh`` script by path,
    ``busybox APPLET ...``, ``busybox --install [-s] DIR`` (applet names read from the
    BusyBox binary in the mount), any applet by path (``/bin/mkdir``) when that path leads
    to BusyBox; the builtins ``read [-r] [NAME...]`` (IFS splitting, backslash
    continuation), ``command -v NAME`` and ``command CMD ...`` (skips functions);
    ``which [-a] NAME...``. The commands that read input (``cat``, ``wc``, ``head``,
    ``tail`` and the text applets) read stdin with no file or ``-``.
Text applets (files or stdin; BusyBox 1.35 behaviour and messages)
    ``grep``/``egrep``/``fgrep`` (``-v -i -c -q -n -l -L -h -H -s -m N -e -f -E -F -x -w
    -o``, ``-r``/``-R`` on directories), ``sort`` (``-r -n -u -f -o FILE -t C -k
    N[,M][nfr]``; a key's own flags replace the global ones; ``-n`` reads numbers as strtod
    does, hexadecimal included), ``uniq [-c -d -u -i] [IN [OUT]]``, ``tr [-c -d -s] SET1
    [SET2]`` (ranges, ``\\n``-style and octal escapes, ``[:upper:]``-style classes), ``cut
    -b|-c|-f LIST [-d C] [-s]``, ``tee [-a]``, ``sed`` (``-n -e -E/-r -i[SUFFIX]``;
    commands ``s/re/rep/`` with flags ``g p N I``, ``d``, ``p``, ``q [CODE]``; addresses
    ``N``, ``$``, ``/re/``, ``A,B`` ranges and ``!``; ``//`` reuses the last regex; ``-i``
    writes a new file and renames it over the old one, as BusyBox does),
    ``md5sum``/``sha1sum``/``sha256sum``/``sha512sum`` (and ``-c`` with ``-s -w``),
    ``xargs [-n N] [-I STR] [-r] [-t] [-0]``, ``find [PATH...]`` with ``!``, ``-name -iname
    -path -type f|d|l -maxdepth -mindepth -print -exec CMD {} ;`` and ``{} +`` (and
    ``-delete`` when the BusyBox binary in the image has it: it is a build option), ``env
    [-i] [-u NAME] [NAME=VALUE...] COMMAND``. Regular expressions are POSIX BRE/ERE
    (glibc's, C locale, GNU escapes ``\\w \\s \\b \\< \\>`` and BRE ``\\+ \\? \\|``) translated to
    Python's ``re``; a pattern glibc refuses is BusyBox's ``bad regex`` error. Usage errors
    print BusyBox's own usage text, read from the binary in the image (``busybox_usage``).

Faithful details
    ``mv`` of a directory that lives in a lower layer fails with ``EXDEV`` on overlayfs (Docker
    leaves ``redirect_dir`` off), so BusyBox falls back to copy + delete; this shell does the
    same, which leaves a whiteout plus a full copy in the upper, as Docker's layer shows.
    New files get mode ``0666 & ~022``, directories ``0777 & ~022`` (Docker's umask ``022``);
    ``cp`` without ``-p`` keeps the source mode minus the umask; ``touch`` of an existing
    lower file changes its mtime, which copies it up. Output is stdout and stderr
    interleaved, as ``docker build`` shows it (BusyBox flushes stdout before each message).

Determinism
    ``dd if=/dev/urandom`` cannot produce the kernel's random bytes. It writes a
    deterministic stream instead: SHA-256 in counter mode over ``"labkit-urandom:" + of=
    path``, block ``i`` = ``sha256(seed + i.to_bytes(8, "big"))``. Sizes match Docker; the
    content cannot. ``touch`` and writes use ``now`` (default: the current time).
    ``find`` and ``grep -r`` visit directory entries sorted by name; the kernel lists them in
    readdir order, which depends on the filesystem (pipe through ``sort`` for a stable order).

Not supported (raises ``labkit.errors.UnsupportedOperation`` naming it, never a silent
no-op): background ``&``, the ``function`` and ``select`` keywords, here-document
delimiters containing ``$`` or backquotes, here-documents on a descriptor other than 0,
``&>``, ``<&``, ``set`` without arguments and ash options other than the four above,
``sh -s/-i/-l``, and every program not listed above that exists in the image (``od``,
``apk``, ...). Within the listed commands, options and forms not listed raise too
(``grep -A``, ``sort -s``, ``sed y``/``a``/``i``/``N``..., ``find -o``/``-newer``...,
``env`` printing the environment: ash's export order is not modelled). Where glibc's regex
reading is not reproduced faithfully, the pattern raises rather than guess: alternation
(``|``) in ``sed s`` and ``grep -o`` (POSIX takes the longest alternative, Python's ``re``
the first), quantifiers with nothing to repeat, empty alternatives, an unmatched ``)`` in
an ERE, ``grep -w`` with a pattern that matches the empty string. Input holding NUL bytes
raises for ``sort``, ``uniq``, ``cut``, ``sed``, ``xargs`` (without ``-0``) and ``read``
(BusyBox reads their lines as C strings). A name found nowhere in the image prints
``/bin/sh: NAME: not found`` and exits 127, as BusyBox does.

Package layout (one module per phase; the interpreter never imports the commands)
    ``syntax`` (lexer, syntax tree, parser), ``arith`` (``$((...))``), ``streams`` (file
    descriptors, reading input), ``interp`` (``_Shell``: expansion, redirections, control
    flow, command lookup; given the command tables), ``builtins`` (the shell's own
    commands), ``applets/`` (``files``, ``text``, ``sed``, ``find``, ``system``), ``regex``
    (POSIX BRE/ERE to Python), ``usage`` (option parsing, BusyBox's applet list and usage
    texts), ``base`` (refusals, errors, control-flow exceptions), ``commands`` (the tables
    ``{name: function}``), ``main`` (``run`` and ``run_argv``, which pass the tables in).
"""
from .base import UMASK
from .commands import SUPPORTED_COMMANDS
from .main import ShellResult, run, run_argv
from .usage import busybox_applets, busybox_usage

__all__ = ["ShellResult", "run", "run_argv", "SUPPORTED_COMMANDS", "UMASK", "busybox_applets",
           "busybox_usage"]
