"""`envctl up` on a terminal: a live table of the services while they come up (on a TTY), the
ready line, and on GitHub Actions a failure annotated on the run and in its summary."""

from __future__ import annotations

import sys

from envctl.errors import EnvironmentFailedError
from envctl.settings import Settings
from envctl.ui import environ
from envctl.verbs import env as env_verbs


def bring_up(settings: Settings, options: env_verbs.UpOptions, *, isolated: bool = False) -> int:
    """Bring the services up, showing it; the exit code (failures raise)."""
    env = env_verbs.environment(settings, isolated=isolated)
    try:
        if environ.stderr_is_terminal():
            from envctl.ui.render import LiveServices  # noqa: PLC0415

            with LiveServices(env.targets(list(options.services))) as live:
                reports = env_verbs.up(env, options, on_progress=live)
        else:
            reports = env_verbs.up(env, options)
    except EnvironmentFailedError as exc:
        if environ.github_actions():  # annotated on the run and in its summary
            from envctl.ui.ci import annotate_failed_up  # noqa: PLC0415

            annotate_failed_up(exc, environ.step_summary(), sys.stdout.buffer)
        raise
    print(f"envctl: ready: {env_verbs.ready_line(reports)}", file=sys.stderr)
    if isolated:
        print(f"envctl: isolated project {env.project}; use ENVCTL_PROJECT_NAME={env.project} "
              "with later commands, and `envctl down` (or `envctl gc --older-than`) to remove it",
              file=sys.stderr)
        print(env.project)
    return 0
