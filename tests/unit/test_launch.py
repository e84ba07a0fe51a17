"""Starting a run: its directory, record and container (fake environment and engine), what the
container looks like, and what can be told about a start that a killed starter left half done."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from envctl.docker import engine as engine_module
from envctl.docker import preload
from envctl.docker.models import ServiceSpec
from envctl.env import environment as environment_module
from envctl.errors import CancelRequestedError, ComposeFileError, EnvctlError, UsageError
from envctl.runs import container, exchange, fingerprint, launch
from envctl.runs.container import GATE_WAIT, PLUGIN_DIR, container_name, run_override
from envctl.runs.launch import (
    RUN_OVERRIDE,
    RunRequest,
    creation_under_way,
    environment_from_file,
    plugin_mountable,
    prepare_run,
    refuse_unsafe,
    remove_container,
    start_detached,
)
from envctl.runs.state import Limits, RunRecord, RunState
from envctl.runs.store import DETACHED_FILE, START_FILE, UNMOUNTED_RUN_DIR
from envctl.settings import Settings
from tests.unit.fake_engine import FakeEngine, FakeEnvironment
from tests.unit.run_dirs import make_run

if TYPE_CHECKING:
    from envctl.env.environment import Environment

NAME = "p-test-run-20260101-000000-abcd"


OUR_NS = "pid:[4026531836]"


def fake_proc(tmp_path: Path, *argvs: list[str], namespace: str = OUR_NS) -> Path:
    proc = tmp_path / "proc"
    proc.mkdir()
    (proc / "self" / "ns").mkdir(parents=True)  # not a pid: skipped
    (proc / "self" / "ns" / "pid").symlink_to(OUR_NS)
    for pid, argv in enumerate(argvs, start=100):
        (proc / str(pid) / "ns").mkdir(parents=True)
        (proc / str(pid) / "ns" / "pid").symlink_to(namespace)
        (proc / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    return proc


def test_a_live_compose_run_for_the_name_is_seen(tmp_path: Path) -> None:
    """`timeout ... docker compose ... run --name NAME` (either process) counts as under way."""
    proc = fake_proc(tmp_path, ["timeout", "--kill-after=5", "120", "docker", "compose", "-p", "p",
                                "run", "--detach", "--name", NAME, "test", "pytest"])
    assert creation_under_way(NAME, proc) is True


def test_other_processes_do_not_count(tmp_path: Path) -> None:
    """Another run's compose, a shell that only mentions the name: nothing under way."""
    proc = fake_proc(tmp_path, ["docker", "compose", "run", "--name", NAME + "x", "test"],
                     ["grep", NAME], ["docker", "compose", "up", "--detach"])
    assert creation_under_way(NAME, proc) is False


def test_a_process_in_another_pid_namespace_does_not_count(tmp_path: Path) -> None:
    """A test container's process named like a compose run (visible in the host's /proc) is
    not one: it is in the container's pid namespace, not ours."""
    proc = fake_proc(tmp_path, ["docker", "compose", "run", "--name", NAME, "test"],
                     namespace="pid:[4026532999]")
    assert creation_under_way(NAME, proc) is False


def test_without_proc_it_cannot_tell(tmp_path: Path) -> None:
    """No /proc (macOS): None, and the caller waits for the container as before."""
    assert creation_under_way(NAME, tmp_path / "absent") is None


# ---- preparing and starting a run, on a fake environment and engine ----

RUN_SPEC = ServiceSpec(name="test", image="img", build_context=None, dockerfile=None,
                       has_healthcheck=False, restart="no", depends_on={}, ports=())


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a project in tmp_path, on a local engine, with a fake environment and engine."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(environment_module, "Environment", FakeEnvironment)
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    monkeypatch.setattr(engine_module, "preload_sdk_in_background", lambda: None)
    monkeypatch.setattr(FakeEnvironment, "spec", RUN_SPEC)
    monkeypatch.setattr(FakeEnvironment, "run_error", None)
    monkeypatch.setattr(fingerprint.Recorder, "threaded", False)  # taken in the test's own thread
    monkeypatch.setattr(fingerprint, "environment_fingerprint", lambda env: {"compose": "k", "images": {}})
    FakeEngine.reset([])
    return Settings(project_dir=tmp_path, log_dir=tmp_path / "runs")


def _env(settings: Settings, project: str = "p", isolated_for: str | None = None) -> Environment:
    return cast("Environment", FakeEnvironment(settings, project, isolated_for))


@pytest.mark.parametrize(("inject", "docker_host", "mountable"), [
    ("auto", None, True), ("auto", "unix:///run/docker.sock", True),
    ("auto", "tcp://10.0.0.2:2375", False), ("off", None, False)])
