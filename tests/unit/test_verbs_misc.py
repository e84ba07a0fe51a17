"""The small verbs: report, gc, doctor/config/init, up/down/ps and the engine's context, each
on a tmp project with its work faked where it would reach an engine."""

from __future__ import annotations

import dataclasses
import socket
from pathlib import Path
from typing import Any, ClassVar

import pytest

import envctl.docker.context
import envctl.docker.engine
import envctl.doctor
import envctl.env.environment
import envctl.gc
import envctl.init
from envctl.doctor import Check, CheckStatus
from envctl.errors import EngineUnavailableError, UsageError
from envctl.init import Written
from envctl.settings import Settings
from envctl.verbs import engine, env, gc, report, runs, setup
from envctl.verbs.report import ReportOptions
from tests.unit.run_dirs import OTHER_ID, RUN_ID, make_run, settings_at


@pytest.mark.parametrize(("options", "expected"), [
    (ReportOptions(), "md"), (ReportOptions(fmt="csv"), "csv"), (ReportOptions(as_json=True), "json"),
    (ReportOptions(fmt="json", as_json=True), "json"),
])
def test_report_formats(options: ReportOptions, expected: str) -> None:
    """--json is --format json; every format named is kept."""
    assert report.check_options(options) == expected


@pytest.mark.parametrize(("options", "message"), [
    (ReportOptions(fmt="yaml"), "--format 'yaml': expected one of md, json, csv, junit, html"),
    (ReportOptions(fmt="csv", as_json=True), "--json and --format csv ask for two formats"),
    (ReportOptions(inputs=(Path("x"),)), "only `report merge` takes more than one argument"),
])
def test_report_rules(options: ReportOptions, message: str) -> None:
    """An unknown format, two formats, or inputs without `merge`: usage errors."""
    with pytest.raises(UsageError) as caught:
        report.check_options(options)
    assert caught.value.message == message


def test_report_of_a_run_as_json(tmp_path: Path) -> None:
    """A run's report in JSON names the run and its state."""
    import json  # noqa: PLC0415

    make_run(tmp_path, exit_code=0)
    data = json.loads(report.render(runs.open_run(settings_at(tmp_path)), "json"))
    assert (data["run"], data["state"]) == (RUN_ID, "passed")


def test_report_merge_writes_junit_and_durations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """merge reads the inputs, writes the JUnit asked for and the durations, and gives the code."""
    from envctl.report import merge as merging  # noqa: PLC0415
    from envctl.report import summary  # noqa: PLC0415
    from envctl.runs import history as runs_history  # noqa: PLC0415

    written: list[tuple[str, Path]] = []
    monkeypatch.setattr(merging, "merge", lambda inputs: {"inputs": inputs})
    monkeypatch.setattr(merging, "write_junit", lambda _r, path: written.append(("junit", path)))
    monkeypatch.setattr(merging, "write_durations", lambda _r, path: written.append(("durations", path)))
    monkeypatch.setattr(merging, "exit_code", lambda _r: 1)
    monkeypatch.setattr(summary, "merged_render",
                        lambda results, fmt, code, verdict: f"{results} {fmt} {code} {verdict}")
    monkeypatch.setattr(runs_history, "merged_verdict", lambda inputs, _results, path: (inputs, path.name))
    settings = settings_at(tmp_path)
    merged = report.merge(settings, ReportOptions(run="merge", inputs=(Path("a"),), junit_out=Path("j.xml")),
                          "md")
    assert (merged.text, merged.exit_code) == ("{'inputs': [PosixPath('a')]} md 1 ((PosixPath('a'),), "
                                               "'history.jsonl')", 1)
    assert written == [("junit", Path("j.xml")), ("durations", settings.resolved_durations_file)]


def test_gc_ages() -> None:
    """--older-than in seconds; none leaves projects alone; a bad one is a usage error."""
    assert gc.older_than_seconds("2h") == 7200.0
    assert gc.older_than_seconds(None) is None
    with pytest.raises(UsageError, match="--older-than 'old'"):
        gc.older_than_seconds("old")


