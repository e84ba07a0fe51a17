"""`envctl init`: which service it picks, what it proposes, and that it never overwrites."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from envctl.docker.models import ComposeProject
from envctl.errors import ComposeFileError, UsageError
from envctl.init import (
    Report,
    Written,
    action_ref,
    commands_of,
    dockerfile_text,
    pick_test_service,
    ports_of,
    repo_of_remote,
    service_override_text,
    settings_text,
    workflow_text,
    write_gitignore,
    write_settings,
    write_workflow,
)
from envctl.settings import load_settings

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def project(services: dict[str, dict[str, object]]) -> ComposeProject:
    return ComposeProject.from_config({"name": "p", "services": services})


HEALTHY: dict[str, object] = {"image": "x", "healthcheck": {"test": ["CMD", "true"]}}


@pytest.mark.parametrize(("services", "commands", "picked"), [
    ({"db": HEALTHY, "test": {"image": "t"}}, {}, "test"),
    ({"db": HEALTHY, "tests": {"image": "t"}}, {}, "tests"),
    ({"db": HEALTHY, "suite": {"image": "t", "profiles": ["test"]}}, {}, "suite"),
    ({"db": HEALTHY, "runner": {"image": "t"}}, {"runner": ["python", "-m", "pytest", "-q"]}, "runner"),
])
def test_the_test_service_is_found(services: dict[str, dict[str, object]], commands: dict[str, list[str]],
                                   picked: str) -> None:
    """By name, then a `test` profile, then a command that runs pytest."""
    assert pick_test_service(project(services), "test", commands) == picked


def test_no_test_service_is_a_clear_error() -> None:
    """Nothing looks like one: say which services there are and what to set."""
    with pytest.raises(ComposeFileError, match="no test service among api, db"):
        pick_test_service(project({"db": HEALTHY, "api": HEALTHY}), "test", {})


def test_the_proposed_settings_are_valid_toml_and_name_unchecked_services() -> None:
    """The text parses as TOML with the picked service, and names services with no health check."""
    text = settings_text(project({"db": HEALTHY, "cache": {"image": "redis"}, "test": {"image": "t"}}),
                         "test", ["ci/compose.yml"])
    data = tomllib.loads(text)
    assert data == {"compose_files": ["ci/compose.yml"]}  # no default repeated, no run_timeout
    assert "waits for these to be running only: cache." in text


def test_settings_go_into_pyproject_once_and_never_over_anything(tmp_path: Path) -> None:
    """Appended as [tool.envctl] to pyproject.toml; a second time, or with envctl.toml, kept."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"')
    first = write_settings(tmp_path, lambda _t: 'test_service = "test"\n')
    assert first.created
    data = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert data["tool"]["envctl"] == {"test_service": "test"}
    before = (tmp_path / "pyproject.toml").read_text()
    again = write_settings(tmp_path, lambda _t: 'test_service = "other"\n')
    assert (again.created, again.why) == (False, "pyproject.toml already has [tool.envctl]")
    assert (tmp_path / "pyproject.toml").read_text() == before


def test_without_pyproject_an_envctl_toml_and_a_workflow_each_once(tmp_path: Path) -> None:
    """envctl.toml is made; the workflow too; neither is ever written over."""
    assert write_settings(tmp_path, lambda _t: 'cpus = 2\n').created
    (tmp_path / "envctl.toml").write_text("mine\n")
    assert not write_settings(tmp_path, lambda _t: 'cpus = 4\n').created
    assert (tmp_path / "envctl.toml").read_text() == "mine\n"
    assert write_workflow(tmp_path, "on: push\n").created
    kept = write_workflow(tmp_path, "changed\n")
    assert (kept.created, (tmp_path / ".github/workflows/envctl.yml").read_text()) == (False, "on: push\n")


def test_commands_are_read_as_lists() -> None:
    """A list command as is; a string split as compose does (shell words); anything else skipped."""
    assert commands_of({"services": {"a": {"command": ["pytest", "-q"]},
                                     "b": {"command": "pytest -k 'a or b'"}, "c": {"command": 3},
                                     "d": "junk", "e": {"command": "x 'open"}}}) == {
        "a": ["pytest", "-q"], "b": ["pytest", "-k", "a or b"]}