def test_the_plugin_is_mounted_only_on_a_local_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      inject: str, docker_host: str | None,
                                                      mountable: bool) -> None:
    """Bind mounts reach the container only through a local socket, and never when turned off."""
    if docker_host is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
    else:
        monkeypatch.setenv("DOCKER_HOST", docker_host)
    assert plugin_mountable(Settings(project_dir=tmp_path, inject_plugin=inject)) is mountable


def test_prepare_run_writes_the_directory_the_first_record_and_start_json(settings: Settings) -> None:
    """A prepared run: its record `starting`, start.json and the detached marker in the host-only dir."""
    request = RunRequest(pytest_args=("-k", "fast"), timeout=30.0, memory=1 << 30)
    run_dir, record = prepare_run(_env(settings, "proj"), request)
    assert run_dir == settings.resolved_log_dir / record.id
    assert (record.state, record.project, record.service, record.command) == \
        (RunState.STARTING, "proj", "test", ["pytest", "-k", "fast"])
    assert (record.limits, record.timeout, record.injected, record.isolated) == \
        (Limits(1 << 30, 2.0, 1024), 30.0, True, False)
    assert RunRecord.load(run_dir) == record
    start = json.loads((run_dir / START_FILE).read_text())
    assert (start["project"], start["isolated_for"], start["request"]["pytest_args"]) == \
        ("proj", None, ["-k", "fast"])
    assert (run_dir / DETACHED_FILE).exists()
    assert exchange.box(run_dir).is_dir()


