"""What an Environment does around the engine, with fakes for the engine and compose: naming,
targets, the cached configuration, the label override, and up/ensure_up/down/ps's steps."""

from __future__ import annotations

import copy
import json
import re
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from envctl.docker import labels
from envctl.docker.compose import Compose, ComposeCommandError
from envctl.env import environment as environment_module
from envctl.env.environment import Environment, ServiceStatus
from envctl.env.health import Phase, ServiceReport
from envctl.env.probes import ProbeResult
from envctl.errors import ComposeFileError, ConfigError, EnvironmentFailedError
from envctl.settings import ServiceWait, Settings, load_settings
from tests.unit.fake_engine import FakeProjectEngine
from tests.unit.test_readiness import FakeProcess, svc

CONFIG: dict[str, Any] = {
    "name": "Shop",
    "services": {
        "db": {"image": "postgres:16", "healthcheck": {"test": ["CMD", "pg_isready"]}},
        "migrate": {"build": {"context": "."}, "depends_on": {"db": {"condition": "service_healthy"}}},
        "api": {"build": {"context": "."}, "ports": [{"published": "8080", "target": 80}],
                "depends_on": {"migrate": {"condition": "service_completed_successfully"}}},
        "test": {"build": ".", "depends_on": {"api": {"condition": "service_started"}}},
        "tools": {"image": "busybox", "profiles": ["debug"]},
    },
    "networks": {"default": {}, "outside": {"external": True}},
    "volumes": {"data": {}},
}


class Project:
    """A checkout with a compose file whose `compose config` is CONFIG (read through a fake)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.config: dict[str, Any] = copy.deepcopy(CONFIG)
        self.reads = 0
        self.compose_calls: list[tuple[str, Any]] = []
        (root / "compose.yaml").write_text("services: {}\n")
        monkeypatch.setenv("XDG_STATE_HOME", str(root / "state"))
        # Compose's methods, each calling this project's (a bound method set on a class is not
        # bound again to the Compose it is called on).
        monkeypatch.setattr(Compose, "config_json", lambda _compose: self.config_json())
        monkeypatch.setattr(Compose, "down", lambda _compose, **kw: self.down(**kw))
        monkeypatch.setattr(Compose, "build", lambda _compose, services, **kw: self.build(services, **kw))
        monkeypatch.setattr(Compose, "start_up",
                            lambda _compose, services, **kw: self.start_up(services, **kw))
        self.engine = FakeProjectEngine()
        monkeypatch.setattr("envctl.docker.engine.Engine", self.engine)
        # No local socket: a look at the containers goes to the engine above, never to a real one.
        monkeypatch.setattr("envctl.docker.cli_config.local_socket", lambda env=None: None)
        self.missing: list[str] = []
        monkeypatch.setattr("envctl.docker.engine.missing_images", self.missing_images)

    def settings(self, environ: dict[str, str] | None = None) -> Settings:
        # A short health timeout: a broken fake fails the test in seconds, not minutes.
        return load_settings(self.root, environ={"ENVCTL_HEALTH_TIMEOUT": "10", **(environ or {})})

    def config_json(self) -> dict[str, Any]:
        self.reads += 1
        return copy.deepcopy(self.config)

    def down(self, *, volumes: bool = False, deadline: float | None = None) -> None:
        self.compose_calls.append(("down", volumes))

    def build(self, services: Sequence[str], *, deadline: float,
              cancelled: Callable[[], bool] = lambda: False) -> None:
        self.compose_calls.append(("build", list(services)))

    def start_up(self, services: Sequence[str], *, output: IO[bytes],
                 deadline: float) -> FakeProcess:
        self.compose_calls.append(("up", list(services)))
        return FakeProcess(0)

    def missing_images(self, names: list[str], *, timeout: float = 30.0,
                       host: str | None = None) -> list[str]:
        return [n for n in names if n in self.missing]


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return Project(tmp_path, monkeypatch)


def test_the_project_is_named_as_compose_names_it(shop: Project) -> None:
    """The configuration's name (normalized); the setting wins; an isolated copy is named after it."""
    assert Environment(shop.settings()).project == "shop"
    assert Environment(shop.settings({"ENVCTL_PROJECT_NAME": "mine"})).project == "mine"
    isolated = Environment.isolated(shop.settings())
    assert re.fullmatch(r"shop-iso-[0-9a-f]{6}", isolated.project)
    assert isolated.project == f"shop-iso-{isolated.isolated_for}"
    assert isolated.base_project == "shop"


