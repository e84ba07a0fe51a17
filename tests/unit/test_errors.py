"""Exit codes: envctl's own never collide with pytest's, and each is documented."""

import re
from pathlib import Path

import pytest

from envctl.errors import EnvctlError, ExitCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "exit-codes.md"


def test_envctl_codes_never_collide_with_pytest() -> None:
    """pytest owns 0-5; every envctl code but OK is outside that range."""
    for code in ExitCode:
        if code is not ExitCode.OK:
            assert code.value > 5, code


def test_every_error_kind_has_a_distinct_meaningful_code() -> None:
    """Each EnvctlError subclass maps to a code of its own."""
    kinds = EnvctlError.__subclasses__()
    codes = [k.exit_code for k in kinds]
    assert len(kinds) >= 10
    assert all(c.value >= 10 for c in codes)


def test_every_code_is_in_the_documentation() -> None:
    """docs/exit-codes.md lists every code with its name."""
    text = DOC.read_text(encoding="utf-8")
    for code in ExitCode:
        assert re.search(rf"\|\s*{code.value}\s*\|\s*`{code.name}`", text), code


def test_error_carries_hint() -> None:
    """An error says what to do next, apart from what failed."""
    error = EnvctlError("the engine is down", hint="start it")
    assert str(error) == "the engine is down"
    assert error.hint == "start it"


def test_every_error_text_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed start's message, hint and per-service causes lose the secrets compose quoted."""
    from envctl import log  # noqa: PLC0415
    from envctl.errors import EnvironmentFailedError  # noqa: PLC0415

    monkeypatch.setattr(log, "_secrets", {"hunter2-hunter2"})
    monkeypatch.setattr(log, "_secrets_read", [True])
    error = EnvironmentFailedError("db: password hunter2-hunter2 refused", hint="check hunter2-hunter2",
                                   failures=[("db", "exited 1: FATAL hunter2-hunter2")])
    assert (str(error), error.hint, error.failures, error.args) == (
        "db: password *** refused", "check ***", [("db", "exited 1: FATAL ***")],
        ("db: password *** refused",))
