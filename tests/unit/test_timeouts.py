"""The one timeout policy: seconds as the SDK and the engine take them, and the unbounded kind."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import envctl
from envctl.docker import timeouts


@pytest.mark.parametrize(("timeout", "seconds"), [(60.0, 60), (2.4, 2), (2.6, 3), (0.2, 1)])
def test_socket_seconds_are_whole_and_at_least_one(timeout: float, seconds: int) -> None:
    """The SDK takes whole seconds; a fraction below one would mean no wait at all."""
    assert timeouts.socket_seconds(timeout) == seconds


def test_each_unbounded_read_says_what_ends_it() -> None:
    """The reads that go on past the client's deadline each name what ends them."""
    assert "ends with its container" in timeouts.UNTIL_EXIT.why
    assert "closed by its reader" in timeouts.RUN_EVENTS.why


@pytest.mark.parametrize(("timeout", "seconds"), [(2.1, 3), (0.1, 1), (5.0, 5), (None, None)])
def test_wait_seconds_round_up(timeout: float | None, seconds: int | None) -> None:
    """The engine's wait takes whole seconds: rounded up, so it never ends before the deadline."""
    assert timeouts.wait_seconds(timeout) == seconds


def test_no_engine_is_built_with_a_deadline_of_its_own() -> None:
    """Outside envctl/docker/, an Engine's timeout is a name from the policy or a setting,
    never a bare number or a silent None (unbounded without saying why)."""
    package = Path(envctl.__file__).parent
    spelled = re.compile(r"\bEngine\(\s*(timeout\s*=\s*)?(None|\d)")
    found = [f"{path.relative_to(package)}:{number}"
             for path in package.rglob("*.py") if "docker" not in path.relative_to(package).parts[:1]
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if spelled.search(line)]
    assert found == []
