"""The trusted side of grading one submission: it never runs student code in its own process.

``submission`` (read and copy a submission), ``grade`` (run the hidden suites against it),
``proxy`` (the ``student`` object that forwards calls to a worker), ``compare`` (check results,
write the failure messages), ``scoring`` (the pytest plugin that turns tests into results),
``seeding``, ``static`` (source checks), ``results`` (the one result model), ``trusted``
(the grader's versions of graded functions, answering the worker's stand-ins), ``check`` (the public self-check), ``hidden/`` (the suites).

May import: ``solution``, ``grader.sandbox``, ``grader.wire``, ``grader.worker.scaffold`` (to build
the same scaffold models as the worker) and this room.
"""
