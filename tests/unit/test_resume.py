"""`test --resume`'s plan: which runs can be resumed, which tests, with which options, and when
it is refused (a fake environment; the fingerprint taken now is a stand-in)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from envctl.docker.models import ServiceSpec
from envctl.env import environment as environment_module
from envctl.errors import ExitCode, NothingToResumeError, ResumeRefusedError, RunActiveError
from envctl.runs import fingerprint, lifecycle, resume
from envctl.runs.exchange import EVENTS_FILE, INPUT_DIR
from envctl.runs.launch import RunRequest, prepare_run
from envctl.runs.outcome import EndFacts
from envctl.runs.remainder import SELECT_FILE
from envctl.runs.resumed_result import RESUME_FILE
from envctl.runs.state import RunRecord, RunState
from envctl.settings import Settings, load_settings
from tests.unit.fake_engine import FakeEnvironment
from tests.unit.test_remainder import IDS, cut_short

NOW: dict[str, Any] = {"code": {"commit": None, "files": "f", "count": 1, "cut": False},
       "environment": {"compose": "k", "images": {"test": "sha256:1"}}}


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A project in tmp_path on a fake environment, its fingerprint now always NOW."""
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setattr(environment_module, "Environment", FakeEnvironment)
    monkeypatch.setattr(FakeEnvironment, "spec", ServiceSpec(
        name="test", image="img", build_context=None, dockerfile=None, has_healthcheck=False,
        restart="no", depends_on={}, ports=()))
    monkeypatch.setattr(fingerprint, "current", lambda env: json.loads(json.dumps(NOW)))
    return load_settings(tmp_path, environ={"ENVCTL_LOG_DIR": str(tmp_path / "runs")})


CANCELLED = EndFacts(cancel_requested=True)


def first_run(settings: Settings, facts: EndFacts | None = CANCELLED, stream: bytes | None = None, *,
              recorded: dict[str, Any] | None = NOW, shard: str | None = None) -> RunRecord:
    """A run started with `-x` and a 60 s timeout, cut short (by default: cancelled) after 2 of
    IDS finished, the third running."""
    env: Any = FakeEnvironment(settings)
    run_dir, _record = prepare_run(env, RunRequest(pytest_args=("-x",), timeout=60.0, shard=shard))
    (run_dir / EVENTS_FILE).write_bytes(cut_short(IDS, IDS[:2], [IDS[2]]) if stream is None else stream)
    if recorded is not None:
        (run_dir / fingerprint.FINGERPRINT_FILE).write_text(json.dumps(recorded))
    lifecycle.mark_running(run_dir)
    return lifecycle.finish(run_dir, facts) if facts is not None else RunRecord.load(run_dir)


def one(resumed: resume.Plan | resume.ShardsPlan) -> resume.Plan:
    assert isinstance(resumed, resume.Plan)
    return resumed


def shards_run(settings: Settings) -> RunRecord:
    """A --shards run of 2, timed out: shard 1/2 cancelled with tests left, shard 2/2 passed."""
    cut, passed = first_run(settings, shard="1/2"), first_run(settings, EndFacts(exit_code=0), shard="2/2")
    parent_dir = settings.resolved_log_dir / "20260101-000000-abcd"
    parent_dir.mkdir()
    (parent_dir / "start.json").write_text(json.dumps({"durations_file": "d.json", "pytest_args": []}))
    return lifecycle.create(parent_dir, RunRecord(
        id=parent_dir.name, project="p", service="test", command=["pytest"], limits=cut.limits,
        state=RunState.TIMED_OUT, children=[cut.id, passed.id]))


def test_a_cancelled_run_resumes_with_its_options_and_the_tests_left(settings: Settings) -> None:
    """The tests not finished, the first run's request with `resumes`, the arguments given now
    after its own; what is said."""
    first = first_run(settings)
    plan = one(resume.plan(settings, first.id, pytest_args=("-v",)))
    assert plan.remainder is not None and plan.remainder.nodeids == tuple(IDS[2:])
    assert plan.request == RunRequest(pytest_args=("-x", "-v"), timeout=60.0, resumes=first.id)
    assert plan.notes == (f"resuming run {first.id}: 3 test(s) left of 5 (1 running when it ended, "
                          "2 never started)",)


