"""The BusyBox applets the simulator's shell runs, one module per kind of work: ``files``
(file and directory commands), ``text`` (printing and filtering text), ``sed``, ``find``
(with ``xargs`` and ``env``, which run other programs) and ``system`` (``sleep``, ``whoami``,
``id``, ``busybox``). Each applet is a function ``(sh, argv, io) -> exit status``; the
tables that name them are in ``labkit.sim.shell.commands``.
"""
