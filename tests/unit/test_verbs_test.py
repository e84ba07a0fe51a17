"""The test verb: its option rules and what it starts, with the launch and the environment faked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import envctl.api
import envctl.runs.rerun
import envctl.runs.shards
from envctl.errors import UsageError
from envctl.runs.launch import RunRequest
from envctl.runs.state import Limits, RunRecord
from envctl.settings import Settings
from envctl.verbs import test as verb
from envctl.verbs.test import TestOptions
from tests.unit.run_dirs import RUN_ID, settings_at


class Launches:
    """Records what would be started: the environment (isolated, brought up) and the request."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.requests: list[RunRequest] = []
        self.envs: list[str] = []
        launches = self

        class FakeEnvironment:
            def __init__(self, settings: Settings, name: str = "plain") -> None:
                self.name = name

            @classmethod
            def isolated(cls, settings: Settings) -> FakeEnvironment:
                return cls(settings, "isolated")

            def ensure_up(self) -> None:
                launches.envs.append(f"{self.name} up")

        def start_detached(env: FakeEnvironment, request: RunRequest) -> tuple[Path, RunRecord]:
            self.envs.append(env.name)
            self.requests.append(request)
            return Path("/runs") / RUN_ID, self.record(RUN_ID)

        def start_shards(settings: Settings, request: RunRequest, shards: int, *,
                         engines: object = None, retry_infra: bool = False) -> tuple[Path, RunRecord]:
            self.envs.append(f"{shards} shards" + (f" on {engines}" if engines else ""))
            self.requests.append(request)
            return Path("/runs") / RUN_ID, self.record(RUN_ID)

        monkeypatch.setattr(envctl.api, "Environment", FakeEnvironment)
        monkeypatch.setattr(verb, "start_detached", start_detached)
        monkeypatch.setattr(envctl.runs.shards, "start_shards", start_shards)

    @staticmethod
    def record(run_id: str) -> RunRecord:
        return RunRecord(id=run_id, project="p", service="test", command=[], limits=Limits(1 << 30, 1.0, 100))


@pytest.fixture
def launches(monkeypatch: pytest.MonkeyPatch) -> Launches:
    """The launch, shards and environment replaced by recorders."""
    return Launches(monkeypatch)


def test_json_goes_with_detach() -> None:
    """--json prints the started run: without --detach it is a usage error."""
    with pytest.raises(UsageError, match="it goes with --detach"):
        verb.check_options(TestOptions(as_json=True))
    verb.check_options(TestOptions(as_json=True, detach=True))


def test_a_foreground_run_brings_the_environment_up_first(tmp_path: Path, launches: Launches) -> None:
    """In the foreground the environment comes up here (its progress shows); detached, not."""
    settings = settings_at(tmp_path)
    started = verb.start_run(settings, TestOptions(pytest_args=("-k", "x")))
    assert (started.run_dir, started.notes, started.rerun) == (Path("/runs") / RUN_ID, (), None)
    verb.start_run(settings, TestOptions(detach=True, isolated=True))
    verb.start_run(settings, TestOptions(no_up=True))
    assert launches.envs == ["plain up", "plain", "isolated", "plain"]
    assert launches.requests[0].pytest_args == ("-k", "x")
    assert launches.requests[2].no_up is True


def test_shards_start_through_the_shards(tmp_path: Path, launches: Launches) -> None:
    """--shards N starts N shards (no environment of its own here)."""
    started = verb.start_run(settings_at(tmp_path), TestOptions(shards=3, detach=True))
    assert (started.record is not None and started.record.id, launches.envs) == (RUN_ID, ["3 shards"])


@pytest.mark.parametrize(("options", "message"), [
    (TestOptions(shard="3/2"), "--shard: '3/2': K must be between 1 and N"),
    (TestOptions(shard="half"), "--shard: 'half' is not a shard; use K/N, e.g. 2/4"),
    (TestOptions(shard="1/2", shards=2), "--shards takes a number >= 1, and does not combine with --shard"),
    (TestOptions(shards=0), "--shards takes a number >= 1, and does not combine with --shard"),
])
def test_shard_rules(tmp_path: Path, launches: Launches, options: TestOptions, message: str) -> None:
    """A shard is K/N with 1 <= K <= N, and --shard and --shards do not combine."""
    with pytest.raises(UsageError) as caught:
        verb.start_run(settings_at(tmp_path), options)
    assert caught.value.message == message
    assert launches.requests == []


