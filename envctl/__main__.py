"""``python -m envctl``."""

from envctl.entry import run

run()
