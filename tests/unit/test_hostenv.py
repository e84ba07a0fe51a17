"""The host pytest plugin (`-p envctl.hostenv`): its fixture from the ENVCTL_* variables, from
the running environment (the verb faked: no engine), from the xdist controller; loaded only
when asked, and never starting or stopping anything."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import envctl.verbs.endpoints
from envctl import hostenv
from envctl.addresses import Address
from envctl.errors import EngineUnavailableError
from envctl.verbs.endpoints import Endpoints, Port, ServiceEndpoints

pytest_plugins = ["pytester"]
QUIET = ("-p", "no:cacheprovider", "-p", "no:asyncio")  # the inner sessions: no cache, no asyncio noise

FOUND = Endpoints("p", (
    ServiceEndpoints("my-db", "p-my-db-1", "running", "healthy", "ready",
                     (Port(5432, "tcp", "127.0.0.1", 15432),)),
    ServiceEndpoints("web", "p-web-1", "running", None, "ready",
                     (Port(80, "tcp", "127.0.0.1", 8080, "http://127.0.0.1:8080"),)),
))

SUITE = '''
import pytest

def test_addresses(envctl_services):
    assert envctl_services["web"].url == "http://127.0.0.1:8080"
    assert (envctl_services["my-db"].host, envctl_services["my-db"].port) == ("127.0.0.1", 15432)
    assert dict(envctl_services["my-db"].ports) == {5432: 15432}
    assert sorted(envctl_services) == ["my-db", "web"]

def test_a_missing_service_says_which_there_are(envctl_services):
    with pytest.raises(KeyError, match="no service 'cache' in .*services: my-db, web"):
        envctl_services["cache"]
'''


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variables of an envctl that started this session, no project dir, no context."""
    for name in ("ENVCTL_SERVICES", "ENVCTL_PROJECT_DIR", "DOCKER_CONTEXT"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_from_the_variables_envctl_set(pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch) -> None:
    """ENVCTL_SERVICES is there: the variables are the addresses, the engine is never asked."""
    for name, value in FOUND.variables().items():
        clean_env.setenv(name, value)
    clean_env.setattr(envctl.verbs.endpoints, "endpoints", _refuse)
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_inprocess("-p", "envctl.hostenv", *QUIET).assert_outcomes(passed=2)


def _refuse(*_args: object, **_kwargs: object) -> Endpoints:
    raise AssertionError("the engine was asked")


def test_from_the_running_environment_once_per_session(pytester: pytest.Pytester,
                                                       clean_env: pytest.MonkeyPatch) -> None:
    """No variables: the verb is asked once, for the directory pytest started in, on the
    engine DOCKER_HOST names; a stray variable of an earlier eval does not upset the settings."""
    asked: list[tuple[Path, str | None]] = []

    def verb(settings: Any, *, host: str | None) -> Endpoints:
        asked.append((settings.project_dir, host))
        return FOUND

    clean_env.setenv("ENVCTL_OLD_HOST", "stray")
    clean_env.setattr(envctl.verbs.endpoints, "endpoints", verb)
    pytester.makepyfile(test_suite=SUITE)
    pytester.runpytest_inprocess("-p", "envctl.hostenv", *QUIET).assert_outcomes(passed=2)
    assert asked == [(pytester.path.resolve(), None)]


def test_an_engine_that_does_not_answer_errors_the_tests_that_need_it(
        pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch) -> None:
    """Tests without the fixture pass; those with it error, saying why and what to do."""
    def verb(_settings: Any, *, host: str | None) -> Endpoints:
        raise EngineUnavailableError("the engine does not answer", hint="start it")

    clean_env.setattr(envctl.verbs.endpoints, "endpoints", verb)
    pytester.makepyfile(test_suite=SUITE + "\ndef test_plain():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "envctl.hostenv", *QUIET)
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(["*envctl: the running environment's services: the engine does not answer "
                                 "(hint: start it)"])


def test_not_loaded_unless_asked(pytester: pytest.Pytester, clean_env: pytest.MonkeyPatch) -> None:
    """No pytest11 entry point: a session that does not ask has no such fixture."""
    plugins = importlib.metadata.entry_points(group="pytest11")
    assert [e for e in plugins if e.value.startswith("envctl")] == []
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_inprocess(*QUIET)
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*fixture 'envctl_services' not found*"])


class _Node:
    """An xdist worker node as the controller's hook sees it."""

    def __init__(self, config: Any) -> None:
        self.config = config
        self.workerinput: dict[str, Any] = {}


def _config(tmp_path: Path, **more: Any) -> Any:
    return SimpleNamespace(stash=pytest.Stash(), invocation_params=SimpleNamespace(dir=tmp_path), **more)


def test_the_xdist_controller_looks_once_for_all_its_workers(tmp_path: Path,
                                                             clean_env: pytest.MonkeyPatch) -> None:
    """Two workers, one look; each worker takes the variables handed to it and asks nothing."""
    looks: list[Path] = []

    def look(project_dir: Path, _environ: object) -> dict[str, str]:
        looks.append(project_dir)
        return FOUND.variables()

    clean_env.setattr(hostenv, "look", look)
    controller = _config(tmp_path)
    nodes = [_Node(controller), _Node(controller)]
    for node in nodes:
        hostenv.pytest_configure_node(node)
    assert looks == [tmp_path]
    assert nodes[1].workerinput == {hostenv.WORKER_VARIABLES: FOUND.variables()}
    worker = _config(tmp_path, workerinput=nodes[1].workerinput)
    found, source = hostenv.variables(worker, {})
    assert (found, source, looks) == (FOUND.variables(), "the running environment", [tmp_path])
    assert hostenv.Services({"web": Address("web")}, source)["web"] == Address("web")


def test_a_controller_that_could_not_look_hands_the_reason_on(tmp_path: Path,
                                                               clean_env: pytest.MonkeyPatch) -> None:
    """The workers fail the tests that use the fixture with the controller's reason."""
    def look(_project_dir: Path, _environ: object) -> dict[str, str]:
        raise EngineUnavailableError("down")

    clean_env.setattr(hostenv, "look", look)
    node = _Node(_config(tmp_path))
    hostenv.pytest_configure_node(node)
    assert node.workerinput == {hostenv.WORKER_ERROR: "down"}
    with pytest.raises(pytest.fail.Exception, match="envctl: the running environment's services: down"):
        hostenv.variables(_config(tmp_path, workerinput=node.workerinput), {})


def test_a_controller_with_the_variables_leaves_them_to_the_workers(
        tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    """Workers inherit ENVCTL_*: the controller does not look at all."""
    clean_env.setenv("ENVCTL_SERVICES", "web")
    clean_env.setattr(hostenv, "look", _refuse)
    node = _Node(_config(tmp_path))
    hostenv.pytest_configure_node(node)
    assert node.workerinput == {}


def test_the_project_dir_is_envctls(tmp_path: Path) -> None:
    """ENVCTL_PROJECT_DIR first, as `envctl` itself; else where pytest was started."""
    config: Any = _config(tmp_path)
    assert hostenv.project_dir(config, {"ENVCTL_PROJECT_DIR": "/srv/app"}) == Path("/srv/app")
    assert hostenv.project_dir(config, {}) == tmp_path