def test_a_shard_is_passed_on(tmp_path: Path, launches: Launches) -> None:
    """A valid --shard reaches the request."""
    verb.start_run(settings_at(tmp_path), TestOptions(shard="2/3", detach=True))
    assert launches.requests[0].shard == "2/3"


def fake_rerun(monkeypatch: pytest.MonkeyPatch, nodeids: list[str], refused: list[str],
               carried: list[str], *, host: bool = False) -> None:
    def failed_nodeids(_settings: Any, source: str) -> tuple[str, list[str], list[str]]:
        return f"run {source}", nodeids, refused

    monkeypatch.setattr(envctl.runs.rerun, "failed_nodeids", failed_nodeids)
    monkeypatch.setattr(envctl.runs.rerun, "rerun_options", lambda *_args: carried)
    monkeypatch.setattr(envctl.runs.rerun, "ran_on_host", lambda *_args: host)


def test_a_rerun_runs_the_failed_tests_with_the_first_runs_options(
        tmp_path: Path, launches: Launches, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first run's options, then those given now, then the failed tests; refused ids noted."""
    fake_rerun(monkeypatch, ["t.py::a", "t.py::b"], ["-x"], ["-p", "no:randomly"])
    started = verb.start_run(settings_at(tmp_path), TestOptions(
        pytest_args=("-q",), detach=True, rerun_failed="latest"))
    assert launches.requests[0].pytest_args == ("-p", "no:randomly", "-q", "t.py::a", "t.py::b")
    assert started.rerun == 2
    assert started.notes == (
        "not rerunning 1 test id(s) that cannot be pytest arguments (options, argument files, "
        "control characters): '-x'",
        "rerunning 2 failed test(s) of run latest",
        "with the options: -p no:randomly -q")


def test_a_rerun_of_a_host_runs_failures_runs_on_the_host(
        tmp_path: Path, launches: Launches, monkeypatch: pytest.MonkeyPatch) -> None:
    """The failures of a `test --host` run are rerun where they failed, and the notes say so."""
    fake_rerun(monkeypatch, ["t.py::a"], [], [], host=True)
    started = verb.start_run(settings_at(tmp_path), TestOptions(detach=True, rerun_failed="latest"))
    assert (launches.requests[0].host, launches.requests[0].cwd) == (True, str(tmp_path))
    assert started.notes == ("rerunning 1 failed test(s) of run latest",
                             "on this machine (--host), as the run that failed did")


def test_nothing_to_rerun_starts_nothing(tmp_path: Path, launches: Launches,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """No failures: nothing started, and why; in the background that is an error."""
    fake_rerun(monkeypatch, [], [], [])
    started = verb.start_run(settings_at(tmp_path), TestOptions(rerun_failed=RUN_ID))
    assert (started.run_dir, started.notes, started.rerun) == (
        None, (f"nothing failed in run {RUN_ID}; nothing to rerun",), 0)
    with pytest.raises(UsageError, match="nothing failed in"):
        verb.start_in_background(settings_at(tmp_path), TestOptions(rerun_failed=RUN_ID))
    assert launches.requests == []


def test_a_background_start_is_detached(tmp_path: Path, launches: Launches) -> None:
    """The MCP tools start in the background: no environment brought up first."""
    launched = verb.start_in_background(settings_at(tmp_path), TestOptions())
    assert (launched.run_dir, launched.record.id) == (Path("/runs") / RUN_ID, RUN_ID)
    assert launches.envs == ["plain"]


def test_resume_runs_the_rest_as_it_ran() -> None:
    """--resume takes its shape from the run it resumes: no --rerun-failed, --shard(s) or
    --isolated with it; --force only with it."""
    for options, flags in ((TestOptions(resume="r", rerun_failed="r"), "--rerun-failed"),
                           (TestOptions(resume="r", shard="1/2", shards=2), "--shard, --shards"),
                           (TestOptions(resume="r", isolated=True), "--isolated")):
        with pytest.raises(UsageError, match=f"does not combine with {flags}$"):
            verb.check_options(options)
    with pytest.raises(UsageError, match="--force goes with --resume"):
        verb.check_options(TestOptions(force=True))
    verb.check_options(TestOptions(resume="r", force=True, detach=True, as_json=True))


def test_a_resume_starts_the_plans_request_in_its_environment(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's environment (up first in the foreground), request and setup are started; its
    notes are said."""
    import envctl.runs.resume  # noqa: PLC0415

    asked: list[tuple[str, bool, tuple[str, ...], bool]] = []
    started: list[tuple[str, RunRequest, object]] = []

    class Env:
        def ensure_up(self) -> None:
            started.append(("up", RunRequest(), None))

    def setup(run_dir: Path) -> None:
        """Writes the selection."""

    class Plan:
        env = Env()
        request = RunRequest(resumes=RUN_ID)
        notes = ("resuming",)

    Plan.setup = staticmethod(setup)  # type: ignore[attr-defined]

    def plan(settings: Settings, source: str, *, force: bool, pytest_args: tuple[str, ...],
             no_up: bool) -> Plan:
        asked.append((source, force, pytest_args, no_up))
        return Plan()

    def start_detached(env: Env, request: RunRequest, *, setup: object) -> tuple[Path, RunRecord]:
        started.append(("start", request, setup))
        return Path("/runs") / RUN_ID, Launches.record(RUN_ID)

    monkeypatch.setattr(envctl.runs.resume, "plan", plan)
    monkeypatch.setattr(verb, "start_detached", start_detached)
    options = TestOptions(resume="latest", force=True, pytest_args=("-v",))
    result = verb.start_run(settings_at(tmp_path), options)
    assert asked == [("latest", True, ("-v",), False)]
    assert started == [("up", RunRequest(), None), ("start", RunRequest(resumes=RUN_ID), setup)]
    assert (result.run_dir, result.notes) == (Path("/runs") / RUN_ID, ("resuming",))


def test_a_shards_run_is_resumed_under_a_new_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A --shards run's resume starts a new parent, detached or followed in the foreground (the
    terminal follows its shards as for --shards)."""
    import envctl.runs.resume  # noqa: PLC0415
    import envctl.runs.resume_shards  # noqa: PLC0415

    first = Launches.record(RUN_ID)
    shards_plan = envctl.runs.resume.ShardsPlan(Path("/runs") / RUN_ID, first, (first,), ("note",))
    monkeypatch.setattr(envctl.runs.resume, "plan", lambda *_a, **_k: shards_plan)
    monkeypatch.setattr(envctl.runs.resume_shards, "start",
                        lambda settings, plan: (Path("/runs/p2"), Launches.record("20260101-000009-abcd")))
    for detach in (False, True):
        started = verb.start_run(settings_at(tmp_path), TestOptions(resume=RUN_ID, detach=detach))
        assert (started.run_dir, started.notes) == (Path("/runs/p2"), ("note",))


def test_a_host_run_carries_the_callers_folder(tmp_path: Path, launches: Launches) -> None:
    """--host: the request says so, with the folder the tests run in (the caller's, else the
    project's: an MCP server's own folder is nobody's choice)."""
    verb.start_run(settings_at(tmp_path), TestOptions(host=True, detach=True, cwd="/work/sub"))
    verb.start_run(settings_at(tmp_path), TestOptions(host=True, detach=True))
    verb.start_run(settings_at(tmp_path), TestOptions(detach=True, cwd="/work/sub"))
    assert [(r.host, r.cwd) for r in launches.requests] == [
        (True, "/work/sub"), (True, str(tmp_path)), (False, None)]


def test_host_does_not_combine_with_shards_isolated_or_resume() -> None:
    """--host --shards, --host --isolated and --host --resume are usage errors that say why."""
    with pytest.raises(UsageError, match="--shards does not combine with it"):
        verb.check_options(TestOptions(host=True, shards=2))
    with pytest.raises(UsageError, match="--isolated does not combine with it"):
        verb.check_options(TestOptions(host=True, isolated=True))
    with pytest.raises(UsageError, match="does not combine with --host"):
        verb.check_options(TestOptions(host=True, resume="latest"))


def test_engines_place_shards_so_they_need_shards() -> None:
    """--engines without --shards has nothing to place: said before anything is read."""
    with pytest.raises(UsageError, match="--engines goes with --shards N"):
        verb.check_options(TestOptions(engines_given=True))
    verb.check_options(TestOptions(engines_given=True, shards=2))


def test_retry_infra_is_about_shards() -> None:
    """--retry-infra without --shards: a usage error before anything is read."""
    with pytest.raises(UsageError, match="--retry-infra goes with --shards N"):
        verb.check_options(TestOptions(retry_infra=True))
    verb.check_options(TestOptions(retry_infra=True, shards=2))
