"""Staff tools that build the course material: ``stubgen`` (solution/ -> assignment/), ``release``
(the student bundle, from an allow-list), ``companion`` (the companion notebook), ``templates/``,
and ``mutants`` (mutation testing of the hidden suites over solution/'s graded regions).

May import: ``grader.grading.results`` (the parts and their points) and this room; ``mutants``
also grades, through ``grader.grading.grade`` and ``grader.sandbox.launcher``.
"""
