"""The EnvctlError hierarchy and envctl's own exit codes.

pytest owns exit codes 0-5 (and a run that pytest finished exits with pytest's code); every code
envctl chooses for itself starts at 10, so a caller can always tell a test result from an
infrastructure problem. The table is documented in docs/exit-codes.md and tested against it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """envctl's own exit codes. 0-5 are pytest's and are passed through unchanged."""

    OK = 0
    USAGE = 10
    CONFIG = 11
    ENGINE_UNAVAILABLE = 12
    COMPOSE_UNAVAILABLE = 13
    COMPOSE_FILE = 14
    ENVIRONMENT_FAILED = 15
    DOCTOR_FAILED = 16
    RUN_NOT_FOUND = 17
    RUN_ACTIVE = 18
    RUN_DAMAGED = 19
    TIMED_OUT = 20
    OOM_KILLED = 21
    CANCELLED = 22
    INFRA_ERROR = 23
    LOST = 24
    WAIT_TIMEOUT = 25
    ENV_BROKEN = 26
    NOTHING_TO_RESUME = 27
    RESUME_REFUSED = 28
    INTERNAL = 70
    INTERRUPTED = 130
    TERMINATED = 143


class EnvctlError(Exception):
    """A failure envctl understands: the message says what failed, why, and what to do."""

    exit_code: ExitCode = ExitCode.INFRA_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        # Every face shows this text (stderr, the job summary and annotations, MCP answers, the
        # crash log): it goes through the one redaction here, where it is made. Lazily: the
        # errors are imported everywhere, the secrets' sources only when an error happens.
        from envctl.log import redact  # noqa: PLC0415

        message = redact(message)
        super().__init__(message)
        self.message = message
        self.hint = redact(hint) if hint else hint

    def __str__(self) -> str:
        return self.message


class UsageError(EnvctlError):
    """A command line that cannot be acted on."""

    exit_code = ExitCode.USAGE


class ConfigError(EnvctlError):
    """A settings file or variable with an unknown key, a bad value, or bad syntax."""

    exit_code = ExitCode.CONFIG


class EngineUnavailableError(EnvctlError):
    """The Docker engine does not answer."""

    exit_code = ExitCode.ENGINE_UNAVAILABLE


class ComposeUnavailableError(EnvctlError):
    """The compose v2 plugin is missing or too old."""

    exit_code = ExitCode.COMPOSE_UNAVAILABLE


class ComposeFileError(EnvctlError):
    """A compose file that compose rejects, or a service name it does not define."""

    exit_code = ExitCode.COMPOSE_FILE


class EnvironmentFailedError(EnvctlError):
    """One or more services did not become ready; ``failures``: (service, cause) of each."""

    exit_code = ExitCode.ENVIRONMENT_FAILED

    def __init__(self, message: str, *, hint: str | None = None,
                 failures: list[tuple[str, str]] | None = None) -> None:
        from envctl.log import redact  # noqa: PLC0415  # as EnvctlError's own text

        super().__init__(message, hint=hint)
        self.failures = [(service, redact(cause)) for service, cause in failures or []]


class DoctorFailedError(EnvctlError):
    """At least one doctor check failed."""

    exit_code = ExitCode.DOCTOR_FAILED


class RunNotFoundError(EnvctlError):
    """No run directory for the given id."""

    exit_code = ExitCode.RUN_NOT_FOUND


class RunActiveError(EnvctlError):
    """The operation needs a finished run."""

    exit_code = ExitCode.RUN_ACTIVE


class DamagedRunError(EnvctlError):
    """A run directory whose record cannot be read as one (truncated, not JSON, not a file)."""

    exit_code = ExitCode.RUN_DAMAGED

    def __init__(self, message: str, *, hint: str | None = None, run_id: str = "",
                 unreadable: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.run_id = run_id
        self.unreadable = unreadable  # the file could not be read now (EIO, EMFILE...): not proof of damage

class DockerError(EnvctlError):
    """A Docker call failed for a reason that is not the engine being down."""

    exit_code = ExitCode.INFRA_ERROR

    def __init__(self, message: str, *, hint: str | None = None, transient: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.transient = transient


class ContainerGoneError(DockerError):
    """The container a call was about has been removed (by envctl's collector, or behind its back)."""


class CancelRequestedError(EnvctlError):
    """A run was stopped on request while its environment or container was being started."""

    exit_code = ExitCode.CANCELLED


class NothingToResumeError(EnvctlError):
    """`test --resume` of a run that finished its tests (it ended by itself, or every test it
    collected reported an outcome)."""

    exit_code = ExitCode.NOTHING_TO_RESUME


class ResumeRefusedError(EnvctlError):
    """`test --resume` that would join results that do not belong together (the code or the
    environment changed: ``--force`` resumes anyway), or of a run whose unfinished tests cannot
    be known."""

    exit_code = ExitCode.RESUME_REFUSED


class WaitTimeoutError(EnvctlError):
    """`envctl wait --timeout` ran out before the run ended (the run goes on)."""

    exit_code = ExitCode.WAIT_TIMEOUT