def test_flags_given_now_override_the_first_runs_limits(settings: Settings, tmp_path: Path) -> None:
    """--timeout (and --memory, --cpus, --pids) given with --resume win; --no-up too."""
    first = first_run(settings)
    given = load_settings(tmp_path, flags={"run_timeout": "5m", "memory": "1g"},
                          environ={"ENVCTL_LOG_DIR": str(tmp_path / "runs")})
    plan = one(resume.plan(given, "latest", no_up=True))
    assert (plan.request.timeout, plan.request.memory, plan.request.cpus, plan.request.no_up,
            plan.request.resumes) == (300.0, 1 << 30, None, True, first.id)


def test_the_setup_hands_the_container_its_tests_and_keeps_the_first_part(settings: Settings,
                                                                          tmp_path: Path) -> None:
    """Into the new run's directory: input/select.json, the first run's results, resume.json."""
    first = first_run(settings)
    plan = one(resume.plan(settings, first.id))
    run_dir = tmp_path / "new"
    (run_dir / INPUT_DIR).mkdir(parents=True)
    plan.setup(run_dir)
    assert json.loads((run_dir / INPUT_DIR / SELECT_FILE).read_text()) == IDS[2:]
    assert json.loads((run_dir / RESUME_FILE).read_text())["resumes"] == first.id


@pytest.mark.parametrize("facts", [EndFacts(exit_code=0), EndFacts(exit_code=1), EndFacts(exit_code=5)])
def test_a_run_that_ended_by_itself_has_nothing_to_resume(settings: Settings, facts: EndFacts) -> None:
    """passed, failed, no-tests: every test ran; said with its own exit code."""
    first = first_run(settings, facts)
    ended = f"run {first.id} {first.state.value}: it ended by itself"
    with pytest.raises(NothingToResumeError, match=ended) as info:
        resume.plan(settings, first.id)
    assert info.value.exit_code is ExitCode.NOTHING_TO_RESUME


def test_a_run_whose_every_test_finished_has_nothing_to_resume(settings: Settings) -> None:
    """Cut short after its last test reported: nothing left."""
    first = first_run(settings, stream=cut_short(IDS, IDS, []))
    with pytest.raises(NothingToResumeError, match=r"every test run \S+ collected finished \(5 of 5\)"):
        resume.plan(settings, first.id)


def test_a_run_still_going_cannot_be_resumed(settings: Settings) -> None:
    """Running: RunActiveError (18), naming wait and stop."""
    first = first_run(settings, None)
    with pytest.raises(RunActiveError, match="is still running"):
        resume.plan(settings, first.id)


def test_a_changed_fingerprint_refuses_and_force_resumes(settings: Settings) -> None:
    """Another commit: refused with exit 28, saying what changed; --force resumes and says so."""
    first = first_run(settings, recorded={**NOW, "code": {**NOW["code"], "commit": "a" * 40}})
    with pytest.raises(ResumeRefusedError, match=r"the commit changed \(aaaaaaaaaaaa -> none\)") as info:
        resume.plan(settings, first.id)
    assert (info.value.exit_code, info.value.hint is not None and "--force" in info.value.hint) == \
        (ExitCode.RESUME_REFUSED, True)
    plan = one(resume.plan(settings, first.id, force=True))
    assert plan.notes[-1] == "resuming despite: the commit changed (aaaaaaaaaaaa -> none)"


def test_a_run_without_a_fingerprint_is_refused_unless_forced(settings: Settings) -> None:
    """No fingerprint.json (an older run, a start cut short): a change cannot be ruled out."""
    first = first_run(settings, recorded=None)
    with pytest.raises(ResumeRefusedError, match="recorded no fingerprint"):
        resume.plan(settings, first.id)
    assert one(resume.plan(settings, first.id, force=True)).request.resumes == first.id


def test_events_that_do_not_list_the_collection_are_refused(settings: Settings) -> None:
    """A run from before the ids were listed: which tests never started is unknown; even --force."""
    first = first_run(settings, stream=b'{"kind": "collected", "total": 5}\n')
    with pytest.raises(ResumeRefusedError, match="do not list every test it collected"):
        resume.plan(settings, first.id, force=True)


