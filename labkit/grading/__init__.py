"""Classroom grading: run every submitted notebook in a fresh kernel and collect its checks.

In: a submissions folder, ``<dir>/<student>/*.ipynb`` and ``<dir>/<student>.ipynb``, and the
options of ``run.grade(submissions, engine=, timeout=, workers=, out=, exercises=, kernel=,
progress=)``. Each notebook runs top to bottom with nbclient in its own worker process
(``workers`` at a time) with a per-notebook time limit; its ``check()`` calls log their results
to a fresh grade log (``labkit.exercises.log``, which alone owns that format; hidden checks run
because ``LABKIT_GRADE_LOG`` is set). A notebook that raises keeps the points of the checks it
reached; an endless one is stopped at the limit. Neither stops the batch.

Out: a ``run.GradeReport`` (rows, run outcomes, paths), and in ``out`` (default ``grades/``
beside the submissions): ``grades.csv`` (student, exercise, points, max, status),
``summary.html`` (per exercise and per student), ``students/<student>.html``,
``exercises/<id>.html``, the executed notebooks under ``executed/`` and the logs under
``logs/``.

Statuses: ``passed``, ``partial``, ``failed`` (the check ran), ``missing`` (never checked),
``error`` / ``timeout`` (never checked because the notebook raised / ran out of time). A
failed run also gets one ``(notebook)`` row with its status.

Modules, by job: ``run`` finds the submissions, runs each notebook in a worker process
(``python -m labkit.grading.run``) and drives the batch; ``scores`` turns logged results into
``GradeRow`` s and ``grades.csv``; ``pages`` writes the HTML. Grading imports ``exercises``;
``exercises`` never imports grading.

Submitted notebooks are untrusted code: run the grader in a throwaway VM or container. The
log is written from inside the student's kernel, so a determined student could forge lines;
points are clamped to each exercise's registered maximum, but only an isolated re-check can
make grades tamper-proof.
"""
