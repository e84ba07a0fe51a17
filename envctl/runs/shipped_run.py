"""The start of a run whose engine cannot see this machine's folders: the engine is asked
(runs/visibility.py) and, when it does not see the project, the test container's folders are
shipped there (runs/shipping.py) and the run records how much and how long."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from envctl.docker import labels
from envctl.errors import EnvironmentFailedError
from envctl.runs import lifecycle
from envctl.runs.collector_log import say
from envctl.runs.container import IN_CONTAINER_INPUT, IN_CONTAINER_PLUGIN, PLUGIN_DIR
from envctl.runs.exchange import INPUT_DIR
from envctl.runs.state import RunRecord
from envctl.runs.visibility import sees_project

if TYPE_CHECKING:
    from envctl.docker.models import ServiceSpec
    from envctl.env.environment import Environment
    from envctl.runs.shipping import Shipped


def refuse_other_binds(env: Environment, test_service: str) -> None:
    """On an engine that cannot see this machine, another service's bind mount would come up as
    an empty folder the engine makes (a database started uninitialised: a failure that reads as
    the tests'): refused, naming it."""
    for name, spec in sorted(env.config().services.items()):
        if name != test_service and spec.binds:
            source, target = spec.binds[0]
            raise EnvironmentFailedError(
                f"service {name} binds {source} ({target}): engine {env.engine_name} cannot see this "
                "machine's folders, and envctl ships only the test service's",
                hint="leave that engine out of engines, or give the service its files in its image")


def ship_if_blind(env: Environment, record: RunRecord, run_dir: Path,
                  spec: ServiceSpec | None) -> Shipped | None:
    """None when the run's engine sees the project (or the run is on this process's engine);
    else what was shipped there, recorded in the run."""
    if spec is None or sees_project(env, record.id) is not False:
        return None
    # Only a blind engine's run needs it (tarfile, tempfile, random: ~7 ms of every start before).
    from envctl.runs.shipping import Shipment, ship, shipments  # noqa: PLC0415

    settings = env.settings
    wanted = shipments(settings.project_dir, settings.resolved_log_dir, spec.binds, spec.writable_binds,
                       extra=[Shipment(PLUGIN_DIR, IN_CONTAINER_PLUGIN, read_only=True),
                              Shipment(run_dir / INPUT_DIR, IN_CONTAINER_INPUT, read_only=True)])
    # The project's labels (an isolated shard's: removed with it, by down and gc too) and the
    # run's, as its container has: whatever happens after, something that cleans finds them.
    tags = {**env.tags(), labels.RUN: record.id,
            labels.ROLE: labels.TEST_RUN_ROLE}
    refuse_other_binds(env, record.service)
    shipped = ship(wanted, host=env.engine, image=env.image_for(record.service), run_labels=tags,
                   run_id=record.id)
    say(f"collector {record.id}: shipped {len(wanted)} folders ({shipped.bytes} bytes) to engine "
        f"{env.engine_name}, which does not see this machine's, in {shipped.seconds:.2f}s")
    lifecycle.mark_shipped(run_dir, shipped.bytes, shipped.seconds)
    return shipped
