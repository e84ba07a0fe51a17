"""Logging: JSON when not a TTY, and secrets never reach a line."""

import io
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_a_line_below_the_level_loads_nothing() -> None:
    """A debug line at the default level is dropped before structlog is imported (~130 ms on
    `envctl test`'s way to `compose run`); -v logs it."""
    script = ("import io, sys\nfrom envctl import log\nstream = io.StringIO()\n"
              "log.configure(log_format='json', verbosity=int(sys.argv[1]), stream=stream)\n"
              "log.get_logger('t').debug('quiet')\n"
              "print('structlog' in sys.modules, 'quiet' in stream.getvalue())\n")
    said = [subprocess.run([sys.executable, "-c", script, verbosity], capture_output=True, text=True,
                           timeout=60, check=True).stdout.split() for verbosity in ("0", "1")]
    assert said == [["False", "False"], ["True", "True"]]


def test_secret_values_are_cut_out_of_every_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret variable's value and a `.env` value never reach a log line, under any key
    (compose's output on a failed start prints them expanded)."""
    monkeypatch.setenv("DB_PASSWORD", "hunter2-hunter2")
    monkeypatch.setenv("HOME_DIR", "not-a-secret-value")
    monkeypatch.setattr(log, "_secrets", set())
    monkeypatch.setattr(log, "_secrets_read", [False])
    (tmp_path / ".env").write_text("# comment\nAPI_URL='https://internal.example:8443'\nX=ab\n")
    log.redact_project([tmp_path / ".env"])
    event = {"event": "the test container did not start",
             "compose_output": "Error: password hunter2-hunter2 for https://internal.example:8443 ab",
             "path": "not-a-secret-value"}
    assert log.redact_values(None, "warning", event) == {
        "event": "the test container did not start",
        "compose_output": "Error: password *** for *** ab", "path": "not-a-secret-value"}


def test_variables_named_in_the_secrets_setting_are_cut_out(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """`secrets = ["DSN"]`: a value no name pattern would catch is masked in logs and records."""
    from envctl.runs import lifecycle  # noqa: PLC0415
    from envctl.runs.state import Limits, RunRecord  # noqa: PLC0415

    monkeypatch.setenv("DSN", "postgres://app:opensesame@db/app")
    monkeypatch.setattr(log, "_secrets", set())
    monkeypatch.setattr(log, "_named", set())
    monkeypatch.setattr(log, "_secrets_read", [False])
    assert log.redact("dsn postgres://app:opensesame@db/app") == "dsn postgres://app:opensesame@db/app"
    log.redact_project([], ["DSN"])
    assert log.redact("dsn postgres://app:opensesame@db/app") == f"dsn {log.MASK}"
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    lifecycle.save(run_dir, RunRecord(id=run_dir.name, project="p", service="test",
                                      command=["pytest", "--dsn=postgres://app:opensesame@db/app"],
                                      limits=Limits(1, 1.0, 1),
                                      message="compose: bad url postgres://app:opensesame@db/app"))
    assert "opensesame" not in (run_dir / "run.json").read_text()
    assert RunRecord.load(run_dir).message == f"compose: bad url {log.MASK}"
    assert RunRecord.load(run_dir).command == ["pytest", f"--dsn={log.MASK}"]


def test_a_command_loses_secrets_not_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A recorded command hides a secret-named variable's value and the `secrets` setting's, but
    not a `.env` value such as APP_ENV=test, which would cut `test` out of every path."""
    from envctl.runs import lifecycle  # noqa: PLC0415
    from envctl.runs.state import Limits, RunRecord  # noqa: PLC0415

    monkeypatch.setenv("API_TOKEN", "tok-123456")
    monkeypatch.setenv("DSN", "postgres://db/app")
    monkeypatch.setattr(log, "_secrets", set())
    monkeypatch.setattr(log, "_named", set())
    monkeypatch.setattr(log, "_secrets_read", [False])
    (tmp_path / ".env").write_text("APP_ENV=test\n")
    log.redact_project([tmp_path / ".env"], ["DSN"])
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    lifecycle.save(run_dir, RunRecord(id=run_dir.name, project="p", service="test", limits=Limits(1, 1.0, 1),
                                      command=["pytest", "tests/test_x.py", "--token=tok-123456",
                                               "--dsn=postgres://db/app"]))
    assert RunRecord.load(run_dir).command == ["pytest", "tests/test_x.py", f"--token={log.MASK}",
                                               f"--dsn={log.MASK}"]


def test_values_are_masked_whole_and_short_ones_only_when_named(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A `.env` value under 6 characters is no secret unless `secrets` names it; a value is masked
    as a whole word, never inside a longer one."""
    monkeypatch.setenv("PIN", "4711")
    monkeypatch.setattr(log, "_secrets", set())
    monkeypatch.setattr(log, "_named", set())
    monkeypatch.setattr(log, "_secrets_read", [True])
    (tmp_path / ".env").write_text("APP_ENV=test\nDB_PASS=s3cret-pw\n")
    log.redact_project([tmp_path / ".env"], ["PIN"])
    assert log.redact("tests/test_app.py failed: pin 4711, user:s3cret-pw@db, s3cret-pwx 47110") == (
        "tests/test_app.py failed: pin ***, user:***@db, s3cret-pwx 47110")


def test_many_secrets_make_one_pattern_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,000 secrets: lines holding different ones are masked by one pattern, compiled once for
    the whole set (not once per set of secrets a line happens to hold)."""
    values = {f"s3cret-{i:04d}-value" for i in range(2000)}
    monkeypatch.setattr(log, "_secrets", set(values))
    monkeypatch.setattr(log, "_secrets_read", [True])
    log._pattern.cache_clear()
    assert log.redact("a s3cret-0001-value b") == "a *** b"
    assert log.redact("x=s3cret-1999-value,y=s3cret-0500-value") == "x=***,y=***"
    assert log.redact("s3cret-0001-valuex s3cret-20000-value") == "s3cret-0001-valuex s3cret-20000-value"
    assert log.redact("nothing here") == "nothing here"
    assert (log._pattern.cache_info().misses, log._pattern.cache_info().currsize) == (1, 1)


def test_one_pattern_masks_as_the_longest_first_alternation_did() -> None:
    """A value inside another, shared prefixes, and a boundary that fails the longer value: the
    same masking as trying each value longest first (checked on 1,000 random cases too)."""
    values = {"secret1", "secret1-long", "secret12", "sec"}
    assert log._mask("a secret1-long b secret1 c secret12 d secret1-longer e secret123 sec.",
                     values) == "a *** b *** c *** d ***-longer e secret123 ***."
    rng = random.Random(3)  # noqa: S311  # test data, not secrets
    for _ in range(1000):
        chosen = {"".join(rng.choices("ab-1", k=rng.randint(1, 6))) for _ in range(rng.randint(1, 8))}
        text = "".join(rng.choices("ab-1 x", k=rng.randint(0, 40)))
        alternation = "|".join(re.escape(v) for v in sorted(chosen, key=len, reverse=True))
        reference = re.sub(rf"(?<![A-Za-z0-9])(?:{alternation})(?![A-Za-z0-9])", log.MASK, text)
        assert log._mask(text, chosen) == reference, (chosen, text)


def test_values_nested_hundreds_deep_still_mask() -> None:
    """a*6 ... a*599 (a prefix tree too deep for the regex compiler) mask like any others."""
    values = {"a" * n for n in range(6, 600)}
    assert log._mask("x " + "a" * 550 + " y " + "a" * 5, values) == "x *** y aaaaa"
