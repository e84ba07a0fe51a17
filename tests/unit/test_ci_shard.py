"""`--shard auto` reads each CI system's own variables with its own base."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from envctl.ci_shard import resolve_shard
from envctl.errors import UsageError


@pytest.mark.parametrize(("environ", "value", "shard"), [
    ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}, "auto", "1/4"),
    ({"CI_NODE_INDEX": "4", "CI_NODE_TOTAL": "4"}, "auto", "4/4"),
    ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "3"}, "auto", "1/3"),
    ({"BUILDKITE_PARALLEL_JOB": "2", "BUILDKITE_PARALLEL_JOB_COUNT": "3"}, "auto", "3/3"),
    ({"JOB_COMPLETION_INDEX": "5"}, "auto/8", "6/8"),
    ({}, "2/5", "2/5"),
])
def test_each_system_and_its_base(environ: dict[str, str], value: str, shard: str) -> None:
    """GitLab counts from 1, CircleCI, Buildkite and Kubernetes from 0."""
    assert resolve_shard(value, environ) == shard


@pytest.mark.parametrize(("environ", "value", "message"), [
    ({}, "auto", "no CI parallel-job variables are set"),
    ({"JOB_COMPLETION_INDEX": "1"}, "auto", "not a shard"),
    ({"CI_NODE_INDEX": "5", "CI_NODE_TOTAL": "4"}, "auto", "outside 1..4"),
    ({"CIRCLE_NODE_INDEX": "x", "CIRCLE_NODE_TOTAL": "2"}, "auto", "not a shard"),
    ({}, "auto/zero", "must be a number"),
])
def test_clear_errors(environ: dict[str, str], value: str, message: str) -> None:
    """No variables, a bad value or an index past the total: a usage error saying which."""
    with pytest.raises(UsageError, match=message):
        resolve_shard(value, environ)


def test_a_given_total_must_agree_with_the_ci_systems() -> None:
    """auto/N where the CI system says another total: an error, not a silent choice."""
    with pytest.raises(UsageError, match="says the total is 4"):
        resolve_shard("auto/3", {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"})
    assert resolve_shard("auto/4", {"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}) == "1/4"


@pytest.mark.parametrize("text", ["1/1", "2/5", "0/3", "4/3", "x/2", "1/2/3", "", "-1/2"])
def test_the_hosts_shard_rule_is_the_plugins(text: str) -> None:
    """The host's parse_shard (the host imports nothing of the plugin) agrees with the plugin's."""
    from envctl.ci_shard import parse_shard  # noqa: PLC0415
    from envctl.pytest_plugin.envctl_shards import parse_shard as plugin_parse  # noqa: PLC0415

    def outcome(parse: Callable[[str], tuple[int, int]]) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            return str(exc)

    assert outcome(parse_shard) == outcome(plugin_parse)
