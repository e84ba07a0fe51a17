"""envctl: run a test suite inside a Docker Compose environment."""

__version__ = "0.1.0"