def test_gc_rotates_runs_past_keep(tmp_path: Path) -> None:
    """keep_runs=1: the older run goes."""
    make_run(tmp_path, RUN_ID, exit_code=0)
    make_run(tmp_path, OTHER_ID, exit_code=0)
    settings = dataclasses.replace(settings_at(tmp_path), keep_runs=1)
    assert gc.rotate_runs(settings) == [RUN_ID]


def test_gc_removes_stale_projects_with_the_docker_timeout(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The projects' removal gets the age and the settings' Docker timeout."""
    asked: list[tuple[float, float]] = []

    def remove(age: float, *, timeout: float) -> dict[str, str]:
        asked.append((age, timeout))
        return {"p-iso-1": "1 container"}

    monkeypatch.setattr(envctl.gc, "remove_stale_projects", remove)
    settings = settings_at(tmp_path)
    assert gc.remove_projects(settings, 60.0) == {"p-iso-1": "1 container"}
    assert asked == [(60.0, settings.docker_timeout)]


def test_gc_and_down_clean_every_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With engines, gc removes stale projects on each (named after its project; one that does
    not answer is said, the others still cleaned) and down removes the project's idle shards
    there, except those of runs not yet ended (their collectors still copy out of them); this
    process's own engine is not asked twice."""
    monkeypatch.setenv("DOCKER_HOST", "unix:///var/run/docker.sock")
    hosts = {"default": "unix:///var/run/docker.sock", "e2": "unix:///run/e2/docker.sock",
             "gone": "unix:///run/gone.sock"}
    monkeypatch.setattr(envctl.docker.context, "engine_address", hosts.__getitem__)
    asked: list[str | None] = []

    def remove(_age: float, *, timeout: float, host: str | None = None) -> dict[str, str]:
        asked.append(host)
        if host == hosts["gone"]:
            raise EngineUnavailableError("the Docker engine at unix:///run/gone.sock does not answer")
        return {"p-s1-abc": "1 container"}

    monkeypatch.setattr(envctl.gc, "remove_stale_projects", remove)
    settings = dataclasses.replace(settings_at(tmp_path), engines=("default", "e2", "gone"))
    assert gc.remove_projects(settings, 60.0) == {
        "p-s1-abc": "1 container", "p-s1-abc on e2": "1 container",
        "(engine gone)": "not reached: the Docker engine at unix:///run/gone.sock does not answer"}
    assert asked == [None, hosts["e2"], hosts["gone"]]

    idle: list[tuple[str, str | None, frozenset[str], str | None]] = []

    def remove_idle(base: str, *, timeout: float, host: str | None = None,
                    keep: frozenset[str] = frozenset(), checkout: str | None = None) -> list[str]:
        idle.append((base, host, keep, checkout))
        return []

    monkeypatch.setattr(envctl.gc, "remove_idle_isolated", remove_idle)
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    assert env.down(dataclasses.replace(settings, engines=("default", "e2")), volumes=False) == "p"
    make_run(tmp_path, RUN_ID, compose_project="p-s2-abc123")  # still running: kept
    make_run(tmp_path, OTHER_ID, exit_code=0, compose_project="p-s1-abc123")  # ended: removable
    assert env.down(dataclasses.replace(settings, engines=("default", "e2")), volumes=False) == "p"
    ours = f"{socket.gethostname()}:{tmp_path}"  # this checkout: another's shards are its own
    assert idle == [("p", hosts["e2"], frozenset(), ours),
                    ("p", hosts["e2"], frozenset({"p-s2-abc123"}), ours)]


def test_doctor_fails_when_a_check_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One failed check: the doctor fails with its exit code (16); warnings alone pass."""
    checks = [Check("engine", CheckStatus.OK, "20.10"), Check("images", CheckStatus.FAIL, "missing")]
    monkeypatch.setattr(envctl.doctor, "run_checks", lambda _settings: checks)
    result = setup.doctor(settings_at(tmp_path))
    assert (result.failed, result.exit_code) == (True, 16)
    monkeypatch.setattr(envctl.doctor, "run_checks", lambda _settings: checks[:1])
    assert setup.doctor(settings_at(tmp_path)).exit_code == 0


def test_config_and_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """config is the settings view; init writes in the project directory."""
    settings = settings_at(tmp_path)
    assert setup.config(settings)["settings"]["log_dir"]["source"] == "env ENVCTL_LOG_DIR"
    monkeypatch.setattr(envctl.init, "init", lambda project_dir, *, workflow, **_kw: [
        Written(project_dir / "envctl.toml", created=workflow)])
    assert setup.init(settings, workflow=True) == [Written(tmp_path / "envctl.toml", True)]  # type: ignore[comparison-overlap]


class FakeEnvironment:
    """A compose project that comes up at once; records what it was asked."""

    asked: ClassVar[list[str]] = []

    def __init__(self, settings: Settings, *, project: str = "p") -> None:
        self.project = project
        self.on_progress: Any = None

    @classmethod
    def isolated(cls, settings: Settings) -> FakeEnvironment:
        return cls(settings, project="p-iso-1")

    def up(self, services: list[str], *, build: bool | None, keep_on_failure: bool) -> list[Any]:
        self.asked.append(f"up {services} {build} {keep_on_failure}")
        return [_Report("db", "ready"), _Report("init", "completed")]

    def down(self, *, volumes: bool) -> None:
        self.asked.append(f"down {volumes}")

    def ps(self) -> list[str]:
        return ["db"]


class _Report:
    def __init__(self, service: str, phase: str) -> None:
        self.service = service
        self.phase = _Phase(phase)


class _Phase:
    def __init__(self, value: str) -> None:
        self.value = value


def test_up_down_ps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """up passes its options and progress on; down names the project; ps lists its services."""
    monkeypatch.setattr(envctl.env.environment, "Environment", FakeEnvironment)
    FakeEnvironment.asked = []
    settings = settings_at(tmp_path)
    project = env.environment(settings, isolated=True)
    progress = lambda _service, _verdict: None  # noqa: E731
    reports = env.up(project, env.UpOptions(services=("db",), build=False), on_progress=progress)
    assert (env.ready_line(reports), project.on_progress) == ("db (ready), init (completed)", progress)
    assert env.down(settings, volumes=True) == "p"
    assert env.ps(settings) == env.Services("p", ["db"])
    assert FakeEnvironment.asked == ["up ['db'] False False", "down True"]


def test_a_context_is_used_unless_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """--context default (or none) keeps docker's choice; any other is pointed at."""
    used: list[str] = []
    monkeypatch.setattr(envctl.docker.engine, "use_context", used.append)
    for context in (None, "", "default", "remote"):
        engine.use_context(context)
    assert used == ["remote"]


def test_gc_purges_the_folders_the_host_cannot_remove(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An orphan exchange folder the host cannot remove is handed to the helper by gc (only)."""
    from envctl.runs import exchange, leftovers  # noqa: PLC0415

    make_run(tmp_path, RUN_ID, exit_code=0)
    make_run(tmp_path, OTHER_ID, exit_code=0)
    box = exchange.box(tmp_path / "runs" / RUN_ID)
    exchange.create_dirs(tmp_path / "runs" / RUN_ID)
    (box / "tmp").mkdir()
    real = exchange.remove_tree

    def refused(path: str) -> None:
        if Path(path).is_relative_to(box):
            raise PermissionError(13, "Permission denied", path)
        real(path)

    asked: list[tuple[str, Path]] = []

    def purge(image: str, folder: Path) -> bool:
        asked.append((image, folder))
        real(str(folder / "tmp"))
        return True

    monkeypatch.setattr(exchange, "remove_tree", refused)
    monkeypatch.setattr(leftovers, "purge_with_engine", purge)
    monkeypatch.setattr(leftovers, "run_images", lambda _log_dir: ["img"])
    settings = dataclasses.replace(settings_at(tmp_path), keep_runs=1)
    assert gc.rotate_runs(settings) == [RUN_ID]
    assert (asked, box.exists()) == ([("img", box)], False)
