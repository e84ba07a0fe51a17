"""`envctl up` against real compose projects: ready, or failed with the reason, and clean."""

from __future__ import annotations

import socket

import pytest

from envctl.errors import ExitCode

pytestmark = pytest.mark.docker


def assert_nothing_left(project) -> None:  # type: ignore[no-untyped-def]
    assert project.leftovers() == {}, project.leftovers()


def test_healthy_stack_comes_up_labelled_and_goes_down_clean(make_project) -> None:  # type: ignore[no-untyped-def]
    """Every service but the test one comes up healthy, labelled; down removes it all."""
    project = make_project("up/healthy")
    result = project.envctl("up")
    assert result.returncode == 0, result.output
    assert "ready: web (ready), worker (ready)" in result.stderr
    found = project.leftovers()
    assert sorted(found["containers"]) == [f"{project.name}-web-1", f"{project.name}-worker-1"]
    assert found["networks"] == [f"{project.name}_default"]
    ps = project.envctl("ps", "--json")
    assert ps.returncode == 0
    assert '"health": "healthy"' in ps.stdout
    down = project.envctl("down", "--volumes")
    assert down.returncode == 0, down.output
    assert_nothing_left(project)


def test_service_healthy_after_three_seconds(make_project) -> None:  # type: ignore[no-untyped-def]
    """A slow service is waited for, and `up` returns soon after it turns healthy."""
    project = make_project("up/slow_healthy")
    result = project.envctl("up")
    assert result.returncode == 0, result.output
    assert '"phase": "ready"' in result.stderr
    assert 3 <= result.seconds < 20
    project.envctl("down")
    assert_nothing_left(project)


def test_never_healthy_fails_fast_with_health_output(make_project) -> None:  # type: ignore[no-untyped-def]
    """Unhealthy is certain long before the timeout: say so, with the health check's output."""
    project = make_project("up/never_healthy")
    result = project.envctl("up", "--timeout", "60s")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "sick: unhealthy" in result.stderr
    assert "health check exit 1: db not accepting connections" in result.stderr
    assert result.seconds < 30
    assert_nothing_left(project)


def test_not_ready_by_timeout_returns_within_timeout_plus_five(make_project) -> None:  # type: ignore[no-untyped-def]
    """A service stuck in `starting` is failed at the timeout, no later than timeout + 5 s."""
    project = make_project("up/starting_forever")
    result = project.envctl("up", "--timeout", "4s")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "sluggish: not ready after 4s (health: starting)" in result.stderr
    assert result.seconds < 4 + 5 + 2  # +2: interpreter start-up and the compose config read
    assert_nothing_left(project)


def test_exit_1_at_start_names_the_service_and_shows_its_log(make_project) -> None:  # type: ignore[no-untyped-def]
    """A service that exits 1 is failed with its exit code and its last log lines."""
    project = make_project("up/exits_1")
    result = project.envctl("up")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "broken: exited with code 1" in result.stderr
    assert "| config error: missing SECRET_KEY" in result.stderr
    assert_nothing_left(project)


def test_crash_loop_is_detected(make_project) -> None:  # type: ignore[no-untyped-def]
    """restart: always on a crashing command is a loop, reported as such, not a timeout."""
    project = make_project("up/crash_loop")
    result = project.envctl("up", "--timeout", "60s")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "flappy: restarting in a loop" in result.stderr
    assert "last exit code 3" in result.stderr
    assert "| starting flappy" in result.stderr
    assert result.seconds < 30
    assert_nothing_left(project)


def test_one_shot_exiting_0_is_done_and_dependents_start(make_project) -> None:  # type: ignore[no-untyped-def]
    """A migration that exits 0 is completed, and the service waiting on it comes up."""
    project = make_project("up/oneshot_ok")
    result = project.envctl("up")
    assert result.returncode == 0, result.output
    assert "app (ready), migrate (completed)" in result.stderr or \
        "migrate (completed), app (ready)" in result.stderr
    project.envctl("down")
    assert_nothing_left(project)