def test_a_project_with_no_name_is_named_after_its_folder(shop: Project) -> None:
    """No `name:` in the configuration: the compose file's folder."""
    shop.config["name"] = ""
    assert Environment(shop.settings()).compose_project_name() == re.sub(r"[^a-z0-9_-]", "",
                                                                         shop.root.name.lower())


def test_targets_are_the_services_and_their_dependencies(shop: Project) -> None:
    """Default: every active service but the test one, in the files' order; a named one brings
    what it depends on; an unknown one is refused with the names there are."""
    env = Environment(shop.settings())
    assert env.targets() == ["db", "migrate", "api"]
    assert env.targets(["api"]) == ["db", "migrate", "api"]
    assert env.targets(["migrate"]) == ["db", "migrate"]
    with pytest.raises(ComposeFileError, match="no such service: web") as caught:
        env.targets(["web"])
    assert caught.value.hint == "services in the compose files: api, db, migrate, test, tools"


def test_images_are_the_services_own_or_the_projects_build(shop: Project) -> None:
    """An `image:` is used as is; a build is named after the project, an isolated copy's after
    the base project (so its shards share one image)."""
    env = Environment(shop.settings())
    assert (env.image_for("db"), env.image_for("api")) == ("postgres:16", "shop-api")
    assert Environment.isolated(shop.settings()).image_for("api") == "shop-api"


