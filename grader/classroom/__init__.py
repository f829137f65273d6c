"""A class: grade many submissions (``batch``), compare them (``similarity``), report on them
(``report``, ``stats``).

May import: ``grader.grading``, ``grader.sandbox``, ``grader.reports`` and this room.
"""