def test_one_shot_exiting_1_fails_the_environment(make_project) -> None:  # type: ignore[no-untyped-def]
    """A failed migration is named, with its output."""
    project = make_project("up/oneshot_fail")
    result = project.envctl("up")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "migrate: exited with code 1" in result.stderr
    assert "migration 0042 failed" in result.stderr
    assert_nothing_left(project)


def test_service_without_healthcheck_is_ready_when_running_with_a_warning(make_project) -> None:  # type: ignore[no-untyped-def]
    """No health check: ready when running, and a warning says so once."""
    project = make_project("up/no_healthcheck")
    result = project.envctl("up")
    assert result.returncode == 0, result.output
    assert result.stderr.count("service has no health check") == 1
    project.envctl("down")
    assert_nothing_left(project)


def test_oom_killed_at_start(make_project) -> None:  # type: ignore[no-untyped-def]
    """A service over its memory limit is reported as OOM-killed."""
    project = make_project("up/oom")
    result = project.envctl("up")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "hungry: OOM-killed (exit 137)" in result.stderr
    assert_nothing_left(project)


def test_host_port_in_use_is_one_clear_line(make_project) -> None:  # type: ignore[no-untyped-def]
    """A published port that is already bound on the host is named as the cause."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        project = make_project("up/port_in_use")
        result = project.envctl("up", extra_env={"FIXTURE_PORT": str(port)})
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    assert "a host port is already in use" in result.stderr
    assert str(port) in result.stderr
    assert_nothing_left(project)


def test_malformed_compose_file(make_project) -> None:  # type: ignore[no-untyped-def]
    """YAML compose cannot read is a compose-file error naming the file."""
    project = make_project("up/malformed")
    result = project.envctl("up")
    assert result.returncode == ExitCode.COMPOSE_FILE, result.output
    assert "compose.yaml" in result.stderr
    assert len([line for line in result.stderr.splitlines() if "error:" in line]) == 1
    assert "Traceback" not in result.stderr
    assert_nothing_left(project)


def test_unknown_service(make_project) -> None:  # type: ignore[no-untyped-def]
    """A service name not in the compose files is refused before anything starts."""
    project = make_project("up/healthy")
    result = project.envctl("up", "nosuch")
    assert result.returncode == ExitCode.COMPOSE_FILE, result.output
    assert "no such service: nosuch" in result.stderr
    assert "web" in result.stderr  # the hint lists the real ones
    assert_nothing_left(project)


def test_unreachable_engine(make_project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A dead DOCKER_HOST is the engine error, quickly, without a traceback."""
    project = make_project("up/healthy")
    result = project.envctl("up", extra_env={"DOCKER_HOST": f"unix://{tmp_path}/nothing.sock"})
    assert result.returncode == ExitCode.ENGINE_UNAVAILABLE, result.output
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.seconds < 10


def test_image_that_cannot_be_built(make_project) -> None:  # type: ignore[no-untyped-def]
    """A failing build is one clear cause naming the service, before anything starts."""
    project = make_project("up/unbuildable")
    result = project.envctl("up")
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("envctl: error:")]
    assert len(errors) == 1
    assert "the image for app cannot be built" in errors[0]
    assert "Traceback" not in result.stderr
    assert_nothing_left(project)


def test_a_failed_up_on_github_actions_is_annotated_per_service(make_project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On GitHub Actions a failed `up` is an ::error naming the service and its cause, and the
    job summary says the same (issue 13, point 4)."""
    project = make_project("up/never_healthy")
    summary = tmp_path / "summary.md"
    result = project.envctl("up", extra_env={"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)})
    assert result.returncode == ExitCode.ENVIRONMENT_FAILED, result.output
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert len(errors) == 1, result.stdout
    assert errors[0].startswith("::error title=envctl up%3A service sick failed::")
    assert "db not accepting connections" in errors[0]
    text = summary.read_text()
    assert "## envctl up failed" in text and "service `sick`" in text