def test_a_run_cut_short_before_it_collected_runs_everything(settings: Settings, tmp_path: Path) -> None:
    """No collection at all (the environment failed first): every test runs, no selection."""
    first = first_run(settings, EndFacts(infra_error="db did not start"), stream=b"")
    plan = one(resume.plan(settings, first.id))
    assert (plan.remainder, plan.notes) == (None, (f"run {first.id} ended before it collected its tests: "
                                                   "running all of them",))
    run_dir = tmp_path / "new"
    (run_dir / INPUT_DIR).mkdir(parents=True)
    plan.setup(run_dir)
    assert not (run_dir / INPUT_DIR / SELECT_FILE).exists()


def test_a_shards_run_resumes_each_shard_cut_short_and_keeps_the_others(settings: Settings) -> None:
    """The shard cut short resumes its own remainder (as a shard of the same split); the shard
    that passed is kept as it ended; the notes name the shard."""
    parent = shards_run(settings)
    plan = resume.plan(settings, parent.id)
    assert isinstance(plan, resume.ShardsPlan)
    cut, kept = plan.shards
    assert isinstance(cut, resume.Plan) and isinstance(kept, RunRecord)
    assert (cut.request.resumes, cut.request.shard, kept.id, kept.state) == \
        (parent.children[0], "1/2", parent.children[1], RunState.PASSED)
    assert cut.remainder is not None and cut.remainder.nodeids == tuple(IDS[2:])
    assert plan.notes == (f"shard 1/2: resuming run {parent.children[0]}: 3 test(s) left of 5 (1 running "
                          "when it ended, 2 never started)",)


def test_a_shards_run_whose_shards_all_ended_by_themselves_has_nothing_to_resume(settings: Settings) -> None:
    """A parent in a state to resume whose shards all ended by themselves: nothing to resume."""
    parent = shards_run(settings)
    for child in parent.children:
        record = RunRecord.load(settings.resolved_log_dir / child)
        record.state = RunState.FAILED
        lifecycle.save(settings.resolved_log_dir / child, record)
    with pytest.raises(NothingToResumeError, match=f"every shard of run {parent.id} ended by itself"):
        resume.plan(settings, parent.id)


def test_a_run_without_the_plugin_is_refused(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run on a remote engine (no plugin, no events): which tests finished is not known."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.2:2375")
    first = first_run(settings)
    with pytest.raises(ResumeRefusedError, match="without envctl's plugin"):
        resume.plan(settings, first.id)


def test_hostile_ids_are_left_out_and_said(settings: Settings) -> None:
    """An id that cannot name a test exactly is not resumed; the note says which."""
    stream = b"".join(json.dumps(line).encode() + b"\n" for line in (
        {"kind": "collected", "total": 2}, {"kind": "tests", "ids": [IDS[0], "-p evil"]}))
    first = first_run(settings, stream=stream)
    plan = one(resume.plan(settings, first.id))
    assert plan.notes[0] == ("not resuming 1 test(s) whose ids cannot name a test exactly (control "
                             "characters, options, too long): '-p evil'")
    assert plan.remainder is not None and plan.remainder.nodeids == (IDS[0],)


def test_the_record_says_what_it_resumes(settings: Settings) -> None:
    """`resumes` round-trips through run.json; a value that is no run id is a damaged record."""
    first = first_run(settings)
    record = RunRecord.from_dict({**first.to_dict(), "resumes": first.id})
    assert record.resumes == first.id
    assert RunRecord.from_dict({k: v for k, v in first.to_dict().items() if k != "resumes"}).resumes is None
    with pytest.raises(ValueError, match="'resumes' is not a run id"):
        RunRecord.from_dict({**first.to_dict(), "resumes": "../x"})
    assert first.state is RunState.CANCELLED


def test_options_that_select_by_pytests_cache_are_not_carried() -> None:
    """--lf, --sw and --lfnf (its value too) would leave out tests the first run never reached;
    paths, -k and the rest are kept, as is anything after `--`."""
    assert resume.without_the_cache(("tests", "--lf", "-k", "x", "--lfnf", "all", "--sw", "--stepwise-skip",
                                     "--last-failed-no-failures=none", "-x", "--", "--lf")) == \
        ("tests", "-k", "x", "-x", "--", "--lf")
