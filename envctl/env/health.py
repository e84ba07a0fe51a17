"""Readiness of compose services, judged from container states; explanations of failures.

``judge`` is pure: one container's inspected state in, a phase out. ``ReadinessWatch`` keeps the
latest state of every container of the project and says when every wanted service is ready,
when one has certainly failed, and why. The event loop that feeds it lives in ``readiness``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from envctl.docker.models import ContainerState, HealthProbe
from envctl.log import redact

RESTART_LOOP = 3  # restarts after which a crashing service is failed, not "still starting"
# A service without a health check is ready once it has stayed running this long: a process that
# crashes at start is caught as a failure instead of being reported ready a moment before dying.
SETTLE_SECONDS = 1.0
NO_HEALTHCHECK = "running (no health check)"
RESTARTING_POLICIES = ("always", "unless-stopped")


class Phase(str, Enum):
    """Where a service is on its way up."""

    PENDING = "pending"  # no container yet, or created and waiting on its dependencies
    STARTING = "starting"  # running, health check not passed yet (or restarting, below the loop limit)
    READY = "ready"  # healthy, or running without a health check
    COMPLETED = "completed"  # a one-shot service that exited 0
    FAILED = "failed"

    @property
    def done(self) -> bool:
        return self in (Phase.READY, Phase.COMPLETED)


@dataclass(frozen=True)
class Verdict:
    phase: Phase
    detail: str


def judge(state: ContainerState) -> Verdict:  # noqa: PLR0911  # one return per state reads best
    """The phase of one container, from one inspect."""
    if state.oom_killed:
        return Verdict(Phase.FAILED, f"OOM-killed (exit {state.exit_code}): it needs more memory "
                                     "than its mem_limit allows")
    if state.restart_count >= RESTART_LOOP:
        return Verdict(Phase.FAILED, f"restarting in a loop ({state.restart_count} restarts, "
                                     f"last exit code {state.exit_code})")
    if state.status == "restarting":
        return Verdict(Phase.STARTING, f"restarting (restart {state.restart_count}, "
                                       f"last exit code {state.exit_code})")
    if state.status in ("exited", "dead"):
        restarts = state.restart_policy in RESTARTING_POLICIES or (
            state.restart_policy == "on-failure" and state.exit_code != 0)
        if restarts:
            return Verdict(Phase.STARTING, f"exited {state.exit_code}, restart policy "
                                           f"{state.restart_policy} will restart it")
        if state.exit_code == 0:
            return Verdict(Phase.COMPLETED, "completed (exited 0)")
        why = f": {state.error}" if state.error else ""
        return Verdict(Phase.FAILED, f"exited with code {state.exit_code}{why}")
    if state.status == "running":
        if state.health is None:
            return Verdict(Phase.READY, NO_HEALTHCHECK)
        if state.health == "healthy":
            return Verdict(Phase.READY, "healthy")
        if state.health == "unhealthy":
            return Verdict(Phase.FAILED, "unhealthy")
        return Verdict(Phase.STARTING, "health: starting")
    if state.status == "created":
        return Verdict(Phase.PENDING, "created, waiting for its dependencies")
    return Verdict(Phase.STARTING, state.status)


@dataclass
class ServiceReport:
    """What one service came to, with the evidence for a failure."""

    service: str
    phase: Phase
    detail: str
    container: str = ""
    health_log: tuple[HealthProbe, ...] = ()
    log_tail: list[str] = field(default_factory=list)

    def explain(self) -> str:
        lines = [f"{self.service}: {self.detail}" + (f" [{self.container}]" if self.container else "")]
        for probe in self.health_log[-3:]:
            # Redacted before it is cut: a secret across the cut would keep its first characters.
            output = redact(" ".join(probe.output.split()))[:300] or "(no output)"
            lines.append(f"    health check exit {probe.exit_code}: {output}")
        if self.log_tail:
            lines.append(f"    last {len(self.log_tail)} log lines:")
            lines += [f"    | {line}" for line in self.log_tail]
        return "\n".join(lines)


class ReadinessWatch:
    """The latest state of each wanted service, fed with inspected containers."""

    def __init__(self, services: list[str], one_shots: frozenset[str] = frozenset(),
                 clock: Callable[[], float] = time.monotonic, settle: float = SETTLE_SECONDS,
                 gates: dict[str, str] | None = None) -> None:
        # gates: services that are ready only once their `wait` probe passed (what it waits for)
        self.gates = {s: d for s, d in (gates or {}).items() if s in services}
        # Per container: a probe's verdict is about the container it probed, not one compose
        # creates later in its place (a recreate during `up`).
        self.passed: dict[str, str] = {}  # service -> the container whose probe passed
        self.gate_failures: dict[str, tuple[str, str]] = {}  # service -> (container, why)
        # one_shots: services others wait on with service_completed_successfully; running is
        # not ready for them, exiting 0 is.
        self.one_shots = one_shots
        self.services = list(services)
        self.states: dict[str, dict[str, ContainerState]] = {s: {} for s in services}
        self.verdicts: dict[str, Verdict] = {s: Verdict(Phase.PENDING, "not created yet")
                                             for s in services}
        self.clock = clock
        self.settle = settle
        self.running_since: dict[str, float] = {}  # container id -> first seen running

    def update(self, state: ContainerState) -> tuple[str, Verdict] | None:
        """Record ``state``; return (service, verdict) when the service's verdict changed."""
        if state.service not in self.states:
            return None
        self.states[state.service][state.id] = state
        if state.status == "running":
            self.running_since.setdefault(state.id, self.clock())
        else:
            self.running_since.pop(state.id, None)
        return self._reevaluate(state.service)

    def _reevaluate(self, service: str) -> tuple[str, Verdict] | None:
        verdict = self._combine(self.states[service])
        if service in self.one_shots and verdict.phase is Phase.READY:
            verdict = Verdict(Phase.STARTING, "running (one-shot, waiting for it to exit 0)")
        elif self._gate_failed(service) and verdict.phase is not Phase.FAILED:
            verdict = Verdict(Phase.FAILED, self.gate_failures[service][1])
        elif service in self.gates and verdict.phase is Phase.READY and not self._gate_passed(service):
            verdict = Verdict(Phase.STARTING, f"running; waiting for {self.gates[service]}")
        elif service in self.gates and verdict.phase is Phase.READY:
            verdict = Verdict(Phase.READY, f"ready ({self.gates[service]})")
        elif verdict.detail == NO_HEALTHCHECK and self._settling(service):
            verdict = Verdict(Phase.STARTING, f"running; no health check, watching it for "
                                              f"{self.settle:g}s")
        if verdict == self.verdicts[service]:
            return None
        self.verdicts[service] = verdict
        return service, verdict

    def _settling(self, service: str) -> bool:
        now = self.clock()
        return any(now - self.running_since.get(cid, now) < self.settle
                   for cid in self.states[service])

    def next_recheck(self) -> float | None:
        """When a settling service may turn ready with no event (a clock time), or None."""
        pending = [since + self.settle for cid, since in self.running_since.items()
                   if any(cid in states for states in self.states.values())]
        later = [t for t in pending if t > self.clock()]
        return min(later) if later else None

    def recheck(self) -> list[tuple[str, Verdict]]:
        """Re-judge every service from the states already seen (after a settle time passed)."""
        return [c for c in (self._reevaluate(s) for s in self.services) if c is not None]

    def gate(self, service: str, ok: bool, detail: str, container_id: str = "") -> tuple[str, Verdict] | None:
        """The service's `wait` probe of ``container_id`` passed (or failed, saying why)."""
        if service not in self.gates:
            return None
        if ok:
            self.passed[service] = container_id
        else:
            self.gate_failures[service] = (container_id, detail)
        return self._reevaluate(service)

    def _gate_passed(self, service: str) -> bool:
        probed = self.passed.get(service)
        return probed is not None and (not probed or probed in self.states[service])

    def _gate_failed(self, service: str) -> bool:
        probed = self.gate_failures.get(service, (None, ""))[0]
        return probed is not None and (not probed or probed in self.states[service])

    def forget(self, service: str, container_id: str) -> None:
        self.states.get(service, {}).pop(container_id, None)
        self.running_since.pop(container_id, None)

    def vanished(self, service: str) -> tuple[str, Verdict] | None:
        """The service's last container was removed and nothing will recreate it: failed."""
        if self.states.get(service) or self.verdicts[service].phase.done:
            return None
        verdict = Verdict(Phase.FAILED, "its container was removed while starting")
        self.verdicts[service] = verdict
        return service, verdict

    @staticmethod
    def _combine(containers: dict[str, ContainerState]) -> Verdict:
        # A scaled service is as far as its least advanced container; any failure fails it.
        if not containers:
            return Verdict(Phase.PENDING, "no container")
        verdicts = [judge(c) for c in containers.values()]
        order = [Phase.FAILED, Phase.PENDING, Phase.STARTING, Phase.READY, Phase.COMPLETED]
        return min(verdicts, key=lambda v: order.index(v.phase))

    @property
    def all_done(self) -> bool:
        return all(v.phase.done for v in self.verdicts.values())

    @property
    def failed(self) -> list[str]:
        return [s for s, v in self.verdicts.items() if v.phase is Phase.FAILED]

    def not_done(self) -> list[str]:
        return [s for s, v in self.verdicts.items() if not v.phase.done]

    def container_of(self, service: str) -> ContainerState | None:
        containers = list(self.states.get(service, {}).values())
        return containers[0] if containers else None


def explain_failures(reports: list[ServiceReport]) -> str:
    return "\n".join(r.explain() for r in reports)
