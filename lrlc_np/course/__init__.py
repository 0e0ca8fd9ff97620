"""The course kit: students write the clear tier's functions, check them, and are graded.

    markers   the ``# BEGIN SOLUTION <name>`` / ``# HINT:`` / ``# END SOLUTION`` fences in lrlc_np/ops
    student   ``lrlc course make-student DEST``: a copy with the fenced blocks to write
    exercises the checks behind each exercise (loop definitions, finite differences, identities)
    grader    ``lrlc course grade [PATH]``: one process per exercise, a table and JSON

TEACHING.md (in the source checkout) explains how to run an assignment with it.
"""
