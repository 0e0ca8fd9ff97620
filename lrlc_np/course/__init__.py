"""The course kit: students write the clear tier's functions, and are graded. Graded code is untrusted.

    markers     the ``# BEGIN SOLUTION <name>`` / ``# HINT:`` / ``# END SOLUTION`` fences in lrlc_np/ops
    catalogue   the exercises: points, files, hints, and which exercises each one calls
    student     ``lrlc course make-student DEST``: a copy with the fenced blocks to write
    handout     the copy's record of what was handed out (``lrlc-handout.json``)
    grader      ``lrlc course grade [PATH]``: every exercise alone, verdicts computed here
    checks      the cases, the oracles and the verdicts of each exercise (grader side)
    package     the fresh package a graded process imports (the student's files, solutions put back)
    sandbox     the graded process: limits, environment, bubblewrap; ``supervise.py`` and
                ``runner.py`` are the two scripts it runs (they import nothing of lrlc_np)
    classroom   ``lrlc course grade-all``: a class into a CSV, resumable
    gradescope  ``lrlc course autograder``: the zip for Gradescope

TEACHING.md (in the source checkout) explains how to run an assignment with it.
"""
