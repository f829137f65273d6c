"""Where TAs already grade: ``nbgrader`` (course folders and gradebook) with ``nbgrader_plugins``
(the classes nbgrader's own commands load from the course's config), ``gradescope`` (the
``autograder.zip`` and its runner), ``ci/`` (the CI templates that the release bundle carries, and
the staff's hidden-grading workflow).

May import: ``grader.grading``, ``grader.classroom``, ``grader.reports``, ``grader.course``, and
``grader.sandbox``'s ``Launcher`` (the Gradescope runner grades one submission as ``grader grade`` does).
"""
