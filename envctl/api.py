"""The Python API the CLI is built on: an environment that can also run tests, and runs.

    from envctl.api import Environment, RunRequest
    from envctl.settings import load_settings

    env = Environment(load_settings())
    env.up()                                   # raises EnvironmentFailedError, explained
    run = env.test(RunRequest(pytest_args=("-k", "smoke")), detach=True)
    record = run.wait()                        # record.state, record.exit_code
    env.down(volumes=True)
"""

from __future__ import annotations

from envctl.env import environment
from envctl.runs.launch import RunRequest, start_detached
from envctl.runs.run import Run, RunStatus
from envctl.runs.store import RunStore

__all__ = ["Environment", "Run", "RunRequest", "RunStatus"]


class Environment(environment.Environment):
    """A compose project (``envctl.env.environment``) that also starts test runs."""

    def test(self, request: RunRequest | None = None, *, detach: bool = True) -> Run:
        """Start a test run; with ``detach=False``, wait for its end before returning."""
        run_dir, _record = start_detached(self, request or RunRequest())
        run = Run(RunStore(self.settings.resolved_log_dir), run_dir.name)
        if not detach:
            run.wait()
        return run
