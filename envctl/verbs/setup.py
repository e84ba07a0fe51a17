"""`envctl doctor`, `config` and `init`: the machine, the settings, and a first configuration."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envctl.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from envctl.init import Report
    from envctl.settings import Settings


@dataclass(frozen=True)
class Doctor:
    """The machine's checks, and whether any failed."""

    checks: list[Any]
    failed: bool

    @property
    def exit_code(self) -> int:
        return int(ExitCode.DOCTOR_FAILED if self.failed else ExitCode.OK)


def doctor(settings: Settings) -> Doctor:
    """Check the engine, the compose plugin, the images and the log dir."""
    from envctl.doctor import CheckStatus, run_checks  # noqa: PLC0415

    checks = run_checks(settings)
    return Doctor(checks, any(check.status is CheckStatus.FAIL for check in checks))


def config(settings: Settings) -> dict[str, Any]:
    """The resolved settings and where each came from (envctl/config/1)."""
    from envctl.ui.views import config_view  # noqa: PLC0415

    return config_view(settings)


def init(settings: Settings, *, workflow: bool = False, test_service: bool = False,
         action: str | None = None, k8s: bool = False, shards: int | None = None) -> Report:
    """Write a starting configuration (and the workflow, the Kubernetes Job); never overwrites.
    The settings are loaded first by the caller, so a broken settings file is reported before
    anything is written; so is a bad --shards."""
    from envctl.init import init as write_init  # noqa: PLC0415
    from envctl.init import k8s as kubernetes  # noqa: PLC0415

    if shards is not None and not k8s:
        raise UsageError("--shards is the number of pods of --k8s's Job", hint="add --k8s")
    count = kubernetes.check_shards(kubernetes.DEFAULT_SHARDS if shards is None else shards)
    report = write_init(settings.project_dir, workflow=workflow, test_service=test_service, action=action)
    if k8s:  # last: when init refuses (no test service), nothing is written, the Job included
        report.written.append(kubernetes.write_job(settings.project_dir, count))
    return report
