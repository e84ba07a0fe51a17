"""Whether the engine a run is placed on sees this machine's project folder: the test service's
bind mounts, envctl's plugin and its exchange folder all name paths here. Asked of the engine
(never guessed from its address: a local socket may lead to a daemon in a mount namespace or VM
of its own), once per engine and collector process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envctl.env.environment import Environment

_SEES: dict[str, bool] = {}  # engine address -> whether it sees the project folder (per process)


def sees_project(env: Environment, run_id: str) -> bool | None:
    """Whether the engine of a run placed on one of several engines sees the project folder
    (None: not placed, or it cannot be told); asked once per engine and process."""
    if env.engine is None or env.engine_name is None:
        return None
    if env.engine not in _SEES:
        seen = _engine_sees(env, run_id)
        if seen is None:
            return None
        _SEES[env.engine] = seen
    return _SEES[env.engine]


def _engine_sees(env: Environment, run_id: str) -> bool | None:
    """Whether the engine sees the project folder; None when it cannot be told (the folder
    takes no file: then the run goes on, as on one engine)."""
    import secrets  # noqa: PLC0415

    from envctl.docker import labels, timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    folder = env.settings.project_dir / ".envctl"
    marker = folder / f"visibility-{secrets.token_hex(8)}"
    try:
        folder.mkdir(exist_ok=True)
        marker.touch(mode=0o600, exist_ok=False)
    except OSError:
        return None
    try:
        with Engine(timeout=timeouts.CALL, host=env.engine) as engine:
            return engine.sees(str(marker), env.image_for(env.settings.test_service), labels={
                **env.tags(), labels.RUN: run_id,
                labels.ROLE: labels.VISIBILITY_ROLE})
    finally:
        marker.unlink(missing_ok=True)
