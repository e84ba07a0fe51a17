"""Removing what crashed runs left: isolated projects older than a given age, and only those.

An isolated project (``--isolated``, shards) carries ``io.envctl.isolated=true`` on every
container, network and volume. It is stale when its newest container is older than the limit
and none of its containers is running a test. A project brought up with plain `envctl up` never
carries the label, so gc never touches a user's long-lived environment, nor anything not envctl's.
"""

from __future__ import annotations

import re
import time

from envctl.docker import labels


def remove_stale_projects(older_than: float, *, timeout: float = 60.0, now: float | None = None,
                          host: str | None = None) -> dict[str, str]:
    """{project: what was removed} for every stale isolated project on the engine at ``host``
    (a DOCKER_HOST value; None: this process's)."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    now = time.time() if now is None else now
    removed: dict[str, str] = {}
    with Engine(timeout=timeout, host=host) as engine:
        by_project = engine.isolated_projects(labels.ISOLATED, labels.PROJECT)
        for project, info in sorted(by_project.items()):
            if info.running_tests or now - info.newest_created < older_than:
                continue
            counts = engine.remove_labelled(f"{labels.PROJECT}={project}", f"{labels.ISOLATED}=true")
            removed[project] = ", ".join(f"{n} {kind}" for kind, n in counts.items())
    return removed


def remove_idle_isolated(base: str, *, timeout: float = 60.0, host: str | None = None,
                         keep: frozenset[str] = frozenset(), checkout: str | None = None) -> list[str]:
    """Remove the isolated projects of the user's project ``base`` (shards, --isolated: named
    after it) on the engine at ``host`` that run no test: what `down` leaves on no engine.
    ``keep``: projects of runs not yet ended, whose exited test container may still hold the
    reports its collector copies out (a shard shipped to an engine that cannot see here).
    ``checkout``: only projects of this checkout (labels.CHECKOUT; one without the label, made
    before it was, counts as this checkout's): another machine's shards of the same project on a
    shared engine are its own to remove."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    ours_pattern = re.compile(rf"{re.escape(base)}-(s[0-9]+|iso)-[0-9a-f]{{6}}")
    removed: list[str] = []
    with Engine(timeout=timeout, host=host) as engine:
        for project, info in sorted(engine.isolated_projects(labels.ISOLATED, labels.PROJECT).items()):
            ours = ours_pattern.fullmatch(project) is not None and \
                (checkout is None or not info.checkouts or checkout in info.checkouts)
            if ours and not info.running_tests and project in keep:
                from envctl.log import get_logger  # noqa: PLC0415  # only when one is kept

                get_logger("envctl.down").warning(
                    "kept a shard's project: its run has not ended (`envctl wait` ends it, then "
                    "`down` removes it)", project=project, engine=host or "default")
            elif ours and not info.running_tests:
                engine.remove_labelled(f"{labels.PROJECT}={project}", f"{labels.ISOLATED}=true")
                removed.append(project)
    return removed