def test_ports_are_the_first_published_or_exposed_container_port() -> None:
    """`ports` targets first, then `expose`; ranges, junk and booleans are skipped."""
    raw = {"services": {"db": {"ports": [{"target": 5432, "published": "15432"}]},
                        "cache": {"expose": ["6379/tcp"]}, "web": {"expose": ["8000-8010", "80"]},
                        "odd": {"ports": ["junk"], "expose": [True]}, "none": {}}}
    assert ports_of(raw) == {"db": 5432, "cache": 6379, "web": 80}
    assert ports_of({"services": "not a mapping"}) == {}


@pytest.mark.parametrize("pyproject", [True, False])
def test_a_service_with_no_health_check_and_a_port_gets_a_port_wait(tmp_path: Path, pyproject: bool) -> None:
    """The written settings load, with `[wait.X] port = N`, in pyproject.toml and in envctl.toml alike."""
    if pyproject:
        (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    config = project({"db": HEALTHY, "cache": {"image": "redis"}, "my.queue": {"image": "q"},
                      "logs": {"image": "l"}, "test": {"image": "t"}})
    ports = {"db": 5432, "cache": 6379, "my.queue": 5672, "test": 80}
    written = write_settings(tmp_path, lambda table: settings_text(config, "test", [], ports, table))
    assert written.path.name == ("pyproject.toml" if pyproject else "envctl.toml")
    waits = {w.service: w.port for w in load_settings(tmp_path, environ={}).wait}
    assert waits == {"cache": 6379, "my.queue": 5672}
    assert "waits for these to be running only: logs. Add" in written.path.read_text()


def test_odd_paths_are_quoted_and_existing_settings_found_by_parsing(tmp_path: Path) -> None:
    """A compose path with quotes and backslashes stays valid TOML; `[tool] envctl = {...}` counts
    as settings already there, and a pyproject that is not TOML is left alone."""
    text = settings_text(project({"test": {"image": "t"}}), "test", ['ci/"odd"\\dir/compose.yml'])
    assert tomllib.loads(text)["compose_files"] == ['ci/"odd"\\dir/compose.yml']
    (tmp_path / "pyproject.toml").write_text('[tool]\nenvctl = {memory = "1g"}\n')
    kept = write_settings(tmp_path, lambda _t: "cpus = 2\n")
    assert (kept.created, kept.why) == (False, "pyproject.toml already has [tool.envctl]")
    (tmp_path / "pyproject.toml").write_text("[broken\n")
    assert write_settings(tmp_path, lambda _t: "cpus = 2\n").why == "pyproject.toml is not valid TOML"


def test_links_are_never_written_through(tmp_path: Path) -> None:
    """A dangling envctl.toml or workflow link is kept, not followed (and not a crash)."""
    (tmp_path / "envctl.toml").symlink_to(tmp_path / "elsewhere.toml")
    assert write_settings(tmp_path, lambda _t: "cpus = 2\n").created is False
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "envctl.yml").symlink_to(tmp_path / "elsewhere.yml")
    assert write_workflow(tmp_path, "on: push\n").created is False
    assert not (tmp_path / "elsewhere.toml").exists() and not (tmp_path / "elsewhere.yml").exists()


def test_only_what_differs_from_the_defaults_and_the_kept_command() -> None:
    """A pytest command of the service's own becomes test_command; a non-default service name is
    written; memory, cpus, pids, timeouts never are."""
    config = project({"db": HEALTHY, "tests": {"image": "t"}})
    data = tomllib.loads(settings_text(config, "tests", [], None, "", ["pytest", "-q", "tests"]))
    assert data == {"test_service": "tests", "test_command": ["pytest", "-q", "tests"]}
    text = settings_text(config, "test", [], None, "", ["pytest"])
    assert tomllib.loads(text) == {} and "run_timeout" not in text and "memory" not in text


