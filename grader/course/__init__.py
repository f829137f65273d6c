"""Staff tools that build the course material: ``stubgen`` (solution/ -> assignment/), ``release``
(the student bundle, from an allow-list), ``companion`` (the companion notebook), ``templates/``.

May import: ``grader.grading.results`` (the parts and their points) and this room.
"""
