"""The only code of ours that runs beside student code, inside a confined worker.

``serve`` answers the grader's requests (import the student package, build objects, call them,
send results back); ``scaffold`` holds the small models that tests hand to student code, built the
same way on both sides and answering no graded question.

May import: ``torch``, ``safetensors`` (through ``grader.wire``), ``grader.wire`` and this room;
never ``solution``, ``grader.grading`` (hidden suites, reference, stand-ins) or anything else of
``grader``. A test of the import graph enforces it.
"""
