"""`envctl test --shards N --retry-infra`: a shard the infrastructure ended (infra-error, lost:
an engine stopped, an SSH connection dropped) runs once more, on an engine that answers, another
than the one it ended on when there is one. The new shard takes the old one's place in the
parent; the parent's message says which shard ran again, where, and why.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

from envctl.runs import lifecycle, reachable
from envctl.runs.placement import EnginePlace
from envctl.runs.state import RunRecord
from envctl.runs.store import START_FILE

RETRY_KEY = "retry_infra"  # in the parent's start.json: whether its shards may run again
ENGINES_KEY = "engines"  # in the parent's start.json: where its shards may go, [name, host, cpus]


GRACE_KEY = "engine_loss_grace"  # in the parent's start.json: the setting, for its collector


def start_settings(retry: bool, engines: list[EnginePlace] | None, grace: float) -> dict[str, object]:
    """What the parent's start.json keeps for its collector: whether and where a shard lost
    with its engine runs again, and how long an engine may not answer (``parent``)."""
    return {RETRY_KEY: retry, ENGINES_KEY: [[e.name, e.host, e.cpus] for e in engines or []],
            GRACE_KEY: grace}


def _parent_start(parent_dir: Path) -> tuple[bool, list[EnginePlace]]:
    try:
        data = json.loads((parent_dir / START_FILE).read_text(encoding="utf-8"))
        engines = [EnginePlace(str(name), str(host), int(cpus))
                   for name, host, cpus in data.get(ENGINES_KEY) or []]
        return data.get(RETRY_KEY) is True, engines
    except (OSError, ValueError, TypeError, AttributeError):
        return False, []


def pick_engine(engines: list[EnginePlace], lost_on: str | None,
                answers: Callable[[str], bool]) -> EnginePlace | None:
    """An engine that answers for a shard that ended on ``lost_on``: another one first."""
    for engine in sorted(engines, key=lambda e: e.host == lost_on):
        if answers(engine.host):
            return engine
    return None


def retry_shard(parent_dir: Path, child: RunRecord) -> Path | None:
    """Start ``child``'s shard again as a new shard run of the parent (its collector started by
    the caller); its folder, or None when the parent does not retry or no engine answers."""
    from envctl.env.environment import Environment  # noqa: PLC0415
    from envctl.runs.launch import environment_from_file, prepare_run  # noqa: PLC0415

    wanted, engines = _parent_start(parent_dir)
    if not wanted:
        return None
    target = pick_engine(engines, child.engine, reachable.answers) if engines else None
    if engines and target is None:
        return None
    try:
        env, request = environment_from_file(parent_dir.parent / child.id)
    except (OSError, ValueError, KeyError, TypeError):  # its start file is gone or damaged
        return None
    k = (child.shard or "1/1").split("/", 1)[0]
    token = secrets.token_hex(3)
    again = Environment(env.settings, project=f"{env.base_project}-s{k}-{token}", isolated_for=token,
                        engine=target.host if target else env.engine,
                        engine_name=target.name if target else env.engine_name)
    new_dir, new = prepare_run(again, request)
    lifecycle.replace_child(parent_dir, child.id, new.id)
    return new_dir
