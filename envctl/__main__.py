"""``python -m envctl``."""

from envctl.cli import run

run()