def test_the_configuration_is_read_once_per_change_of_its_files(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cached on disk: a second Environment reads nothing; a changed compose file, `.env` or
    interpolated variable is read again."""
    Environment(shop.settings())
    Environment(shop.settings())
    assert shop.reads == 1
    (shop.root / "compose.yaml").write_text("services: {db: {image: postgres:17}}\n")
    Environment(shop.settings())
    assert shop.reads == 2
    (shop.root / ".env").write_text("TAG=1\n")
    Environment(shop.settings())
    assert shop.reads == 3
    (shop.root / "compose.yaml").write_text("services: {db: {image: 'postgres:${TAG}'}}\n")
    Environment(shop.settings())
    monkeypatch.setenv("TAG", "2")
    Environment(shop.settings())
    assert shop.reads == 5
    cached = sorted(p.name for p in (shop.root / ".envctl" / "runs" / ".compose").glob("reduced-config-*"))
    assert len(cached) == 5  # one per configuration read


def test_a_configuration_holding_a_secret_is_not_cached(shop: Project) -> None:
    """A `.env` value interpolated into an image name: read again each time, never written."""
    (shop.root / ".env").write_text("REGISTRY_TOKEN=zq-env-test-7f3e9c1\n")
    shop.config["services"]["db"]["image"] = "registry/zq-env-test-7f3e9c1/postgres"
    Environment(shop.settings())
    Environment(shop.settings())
    assert shop.reads == 2
    assert list((shop.root / ".envctl" / "runs" / ".compose").glob("reduced-config-*")) == []


def test_the_label_override_tags_everything_the_project_creates(shop: Project) -> None:
    """Every service, and the networks and volumes compose creates (not external ones); not the
    checkout (two checkouts of one project share it)."""
    env = Environment(shop.settings())
    compose = env.compose([Path("/extra.yml")])
    assert compose.project == "shop"
    assert compose.files[0] == shop.root / "compose.yaml"
    assert compose.files[2] == Path("/extra.yml")
    override = json.loads(compose.files[1].read_text())
    tags = {labels.MANAGED: "true", labels.PROJECT: "shop"}  # no checkout: two may share it
    assert override == {"services": {name: {"labels": tags} for name in CONFIG["services"]},
                        "networks": {"default": {"labels": tags}}, "volumes": {"data": {"labels": tags}}}
    assert env.compose().files[1] == compose.files[1]  # written once


def test_the_projects_compose_names_every_profile_one_by_one(shop: Project) -> None:
    """Every profile of the files, by name: `run --profile '*'` finds no service behind a
    profile on compose 2.20; reading the configuration keeps '*'."""
    shop.config["services"]["db"]["profiles"] = ["infra", "debug"]
    env = Environment(shop.settings())
    assert env.compose().profiles == ["debug", "infra"]
    assert env._base_compose().profiles == ["*"]


def test_an_isolated_override_drops_published_ports_and_names_built_images(shop: Project) -> None:
    """`!reset []` for every service's ports; built images under the base project's name; the
    checkout it belongs to (this machine and folder: `down` elsewhere leaves it alone)."""
    env = Environment.isolated(shop.settings())
    text = env.compose().files[1].read_text()
    assert text.count('"ports": !reset []') == len(CONFIG["services"])
    checkout = json.dumps({labels.CHECKOUT: f"{socket.gethostname()}:{shop.settings().project_dir}"})[1:-1]
    assert text.count(checkout) == len(CONFIG["services"]) + 2  # the services, the network and volume
    assert '"image": "shop-api"' in text
    assert '"image": "shop-migrate"' in text


def test_up_starts_the_targets_and_waits_for_them(shop: Project) -> None:
    """compose up for the targets, building what is missing first; ready services reported."""
    shop.missing = ["shop-migrate"]
    shop.engine.current = {"db-1": svc("db", health="healthy"),
                           "migrate-1": svc("migrate", status="exited", finished_at=1.0),
                           "api-1": svc("api", health="healthy")}
    env = Environment(shop.settings())
    progress: list[str] = []
    env.on_progress = lambda service, verdict: progress.append(f"{service} {verdict.phase.value}")
    assert env.up(["api"]) == [ServiceReport("db", Phase.READY, "healthy"),
                               ServiceReport("migrate", Phase.COMPLETED, "completed (exited 0)"),
                               ServiceReport("api", Phase.READY, "healthy")]
    assert shop.compose_calls == [("build", ["migrate"]), ("up", ["db", "migrate", "api"])]
    assert sorted(progress) == ["api ready", "db ready", "migrate completed"]


def test_a_failed_up_removes_what_it_started_unless_kept(shop: Project) -> None:
    """An unhealthy service: EnvironmentFailedError, and `down` (with the volumes of a fresh
    project) unless keep_on_failure."""
    shop.engine.change(svc("db", health="unhealthy"), "health_status: unhealthy")
    env = Environment(shop.settings())
    with pytest.raises(EnvironmentFailedError, match="db unhealthy"):
        env.up(["db"], build=False)
    assert shop.compose_calls == [("up", ["db"]), ("down", True)]
    shop.compose_calls.clear()
    with pytest.raises(EnvironmentFailedError):
        env.up(["db"], build=False, keep_on_failure=True)
    assert shop.compose_calls == [("up", ["db"])]


def test_up_refuses_a_wait_for_an_unknown_service_and_skips_a_test_only_start(shop: Project) -> None:
    """A misspelt `wait` service is an error; only the test service: nothing to start."""
    env = Environment(shop.settings())
    env.settings = Settings(**{**env.settings.as_dict(), "wait": (ServiceWait("dbb", port=5432),)})
    with pytest.raises(ConfigError, match="wait: no service dbb in the compose files"):
        env.up()
    shop.config["services"] = {"test": CONFIG["services"]["test"] | {"depends_on": {}}}
    (shop.root / "compose.yaml").write_text("services: {test: {build: .}}\n")
    assert Environment(shop.settings()).up() == []
    assert shop.compose_calls == []


def test_a_build_that_fails_says_which_images(shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """compose build's first error line, and how to see the rest."""
    def failing(_compose: Compose, services: Sequence[str], *, deadline: float,
                cancelled: Callable[[], bool]) -> None:
        raise ComposeCommandError("build", output="ERROR: failed to solve: no such file", returncode=1)

    monkeypatch.setattr(Compose, "build", failing)
    with pytest.raises(EnvironmentFailedError) as caught:
        Environment(shop.settings()).build(["api", "db"], force=True)
    assert caught.value.message == "the image for api cannot be built: ERROR: failed to solve: no such file"
    assert caught.value.hint == "run `docker compose build` to see the whole build output"
    Environment(shop.settings()).build(["db"])  # an image of its own: nothing to build, no call


def test_ensure_up_touches_nothing_when_all_is_ready(shop: Project) -> None:
    """Every wanted service ready: no compose call, no lock held afterwards."""
    shop.engine.current = {"db-1": svc("db", health="healthy")}
    assert Environment(shop.settings()).ensure_up(["db"]) == [ServiceReport("db", Phase.READY, "healthy")]
    assert shop.compose_calls == []


def test_ensure_up_brings_up_what_is_not_ready(shop: Project) -> None:
    """A service not running yet: `up` runs; a project of only a test service: nothing."""
    shop.engine.change(svc("db", health="healthy"))
    assert Environment(shop.settings()).ensure_up(["db"]) == [ServiceReport("db", Phase.READY, "healthy")]
    assert shop.compose_calls == [("up", ["db"])]
    shop.config["services"] = {"test": CONFIG["services"]["test"] | {"depends_on": {}}}
    (shop.root / "compose.yaml").write_text("services: {test: {build: .}}\n")
    assert Environment(shop.settings()).ensure_up() == []


def test_down_removes_probe_containers_first_then_the_project(shop: Project) -> None:
    """Probe containers and a killed doctor's disk look (envctl's labels) go first; then compose
    down, with volumes if asked."""
    Environment(shop.settings()).down(volumes=True)
    assert shop.engine.removed_labelled == [(f"{labels.PROJECT}=shop", f"{labels.ROLE}={labels.PROBE_ROLE}"),
                                            (f"{labels.PROJECT}=shop", f"{labels.ROLE}={labels.DISK_ROLE}")]
    assert shop.compose_calls == [("down", True)]


def test_ps_lists_each_container_with_its_phase(shop: Project) -> None:
    """Sorted by service; each with its verdict."""
    shop.engine.current = {"x": svc("migrate", status="exited", exit_code=1),
                           "y": svc("db", health="healthy")}
    assert Environment(shop.settings()).ps() == [
        ServiceStatus("db", "p-db-1", "running", "healthy", 0, Phase.READY, "healthy"),
        ServiceStatus("migrate", "p-migrate-1", "exited", None, 1, Phase.FAILED, "exited with code 1")]


def test_a_wait_probe_runs_with_envctls_labels_and_the_test_image(
        shop: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """The probe Environment gives the readiness wait: the settings' engine timeout and
    `wait_probe`, envctl's probe labels, the test service's image (asked only when needed)."""
    seen: dict[str, Any] = {}

    def probe_service(spec: ServiceWait, container_id: str, **kwargs: Any) -> ProbeResult:
        seen.update(kwargs, image=kwargs["image"]())
        return ProbeResult(spec.service, container_id, True, "ok")

    monkeypatch.setattr(environment_module, "probe_service", probe_service)
    env = Environment(shop.settings())
    stop = threading.Event()
    created: Callable[[str], None] = lambda _id: None  # noqa: E731
    assert env._probe(ServiceWait("api", port=80), "c1", 5.0, stop, created) == \
        ProbeResult("api", "c1", True, "ok")
    assert seen == {"deadline": 5.0, "stop": stop, "docker_timeout": 60.0, "where": "auto",
                    "image": "shop-test", "on_created": created, "host": None,
                    "labels": {labels.MANAGED: "true", labels.PROJECT: "shop",
                               labels.ROLE: labels.PROBE_ROLE}}


def test_the_environment_package_imports_no_layer_above_it() -> None:
    """env/ is below runs, the faces and the API: it imports none of them, even lazily."""
    from tests.unit.test_imports import imports  # noqa: PLC0415

    above = ("envctl.runs", "envctl.ui", "envctl.cli", "envctl.api", "envctl.verbs")
    found = {name: sorted(t for t in targets if t.startswith(above))
             for name, targets in imports().items() if name.startswith("envctl.env")}
    assert {name: targets for name, targets in found.items() if targets} == {}
