"""A class: grade many submissions (``batch``, on the slots of ``executors`` or of a Dask
``cluster``), compare them (``similarity``), report on them (``report``, ``stats``).

May import: ``grader.grading``, ``grader.sandbox``, ``grader.reports`` and this room.
"""
