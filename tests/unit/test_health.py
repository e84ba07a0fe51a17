"""Readiness verdicts from container states, and the watch over a whole project."""

from __future__ import annotations

from typing import Any

import pytest

from envctl import log
from envctl.docker.models import ContainerState, HealthProbe
from envctl.env.health import RESTART_LOOP, Phase, ReadinessWatch, ServiceReport, judge


def state(service: str = "db", cid: str = "c1", **overrides: Any) -> ContainerState:
    data: dict[str, Any] = {
        "id": cid, "name": f"p-{service}-1", "service": service, "status": "running",
        "exit_code": 0, "oom_killed": False, "health": None, "restart_count": 0, "error": "",
    }
    data.update(overrides)
    return ContainerState(**data)


# Read through functions, so mypy does not carry an assert's narrowing past the next update.
def phase_of(watch: ReadinessWatch, service: str) -> Phase:
    return watch.verdicts[service].phase


def all_done(watch: ReadinessWatch) -> bool:
    return watch.all_done


@pytest.mark.parametrize(("overrides", "phase", "words"), [
    ({"health": "healthy"}, Phase.READY, "healthy"),
    ({}, Phase.READY, "no health check"),
    ({"health": "starting"}, Phase.STARTING, "starting"),
    ({"health": "unhealthy"}, Phase.FAILED, "unhealthy"),
    ({"status": "exited", "exit_code": 0}, Phase.COMPLETED, "exited 0"),
    ({"status": "exited", "exit_code": 1}, Phase.FAILED, "exited with code 1"),
    ({"status": "exited", "exit_code": 137, "oom_killed": True}, Phase.FAILED, "OOM-killed"),
    ({"status": "restarting", "restart_count": 1}, Phase.STARTING, "restarting"),
    ({"status": "running", "restart_count": RESTART_LOOP}, Phase.FAILED, "restarting in a loop"),
    ({"status": "exited", "exit_code": 1, "restart_policy": "always"}, Phase.STARTING, "will restart"),
    ({"status": "exited", "exit_code": 0, "restart_policy": "on-failure"}, Phase.COMPLETED, "exited 0"),
    ({"status": "created"}, Phase.PENDING, "waiting"),
])

def test_judge(overrides: dict[str, Any], phase: Phase, words: str) -> None:
    """Each container state maps to one phase with a reason a person understands."""
    verdict = judge(state(**overrides))
    assert verdict.phase is phase
    assert words in verdict.detail


def test_watch_is_done_when_every_service_is_ready_or_completed() -> None:
    """All wanted services ready or completed: the wait is over."""
    watch = ReadinessWatch(["db", "migrate"])
    assert not all_done(watch)
    watch.update(state("db", health="healthy"))
    assert not all_done(watch)
    watch.update(state("migrate", cid="c2", status="exited"))
    assert all_done(watch)
    assert watch.failed == []


def test_watch_reports_only_changes() -> None:
    """The same verdict twice is not a change (no duplicate progress lines)."""
    watch = ReadinessWatch(["db"])
    assert watch.update(state(health="starting")) is not None
    assert watch.update(state(health="starting")) is None
    assert watch.update(state(health="healthy")) is not None


def test_one_shot_is_not_ready_while_running() -> None:
    """A service others wait on to complete is done when it exits 0, not when it runs."""
    watch = ReadinessWatch(["migrate"], frozenset({"migrate"}))
    watch.update(state("migrate"))
    assert phase_of(watch, "migrate") is Phase.STARTING
    watch.update(state("migrate", status="exited"))
    assert phase_of(watch, "migrate") is Phase.COMPLETED


def test_scaled_service_is_as_far_as_its_slowest_container() -> None:
    """Two replicas: one healthy and one starting means starting; one failed fails it."""
    watch = ReadinessWatch(["web"])
    watch.update(state("web", cid="a", health="healthy"))
    watch.update(state("web", cid="b", health="starting"))
    assert watch.verdicts["web"].phase is Phase.STARTING
    watch.update(state("web", cid="b", health="unhealthy"))
    assert watch.failed == ["web"]


def test_other_services_are_ignored() -> None:
    """Events of services nobody waits for change nothing."""
    watch = ReadinessWatch(["db"])
    assert watch.update(state("other")) is None


def test_report_explains_with_health_output_and_logs() -> None:
    """A failure report shows the last health outputs with exit codes and the log tail."""
    report = ServiceReport("db", Phase.FAILED, "unhealthy", "p-db-1",
                           (HealthProbe(1, "no response"), HealthProbe(2, "refused")), ["line a", "line b"])
    text = report.explain()
    assert "db: unhealthy [p-db-1]" in text
    assert "health check exit 2: refused" in text
    assert "| line b" in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_no_healthcheck_service_settles_before_ready() -> None:
    """Running without a health check is ready only after the settle time, so a crash at
    start is a failure, not a ready service that dies a moment later."""
    clock = FakeClock()
    watch = ReadinessWatch(["plain"], clock=clock, settle=1.0)
    watch.update(state("plain"))
    assert phase_of(watch, "plain") is Phase.STARTING
    assert watch.next_recheck() == 101.0
    clock.now = 101.5
    assert [s for s, _ in watch.recheck()] == ["plain"]
    assert phase_of(watch, "plain") is Phase.READY
    assert watch.next_recheck() is None


def test_crash_during_settle_is_a_failure() -> None:
    """Exit 1 while settling fails the service."""
    clock = FakeClock()
    watch = ReadinessWatch(["plain"], clock=clock, settle=1.0)
    watch.update(state("plain"))
    watch.update(state("plain", status="exited", exit_code=1))
    assert watch.failed == ["plain"]


def test_removed_container_is_pending_then_vanished() -> None:
    """A destroyed container leaves its service pending; once nothing will recreate it, failed."""
    watch = ReadinessWatch(["db"])
    watch.update(state("db", health="starting"))
    watch.forget("db", "c1")
    assert watch.recheck() == [("db", watch.verdicts["db"])]
    assert watch.verdicts["db"].phase is Phase.PENDING
    assert watch.vanished("db") is not None
    assert watch.failed == ["db"]


def test_a_secret_across_the_cut_of_a_health_output_is_masked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """The health output is redacted before it is cut to 300 characters: no prefix is left."""
    monkeypatch.setattr(log, "_secrets", {"hunter2-secret-value"})
    monkeypatch.setattr(log, "_secrets_read", [True])
    report = ServiceReport("db", Phase.FAILED, "unhealthy",
                           health_log=(HealthProbe(1, "x" * 290 + " hunter2-secret-value tail"),))
    assert report.explain().splitlines()[1] == f"    health check exit 1: {'x' * 290} *** tail"
