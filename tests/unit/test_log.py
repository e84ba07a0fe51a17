"""Logging: JSON when not a TTY, and secrets never reach a line."""

import io
import json

from envctl import log


def test_json_lines_when_not_a_tty() -> None:
    """A non-TTY stream gets one JSON object per line, with level and timestamp."""
    stream = io.StringIO()
    log.configure(log_format="auto", stream=stream)
    log.get_logger("t").info("hello", service="db")
    record = json.loads(stream.getvalue().splitlines()[-1])
    assert record["event"] == "hello"
    assert record["service"] == "db"
    assert record["level"] == "info"
    assert "timestamp" in record


def test_secret_looking_keys_are_masked() -> None:
    """password=, token=, api_key= values are replaced before rendering."""
    stream = io.StringIO()
    log.configure(log_format="json", stream=stream)
    log.get_logger("t").info("login", password="hunter2", api_key="k", user="me")
    text = stream.getvalue()
    assert "hunter2" not in text
    assert '"user": "me"' in text


def test_quiet_drops_info() -> None:
    """-q keeps warnings and drops info lines."""
    stream = io.StringIO()
    log.configure(log_format="json", verbosity=-1, stream=stream)
    logger = log.get_logger("t")
    logger.info("hidden")
    logger.warning("shown")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()