def test_prepare_run_needs_the_test_service(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """No such service in the compose files: a compose-file error naming it, and no run made."""
    monkeypatch.setattr(FakeEnvironment, "spec", None)
    with pytest.raises(ComposeFileError, match="no test service 'test'"):
        prepare_run(_env(settings), RunRequest())
    assert not settings.resolved_log_dir.exists()


def test_a_shard_needs_a_local_engine(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """--shard reads its split from the mounted plugin: refused on a remote engine."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.2:2375")
    with pytest.raises(UsageError, match="--shard needs envctl's plugin"):
        prepare_run(_env(settings), RunRequest(shard="1/2"))


def test_an_unsafe_test_service_is_refused_unless_allowed() -> None:
    """A service handing the tests the host is refused, naming the key; allowing it lets it pass."""
    unsafe = (("docker-socket", "volumes: /var/run/docker.sock"),)
    with pytest.raises(ComposeFileError, match=r"volumes: /var/run/docker.sock \(docker-socket\)"):
        refuse_unsafe("test", unsafe, ())
    refuse_unsafe("test", unsafe, ("docker-socket",))


def test_start_container_brings_the_environment_up_then_runs_the_tests(settings: Settings) -> None:
    """Locked: up, build, the override, the container named in the record, then `compose run`
    (the caller's work for meanwhile just before it)."""
    run_dir, record = prepare_run(_env(settings), RunRequest(timeout=5.0))
    env = FakeEnvironment(settings)
    started = start_container_with(env, run_dir, record,
                                   while_compose_runs=lambda: env.calls.append(("meanwhile",)))
    name = f"p-test-run-{record.id}"
    assert env.calls == [("lock",), ("up",), ("build", "test"), ("compose",), ("meanwhile",),
                         ("run", "test", name)]
    assert started.container == name == RunRecord.load(run_dir).container
    assert env.argv == ["python3", "/envctl/envctl_runner.py", "5", "/envctl-run", "--", "pytest"]
    assert env.extra_files == [run_dir / RUN_OVERRIDE]
    override = json.loads((run_dir / RUN_OVERRIDE).read_text())
    assert override["services"]["test"]["environment"]["ENVCTL_GATE_WAIT"] == "30"


def test_a_started_run_records_its_fingerprint(settings: Settings) -> None:
    """The code and the environment it ran against, for a later resume to compare."""
    run_dir, record = prepare_run(_env(settings), RunRequest())
    start_container_with(FakeEnvironment(settings), run_dir, record)
    recorded = fingerprint.load(run_dir)
    assert recorded is not None
    assert (recorded["environment"], sorted(recorded["code"])) == \
        ({"compose": "k", "images": {}}, ["commit", "count", "cut", "files"])


def test_a_resume_hands_the_plugin_its_selection(settings: Settings) -> None:
    """A resume's setup goes into the run's directory first; its container is told where the
    selection is (input/, read-only); a plain run's is not."""
    from envctl.runs.remainder import SELECT_FILE, write_selection  # noqa: PLC0415

    request = RunRequest(resumes="20251231-000000-abcd")
    run_dir, record = prepare_run(_env(settings), request,
                                  setup=lambda path: write_selection(path, ("t.py::a",)))
    assert (record.resumes, (run_dir / exchange.INPUT_DIR / SELECT_FILE).exists()) == (request.resumes, True)
    start_container_with(FakeEnvironment(settings), run_dir, record)
    environment = json.loads((run_dir / RUN_OVERRIDE).read_text())["services"]["test"]["environment"]
    assert environment["ENVCTL_SELECT"] == "/envctl-in/select.json"
    plain_dir, plain = prepare_run(_env(settings), RunRequest())
    start_container_with(FakeEnvironment(settings), plain_dir, plain)
    plain_environment = json.loads((plain_dir / RUN_OVERRIDE).read_text())["services"]["test"]["environment"]
    assert "ENVCTL_SELECT" not in plain_environment


def test_start_container_with_no_up_skips_the_environment(settings: Settings) -> None:
    """`--no-up`: the environment is not brought up, the test image still built."""
    run_dir, record = prepare_run(_env(settings), RunRequest(no_up=True))
    env = FakeEnvironment(settings)
    start_container_with(env, run_dir, record)
    assert [call[0] for call in env.calls] == ["lock", "build", "compose", "run"]


def test_a_start_cancelled_before_the_container_removes_what_was_made(settings: Settings) -> None:
    """A stop asked for while the environment came up: CancelRequestedError, nothing left behind."""
    run_dir, record = prepare_run(_env(settings), RunRequest())
    env = FakeEnvironment(settings)
    with pytest.raises(CancelRequestedError):
        start_container_with(env, run_dir, record, cancelled=lambda: True)
    assert ("run", "test", f"p-test-run-{record.id}") not in env.calls
    assert FakeEngine.removed == [f"p-test-run-{record.id}"]


def test_a_failed_compose_run_logs_compose_output_and_removes_the_container(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """compose run fails: its whole output is logged, the half-made container removed, the error raised."""
    failure = EnvctlError("compose run failed")
    failure.output = "no such image"  # type: ignore[attr-defined]
    monkeypatch.setattr(FakeEnvironment, "run_error", failure)
    run_dir, record = prepare_run(_env(settings), RunRequest())
    env = FakeEnvironment(settings)
    with pytest.raises(EnvctlError, match="compose run failed"):
        start_container_with(env, run_dir, record)
    assert env.log.lines == [("the test container did not start",
                              {"error": "compose run failed", "compose_output": "no such image"})]
    assert FakeEngine.removed == [f"p-test-run-{record.id}"]


def test_environment_from_file_gives_back_what_the_starter_saw(settings: Settings) -> None:
    """start.json round-trips the settings, the project, the isolation and the request."""
    request = RunRequest(pytest_args=("-x",), timeout=9.0, shard="2/3", parent="parent-id")
    run_dir, _record = prepare_run(_env(settings, "iso-p", "tok"), request)
    env, again = environment_from_file(run_dir)
    assert again == request
    assert (env.settings, env.project, env.isolated_for) == (settings, "iso-p", "tok")


def test_start_detached_spawns_the_collector(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The run is prepared here; everything after it is the collector's, started for that run."""
    spawned: list[tuple[Path, ...]] = []
    monkeypatch.setattr(launch, "spawn_collector", lambda *dirs: spawned.append(dirs))
    run_dir, record = start_detached(_env(settings), RunRequest())
    assert spawned == [(run_dir,)]
    assert record.state is RunState.STARTING


def test_remove_container_ignores_engine_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """No name: nothing; a name: removed; an engine error is not raised (best effort)."""
    monkeypatch.setattr(engine_module, "Engine", FakeEngine)
    FakeEngine.reset([])
    remove_container(None)
    remove_container("c")
    assert FakeEngine.removed == ["c"]

    def broken(_self: FakeEngine, _name: str) -> None:
        raise EnvctlError("engine gone")

    monkeypatch.setattr(FakeEngine, "remove", broken)
    remove_container("c")


def start_container_with(env: FakeEnvironment, run_dir: Path, record: RunRecord,
                         cancelled: Callable[[], bool] = lambda: False,
                         while_compose_runs: Callable[[], None] = lambda: None) -> RunRecord:
    """start_container with ``env`` as the run's environment (start.json's request kept)."""
    _env_again, request = environment_from_file(run_dir)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(launch, "environment_from_file", lambda _run_dir: (cast("Environment", env), request))
        # The SDK's import in a thread would outlive the test (and reach for an engine): none here.
        patch.setattr(preload, "preload_sdk_in_background", lambda: None)
        return launch.start_container(run_dir, record, cancelled, while_compose_runs=while_compose_runs)


# ---- what the test container looks like ----

def test_the_mounted_runner_runs_the_command_under_the_timeout() -> None:
    """Mounted: the runner from the plugin folder, the exchange folder, then the command."""
    assert container.test_argv(("pytest",), ("-x",), 12.5) == \
        ["python3", "/envctl/envctl_runner.py", "12.5", "/envctl-run", "--", "pytest", "-x"]


def test_an_unmounted_runner_is_passed_inline_and_pytest_writes_the_junit() -> None:
    """Remote engine: the runner's source with -c, and pytest's own --junitxml in the container."""
    argv = container.test_argv(("python", "-m", "pytest"), (), 0.0, mounted=False)
    assert argv[:2] == ["python3", "-c"]
    assert argv[2] == (PLUGIN_DIR / "envctl_runner.py").read_text(encoding="utf-8")
    assert argv[3:] == ["0", UNMOUNTED_RUN_DIR, "--", "python", "-m", "pytest",
                        f"--junitxml={UNMOUNTED_RUN_DIR}/junit.xml"]


def test_the_override_mounts_the_plugin_input_and_exchange_read_only_but_the_last(tmp_path: Path) -> None:
    """Mounted: the plugin and input read-only, the exchange folder writable, the gate's wait
    and the shard passed in the environment; no CAP_MKNOD, the limits and labels."""
    run_dir = tmp_path / "r1"
    override = run_override("test", "p", "r1", run_dir, Limits(1 << 30, 1.5, 64), shard="1/2")
    spec = cast("dict[str, Any]", override["services"])["test"]
    assert (spec["mem_limit"], spec["memswap_limit"], spec["cpus"], spec["pids_limit"], spec["cap_drop"]) \
        == (1 << 30, 1 << 30, 1.5, 64, ["MKNOD"])
    assert [(v["target"], v.get("read_only", False)) for v in spec["volumes"]] == \
        [("/envctl", True), ("/envctl-in", True), ("/envctl-run", False)]
    assert [v["source"] for v in spec["volumes"]] == \
        [str(PLUGIN_DIR), str(run_dir / "input"), str(exchange.box(run_dir))]
    environment = spec["environment"]
    assert (environment["ENVCTL_GATE_WAIT"], environment["ENVCTL_SHARD"],
            environment["ENVCTL_DURATIONS"], environment["ENVCTL_ATTACH_GATE"]) == \
        (f"{GATE_WAIT:g}", "1/2", "/envctl-in/durations.json", "/envctl-in/attached")


def test_an_unmounted_override_has_only_the_limits_and_labels(tmp_path: Path) -> None:
    """Remote engine: no mounts and no plugin environment; only `-n auto`'s worker count."""
    override = run_override("test", "p", "r1", tmp_path, Limits(1, 1.0, 1), mounted=False)
    spec = cast("dict[str, Any]", override["services"])["test"]
    assert "volumes" not in spec
    assert spec["environment"] == {"PYTEST_XDIST_AUTO_NUM_WORKERS": "1"}


@pytest.mark.parametrize(("cpus", "workers"), [(0.5, "1"), (1.5, "1"), (2.0, "2"), (6.0, "6")])
def test_xdist_auto_starts_as_many_workers_as_whole_cpus(tmp_path: Path, cpus: float, workers: str) -> None:
    """`-n auto` in the container counts the CPU limit, not the host's CPUs."""
    override = run_override("test", "p", "r1", tmp_path, Limits(1, cpus, 1))
    spec = cast("dict[str, Any]", override["services"])["test"]
    assert spec["environment"]["PYTEST_XDIST_AUTO_NUM_WORKERS"] == workers


def test_a_worker_count_the_service_sets_is_kept(tmp_path: Path) -> None:
    """A service that sets PYTEST_XDIST_AUTO_NUM_WORKERS itself keeps its own value."""
    override = run_override("test", "p", "r1", tmp_path, Limits(1, 2.0, 1),
                            service_sets=frozenset({"PYTEST_XDIST_AUTO_NUM_WORKERS"}))
    spec = cast("dict[str, Any]", override["services"])["test"]
    assert "PYTEST_XDIST_AUTO_NUM_WORKERS" not in spec["environment"]
    assert container_name("p", "test", "r1") == "p-test-run-r1"


def test_a_resume_does_not_rotate_the_run_it_reads(settings: Settings, tmp_path: Path) -> None:
    """Past max_age, an ended run is rotated by the next start, but not by a resume's (which
    copies its results first)."""
    old_dir = make_run(tmp_path, exit_code=0)  # made in 2001
    prepare_run(_env(settings), RunRequest())  # the old run was the latest, kept as such
    prepare_run(_env(settings), RunRequest(resumes=old_dir.name))
    assert old_dir.exists()
    prepare_run(_env(settings), RunRequest())
    assert not old_dir.exists()