def test_the_written_command_loads_as_the_test_command(tmp_path: Path) -> None:
    config = project({"tests": {"image": "t"}})
    command = ["pytest", "--cov", "app"]
    write_settings(tmp_path, lambda t: settings_text(config, "tests", [], None, t, command))
    loaded = load_settings(tmp_path, environ={})
    assert (loaded.test_service, loaded.test_command) == ("tests", ("pytest", "--cov", "app"))


@pytest.mark.parametrize(("url", "repo"), [
    ("https://github.com/acme/envctl.git", "acme/envctl"), ("git@github.com:acme/envctl.git", "acme/envctl"),
    ("ssh://git@github.com/acme/env.ctl/", "acme/env.ctl"), ("https://gitlab.com/acme/envctl.git", None),
])
def test_the_repository_of_a_remote(url: str, repo: str | None) -> None:
    assert repo_of_remote(url) == repo


def test_the_action_from_a_checkout_or_the_flag_never_a_placeholder(tmp_path: Path) -> None:
    """The flag as given; else origin + v<major>; else a usage error naming --action."""
    import subprocess  # noqa: PLC0415

    assert action_ref("acme/envctl@v2") == "acme/envctl@v2"
    with pytest.raises(UsageError, match="--action"):
        action_ref("not a ref")
    with pytest.raises(UsageError, match="git checkout") as caught:
        action_ref(None, tmp_path, "1.2.3")
    assert "--action" in str(caught.value.hint)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", "git@github.com:acme/envctl.git"],
                   check=True)
    assert action_ref(None, tmp_path, "1.2.3") == "acme/envctl@v1"
    text = workflow_text("test", "acme/envctl@v1")
    assert "uses: acme/envctl@v1" in text and "<owner>" not in text


def test_gitignore_created_appended_once_never_duplicated(tmp_path: Path) -> None:
    assert write_gitignore(tmp_path).created
    assert (tmp_path / ".gitignore").read_text().splitlines()[-1] == ".envctl/"
    assert not write_gitignore(tmp_path).created
    (tmp_path / ".gitignore").write_text("*.pyc")
    assert write_gitignore(tmp_path).created
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\n.envctl/\n"
    assert not write_gitignore(tmp_path).created
    assert (tmp_path / ".gitignore").read_text().count(".envctl") == 1


def test_the_generated_test_service_and_dockerfile(tmp_path: Path) -> None:
    """depends_on: healthy for health-checked services, started otherwise; nothing mounted;
    the install follows the project's extras or requirements files."""
    text = service_override_text(project({"db": HEALTHY, "cache": {"image": "r"}}), ".")
    assert text.splitlines()[1:] == [
        "services:", "  test:", "    build:", '      context: "."', "      dockerfile: Dockerfile.test",
        "    depends_on:", '      "cache":', "        condition: service_started",
        '      "db":', "        condition: service_healthy", '    command: ["pytest"]']
    assert "volumes" not in text
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[project.optional-dependencies]\n'
                                             'dev = ["pytest"]\n')
    docker = dockerfile_text(tmp_path)
    assert docker.splitlines()[1:4] == ["FROM python:3.11-slim", "WORKDIR /src", "COPY . ."]
    assert "RUN pip install --no-cache-dir -e '.[dev]' pytest" in docker
    (tmp_path / "pyproject.toml").unlink()
    (tmp_path / "requirements.txt").write_text("requests\n")
    (tmp_path / "requirements-dev.txt").write_text("pytest\n")
    install = "pip install --no-cache-dir -r requirements-dev.txt -r requirements.txt pytest"
    assert install in dockerfile_text(tmp_path)


def test_the_summary_says_what_was_found_and_what_next(tmp_path: Path) -> None:
    report = Report(tmp_path, ["compose.yaml"], "shop", "tests", ["pytest", "-q", "tests"], True, ["db"],
                    {"cache": 6379}, [], False, [Written(tmp_path / "envctl.toml", True)])
    text = report.summary()
    for line in ("compose files: compose.yaml", "project name:  shop",
                 "its command kept as test_command: pytest -q tests", "health checks: db",
                 "wait written:  cache (no health check): port 6379", "wrote         envctl.toml",
                 "envctl up", "envctl test --detach && envctl wait"):
        assert line in text
