"""Where TAs already grade: ``nbgrader`` (course folders and gradebook), ``ci/`` (the CI templates
that the release bundle carries, and the staff's hidden-grading workflow).

May import: ``grader.grading``, ``grader.classroom``, ``grader.reports``, ``grader.course``.
"""
