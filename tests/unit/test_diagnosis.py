"""Why an environment did not come up, in words: compose's failures and the services'."""

from __future__ import annotations

import pytest

from envctl import log
from envctl.docker.models import HealthProbe
from envctl.env.diagnosis import (
    PULL_FAILED,
    cause,
    compose_failure,
    compose_hint,
    environment_failed,
    failure_summary,
)
from envctl.env.health import Phase, ServiceReport

DAEMON = "Error response from daemon: "


@pytest.mark.parametrize(("output", "message"), [
    (f"{DAEMON}driver failed: Bind for 0.0.0.0:80 failed: port is already allocated\n",
     "a host port is already in use: driver failed: Bind for 0.0.0.0:80 failed: port is already allocated"),
    (f"{DAEMON}listen tcp 0.0.0.0:80: bind: address already in use\n",
     "a host port is already in use: listen tcp 0.0.0.0:80: bind: address already in use"),
    ("no such service: wbe\n", "unknown service: no such service: wbe"),
    (f"{DAEMON}pull access denied for nope, repository does not exist\n",
     "an image cannot be found: pull access denied for nope, repository does not exist"),
    (f"{DAEMON}image not found: acme/api:2\n", "an image cannot be found: image not found: acme/api:2"),
    (f"{DAEMON}OCI runtime create failed: cgroup busy\n",
     "docker compose up failed for web, db: OCI runtime create failed: cgroup busy"),
])
def test_compose_failures_say_what_kind(output: str, message: str) -> None:
    """A taken port, an unknown service, a missing image; else compose's own first error."""
    assert compose_failure(output, ["web", "db"]) == message


def test_a_failed_pull_names_each_service_and_its_image() -> None:
    """Only services compose said it was pulling count; one with no known image says so."""
    output = (" web Pulling \n db Pulling \n web Error manifest unknown\n db Error denied\n"
              " cache Error unrelated\nError response from daemon: manifest unknown\n")
    assert [m.group(1) for m in PULL_FAILED.finditer(output)] == ["web", "db", "cache"]
    assert compose_failure(output, ["web", "db"], {"web": "acme/web:1", "db": None}) == (
        "the image of web (acme/web:1), db (its image) cannot be pulled: manifest unknown")


def test_the_hint_for_a_taken_port_and_otherwise() -> None:
    """A taken port: free it or change it; anything else: compose shows the same error."""
    assert compose_hint("Bind for 0.0.0.0:80 failed: port is already allocated") == (
        "stop what listens on that port, or change the published port in the compose file")
    assert compose_hint("anything") == "see the message above; `docker compose up` shows the same error"


def test_a_cause_adds_the_last_health_check_else_the_last_log_line() -> None:
    """The health check's output wins over the log; each is cut at 300 characters."""
    report = ServiceReport("db", Phase.FAILED, "unhealthy",
                           health_log=(HealthProbe(1, "old"), HealthProbe(1, "x" * 400)),
                           log_tail=["a log line"])
    assert cause(report) == "unhealthy; last health check: " + "x" * 300
    assert cause(ServiceReport("db", Phase.FAILED, "exited with code 1", log_tail=["boom"])) == (
        "exited with code 1; last log line: boom")
    assert cause(ServiceReport("db", Phase.FAILED, "exited with code 1")) == "exited with code 1"


def test_the_error_for_failed_services() -> None:
    """One summary line, each service explained, a cause per service, what to do."""
    reports = [ServiceReport("db", Phase.FAILED, "unhealthy", container="p-db-1"),
               ServiceReport("api", Phase.FAILED, "exited with code 3", log_tail=["crash"])]
    assert failure_summary(reports) == "db unhealthy; api exited with code 3"
    error = environment_failed(reports)
    assert error.message == (
        "the environment did not come up: db unhealthy; api exited with code 3\n"
        "db: unhealthy [p-db-1]\n"
        "api: exited with code 3\n    last 1 log lines:\n    | crash")
    assert error.failures == [("db", "unhealthy"), ("api", "exited with code 3; last log line: crash")]
    assert error.hint == "fix the service named above, or use --keep-on-failure to inspect it"


def test_a_secret_across_the_cut_is_masked_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret straddling the 300th character of a health check's output or a log line is
    masked before the cut: not even its first 6 characters are left."""
    monkeypatch.setattr(log, "_secrets", {"hunter2-secret-value"})
    monkeypatch.setattr(log, "_secrets_read", [True])
    output = "x" * 290 + " hunter2-secret-value tail"
    for report in (ServiceReport("db", Phase.FAILED, "unhealthy", health_log=(HealthProbe(1, output),)),
                   ServiceReport("db", Phase.FAILED, "exited with code 1", log_tail=[output])):
        said = cause(report)
        assert "hunter" not in said
        assert said.endswith("x" * 290 + " *** tail")
        assert "hunter" not in environment_failed([report]).failures[0][1]
