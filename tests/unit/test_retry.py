"""Named retry policies retry transient Docker failures only, bounded, without real sleeps."""

import pytest

from envctl.errors import ConfigError, DockerError
from envctl.retry import DOCKER_CALL, RetryPolicy, is_transient


def test_transient_failures_are_retried_until_success() -> None:
    """A reset connection twice, then success: three calls, two (fake) sleeps."""
    calls: list[int] = []
    sleeps: list[float] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise DockerError("read: connection reset by peer")
        return "ok"

    assert DOCKER_CALL.call(flaky, sleep=sleeps.append) == "ok"
    assert len(calls) == 3
    assert len(sleeps) == 2


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    """After the policy's attempts the original error comes out, not a RetryError."""
    policy = RetryPolicy("t", attempts=3, max_seconds=100, first_wait=0.1, max_wait=1)
    calls: list[int] = []

    def always() -> None:
        calls.append(1)
        raise DockerError("server error", transient=True)

    with pytest.raises(DockerError, match="server error"):
        policy.call(always, sleep=lambda _s: None)
    assert len(calls) == 3


def test_permanent_failures_are_not_retried() -> None:
    """A bad compose file or config error fails at once."""
    calls: list[int] = []

    def bad() -> None:
        calls.append(1)
        raise DockerError("no such service: x")

    with pytest.raises(DockerError):
        DOCKER_CALL.call(bad, sleep=lambda _s: pytest.fail("slept"))
    assert len(calls) == 1


@pytest.mark.parametrize(("error", "transient"), [
    (DockerError("context deadline exceeded"), True),
    (DockerError("500 Server Error: Internal Server Error"), True),
    (DockerError("x", transient=True), True),
    (DockerError("pull access denied"), False),
    (ConfigError("context deadline exceeded"), False),
    (ValueError("connection reset"), False),
])
def test_is_transient(error: Exception, transient: bool) -> None:
    """Only Docker errors with a transient cause count."""
    assert is_transient(error) is transient
