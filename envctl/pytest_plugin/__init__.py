"""Files mounted read-only into the test container at run time (stdlib only, no envctl imports).

- ``envctl_progress.py``: a pytest plugin that writes progress events into the run directory.
- ``envctl_runner.py``: runs the test command under the run's timeout, from inside the container,
  so the timeout holds with no envctl process alive.
"""
