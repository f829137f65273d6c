"""The sandbox: start, confine and stop the processes that run student code.

``launcher`` (the API: ``Launcher``, ``InfraError``), ``limits``, ``handle`` (one running worker),
``zygote`` (the warm interpreter workers fork from), ``supervisor`` and ``confine`` (what a fresh
worker does to itself before it runs student code), ``rootfs``, ``seccomp``, ``landlock``,
``slots``, ``cgroups`` (one memory limit for all of a worker's processes), ``syscalls``.

May import: ``grader.wire`` and this room. It knows nothing of tests, scores or the reference,
and never imports ``solution``, ``grader.grading`` or the worker's code (the zygote imports the
worker by name, from its ``--entry``).
"""
