"""A test run's life: start it, collect it, take it over, read its state and progress, rotate it.

The source of truth is the Docker engine and the run directory, never a PID file: a run's
container carries its id in a label and stays until its results are safe on disk.
"""
