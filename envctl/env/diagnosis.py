"""Why an environment did not come up, in words: compose's own failure (a pull, a port, a name)
and the services' failures (their verdict, last health check or log line).

Pure functions of text and reports: the readiness wait gathers the evidence, this module words it.
"""

from __future__ import annotations

import re

from envctl.docker.compose import first_error_line
from envctl.env.health import ServiceReport, explain_failures
from envctl.errors import EnvironmentFailedError
from envctl.log import redact

# compose's own words for a failed pull: " SERVICE Pulling", then " SERVICE Error ..."
PULL_FAILED = re.compile(r"^\s*(\S+) Error\b", re.MULTILINE)
_PULLING = re.compile(r"^\s*(\S+) Pulling\b", re.MULTILINE)
CAUSE_CHARS = 300  # of a health check's output or a log line, in a one-line cause


def compose_failure(output: str, targets: list[str], images: dict[str, str | None] | None = None) -> str:
    """What `compose up` failed on, from its ``output``: a pull (naming each service and its
    image), a host port, an unknown service or image, else its first error line."""
    line = first_error_line(output)
    lowered = line.lower()
    pulled = {m.group(1) for m in _PULLING.finditer(output)}
    failed = [m.group(1) for m in PULL_FAILED.finditer(output) if m.group(1) in pulled]
    if failed:
        named = ", ".join(f"{service} ({(images or {}).get(service) or 'its image'})" for service in failed)
        return f"the image of {named} cannot be pulled: {line}"
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return f"a host port is already in use: {line}"
    if "no such service" in lowered:
        return f"unknown service: {line}"
    if "pull access denied" in lowered or ("not found" in lowered and "image" in lowered):
        return f"an image cannot be found: {line}"
    return f"docker compose up failed for {', '.join(targets)}: {line}"


def compose_hint(output: str) -> str:
    """What to do about a failed `compose up`."""
    lowered = output.lower()
    if "port is already allocated" in lowered or "address already in use" in lowered:
        return "stop what listens on that port, or change the published port in the compose file"
    return "see the message above; `docker compose up` shows the same error"


def cause(report: ServiceReport) -> str:
    """One service's failure for an annotation: what happened, its last health output or log.

    The output is redacted before it is cut: cut first, a secret across the cut would keep its
    first characters, which no later redaction recognises as the secret."""
    said = report.detail
    if report.health_log:
        said += f"; last health check: {redact(report.health_log[-1].output)[:CAUSE_CHARS]}"
    elif report.log_tail:
        said += f"; last log line: {redact(report.log_tail[-1])[:CAUSE_CHARS]}"
    return said


def failure_summary(reports: list[ServiceReport]) -> str:
    """Every failed service and its verdict, on one line."""
    return "; ".join(f"{r.service} {r.detail}" for r in reports)


def environment_failed(reports: list[ServiceReport]) -> EnvironmentFailedError:
    """The error `up` raises when services failed or were not ready in time: a summary line,
    each service explained, and one cause per service for annotations."""
    return EnvironmentFailedError(
        f"the environment did not come up: {failure_summary(reports)}\n{explain_failures(reports)}",
        hint="fix the service named above, or use --keep-on-failure to inspect it",
        failures=[(r.service, cause(r)) for r in reports])
