"""`envctl init --k8s`: the Indexed Job's meaning, read back from its YAML, and the manifest
checked against the schema of a current Kubernetes release (offline, with kubernetes-validate)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# kubernetes-validate ships no type information; what the tests use of it is two functions.
from kubernetes_validate import utils as kubernetes_validate  # type: ignore[import-untyped]

import envctl.init
from envctl.ci_shard import resolve_shard
from envctl.cli import main
from envctl.errors import ExitCode, UsageError
from envctl.init import Report, Written
from envctl.init import k8s as kubernetes
from envctl.runs.state import ENVCTL_CODES, PYTEST_STATES, RunState
from envctl.verbs import setup
from tests.unit.run_dirs import settings_at

# Codes an `envctl test --shard` never ends with (other verbs' answers), or that Kubernetes'
# default counts toward the retries as the Count rule would (a stop asked for, a bug, a signal).
LEFT_TO_DEFAULT = {ExitCode.OK, ExitCode.DOCTOR_FAILED, ExitCode.RUN_NOT_FOUND, ExitCode.RUN_ACTIVE,
                   ExitCode.RUN_DAMAGED, ExitCode.WAIT_TIMEOUT, ExitCode.NOTHING_TO_RESUME,
                   ExitCode.RESUME_REFUSED, ExitCode.CANCELLED, ExitCode.INTERNAL,
                   ExitCode.INTERRUPTED, ExitCode.TERMINATED}


def documents(shards: int = 3) -> dict[str, dict[str, Any]]:
    """The manifest's documents by kind (one of each)."""
    docs = [doc for doc in yaml.safe_load_all(kubernetes.job_manifest(shards)) if doc]
    by_kind = {doc["kind"]: doc for doc in docs}
    assert len(by_kind) == len(docs)
    return by_kind


def pod_spec(shards: int = 3) -> dict[str, Any]:
    spec: dict[str, Any] = documents(shards)["Job"]["spec"]["template"]["spec"]
    return spec


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [c for c in [*spec.get("initContainers", []), *spec["containers"]]
                                   if c["name"] == name]
    assert len(found) == 1
    return found[0]


def mounts(of: dict[str, Any]) -> dict[str, str]:
    """mountPath -> volume name."""
    return {m["mountPath"]: m["name"] for m in of["volumeMounts"]}


def test_the_manifest_is_valid_kubernetes_strictly() -> None:
    """The four documents pass --strict against 1.33 (its features GA) and the newest schema (1.37+)."""
    newest = kubernetes_validate.major_minor(kubernetes_validate.latest_version())
    assert tuple(map(int, newest.split("."))) >= (1, 37)
    docs = list(yaml.safe_load_all(kubernetes.job_manifest(5)))
    assert [doc["kind"] for doc in docs] == ["PersistentVolumeClaim", "ConfigMap", "Job", "Pod"]
    for version in ("1.33", newest):
        assert [kubernetes_validate.validate(doc, version, strict=True) for doc in docs] == [version] * 4


def test_the_written_file_passes_the_command_line_validator(tmp_path: Path) -> None:
    """`kubernetes-validate --strict FILE` on what write_job wrote: exit 0, four resources passed."""
    kubernetes.write_job(tmp_path, 3)
    out = subprocess.run([sys.executable, "-m", "kubernetes_validate", "--strict",
                          str(tmp_path / "k8s" / "envctl-job.yaml")],
                         capture_output=True, text=True, timeout=120, check=False)
    assert (out.returncode, out.stdout.count(" passed for resource ")) == (0, 4)


def test_one_pod_per_shard_indexed() -> None:
    """completionMode Indexed, completions = parallelism = 3, restartPolicy Never."""
    spec = documents(3)["Job"]["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_each_index_is_retried_on_its_own_and_never_stops_the_others() -> None:
    """backoffLimitPerIndex 2 and maxFailedIndexes = N: every shard runs to its end."""
    spec = documents(7)["Job"]["spec"]
    assert (spec["backoffLimitPerIndex"], spec["maxFailedIndexes"]) == (2, 7)
    assert "backoffLimit" not in spec


def test_the_pod_failure_policy() -> None:
    """Disruptions ignored, then the envctl container's codes: FailIndex for results, Count for infra."""
    rules = documents()["Job"]["spec"]["podFailurePolicy"]["rules"]
    assert rules == [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]},
        {"action": "FailIndex", "onExitCodes": {"containerName": "envctl", "operator": "In",
                                                "values": [1, 2, 3, 4, 5, 10, 11, 13, 14, 20, 21]}},
        {"action": "Count", "onExitCodes": {"containerName": "envctl", "operator": "In",
                                            "values": [12, 15, 23, 24, 26]}},
    ]


def test_every_test_result_fails_its_index_and_every_infra_failure_counts() -> None:
    """pytest's 1-5 fail at once; infra-error, lost, env-broken, no engine, no environment count."""
    rules = documents()["Job"]["spec"]["podFailurePolicy"]["rules"]
    fail, count = (set(rule["onExitCodes"]["values"]) for rule in rules[1:])
    assert {code for code in PYTEST_STATES if code} <= fail
    infra = {ENVCTL_CODES[state] for state in (RunState.INFRA_ERROR, RunState.LOST, RunState.ENV_BROKEN)}
    assert infra | {ExitCode.ENGINE_UNAVAILABLE, ExitCode.ENVIRONMENT_FAILED} == count
    assert not fail & count


def test_the_code_lists_follow_the_api_rules() -> None:
    """Each list ascending, without repeats, without 0 (the API refuses 0 with In), at most 255."""
    for codes in (kubernetes.FAIL_INDEX, kubernetes.COUNT):
        assert list(codes) == sorted(set(codes))
        assert 0 not in codes
        assert len(codes) <= 255


def test_every_exit_code_is_placed_once() -> None:
    """A new ExitCode member fails here until it is put in FAIL_INDEX, COUNT or the default."""
    for code in ExitCode:
        places = [code in kubernetes.FAIL_INDEX, code in kubernetes.COUNT, code in LEFT_TO_DEFAULT]
        assert places.count(True) == 1, code


def test_the_comments_name_each_code() -> None:
    """Above each rule, its codes by name: pytest's by the state they give, envctl's by ExitCode."""
    text = kubernetes.job_manifest(2)
    assert "# 1 failed, 2 error, 3 error, 4 error, 5 no-tests, 10 USAGE, 11 CONFIG,\n" in text
    assert "# 12 ENGINE_UNAVAILABLE, 15 ENVIRONMENT_FAILED, 23 INFRA_ERROR, 24 LOST, 26 ENV_BROKEN\n" in text


def test_the_engine_is_a_privileged_native_sidecar() -> None:
    """dind: an init container with restartPolicy Always, privileged, up once `docker version` answers."""
    spec = pod_spec()
    assert [c["name"] for c in spec["initContainers"]] == ["stage", "dind"]
    dind = container(spec, "dind")
    assert (dind["image"], dind["restartPolicy"], dind["securityContext"]) == (
        "docker:dind", "Always", {"privileged": True})
    assert dind["args"] == ["dockerd", "--host=unix:///var/run/dind/docker.sock"]
    assert dind["startupProbe"]["exec"]["command"] == [
        "docker", "--host=unix:///var/run/dind/docker.sock", "version"]


def test_nothing_else_is_privileged() -> None:
    """The sidecar is the one privileged container; no pod mounts a service account token."""
    docs = documents()
    specs = [pod_spec(), docs["Pod"]["spec"]]
    privileged = [c["name"] for spec in specs for c in [*spec.get("initContainers", []), *spec["containers"]]
                  if c.get("securityContext", {}).get("privileged")]
    assert privileged == ["dind"]
    assert [spec["automountServiceAccountToken"] for spec in specs] == [False, False]
    assert [spec["enableServiceLinks"] for spec in specs] == [False, False]


def test_the_envctl_container_runs_its_shard_in_the_foreground() -> None:
    """`envctl test --shard auto/3` in /src, on the sidecar's socket: index 2 is shard 3/3."""
    envctl = container(pod_spec(3), "envctl")
    assert envctl["command"] == ["/opt/envctl/bin/envctl", "test", "--shard", "auto/3"]
    assert (envctl["image"], envctl["workingDir"]) == (kubernetes.IMAGE, "/src")
    assert resolve_shard(envctl["command"][-1], {"JOB_COMPLETION_INDEX": "2"}) == "3/3"
    assert envctl["securityContext"] == {"allowPrivilegeEscalation": False}


def test_each_index_writes_its_runs_into_a_folder_of_its_own() -> None:
    """ENVCTL_LOG_DIR is /results/index-$(SHARD_INDEX), the index taken from the pod's annotation first."""
    env = container(pod_spec(), "envctl")["env"]
    assert env == [
        {"name": "SHARD_INDEX", "valueFrom": {"fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
        {"name": "ENVCTL_LOG_DIR", "value": "/results/index-$(SHARD_INDEX)"},
        {"name": "DOCKER_HOST", "value": "unix:///var/run/dind/docker.sock"},
    ]


def test_the_engine_sees_envctls_paths_where_envctl_does() -> None:
    """Project, envctl and log dir: the same volumes at the same paths in both; the socket shared."""
    spec = pod_spec()
    envctl, dind = mounts(container(spec, "envctl")), mounts(container(spec, "dind"))
    assert envctl == {"/var/run/dind": "dind-socket", "/src": "source", "/opt/envctl": "envctl",
                      "/results": "results"}
    assert dind == {**envctl, "/var/lib/docker": "dind-storage"}
    assert mounts(container(spec, "stage")) == {"/mnt/source": "source", "/mnt/envctl": "envctl"}
    assert container(spec, "stage")["command"] == [
        "sh", "-c", "cp -a /src/. /mnt/source/ && cp -a /opt/envctl/. /mnt/envctl/"]


def test_the_volumes() -> None:
    """Four emptyDirs for one pod, and the ReadWriteMany claim every pod shares."""
    docs = documents()
    volumes = {v["name"]: {k: w for k, w in v.items() if k != "name"} for v in pod_spec()["volumes"]}
    assert volumes == {"dind-socket": {"emptyDir": {}}, "dind-storage": {"emptyDir": {}},
                       "source": {"emptyDir": {}}, "envctl": {"emptyDir": {}},
                       "results": {"persistentVolumeClaim": {"claimName": "envctl-results"}}}
    claim = docs["PersistentVolumeClaim"]
    assert (claim["metadata"]["name"], claim["spec"]["accessModes"]) == ("envctl-results", ["ReadWriteMany"])
    for spec in (pod_spec(), docs["Pod"]["spec"]):
        declared = {v["name"] for v in spec["volumes"]}
        used = {m["name"] for c in [*spec.get("initContainers", []), *spec["containers"]]
                for m in c["volumeMounts"]}
        assert used == declared


def test_the_results_pod_holds_the_claim_and_the_merge_script() -> None:
    """envctl-results: the claim at /results, the ConfigMap at /envctl-k8s, idle until exec'd."""
    docs = documents()
    pod = docs["Pod"]["spec"]
    results = container(pod, "envctl")
    assert (docs["Pod"]["metadata"]["name"], results["command"], results["image"]) == (
        "envctl-results", ["sleep", "infinity"], kubernetes.IMAGE)
    assert mounts(results) == {"/results": "results", "/envctl-k8s": "merge"}
    assert {v["name"]: v.get("configMap") for v in pod["volumes"]} == {
        "results": None, "merge": {"name": "envctl-merge"}}
    assert list(docs["ConfigMap"]["data"]) == ["merge.sh"]


def test_the_merge_takes_the_last_run_of_each_index(tmp_path: Path) -> None:
    """A retried index gives its last run; one with none is named on stderr; the merge's code is kept."""
    script = documents(3)["ConfigMap"]["data"]["merge.sh"]
    results, fake = tmp_path / "results", tmp_path / "envctl"
    for run in ("index-0/20260101-000000-aaaa", "index-0/20260101-000500-bbbb",
                "index-1/20260101-000100-cccc"):
        (results / run).mkdir(parents=True)
    (results / "index-0" / ".exchange").mkdir()
    (results / "index-0" / "history.jsonl").write_text("", encoding="utf-8")
    fake.write_text('#!/bin/sh\necho "$@"\nexit 1\n', encoding="utf-8")
    fake.chmod(0o755)
    local = script.replace("/results", str(results)).replace("/opt/envctl/bin/envctl", str(fake))
    out = subprocess.run(["sh", "-c", local], capture_output=True, text=True, timeout=30, check=False)
    assert (out.returncode, out.stderr) == (1, "index 2 left no run\n")
    assert out.stdout == (f"report merge {results}/index-0/20260101-000500-bbbb/ "
                          f"{results}/index-1/20260101-000100-cccc/ --junit-out {results}/merged/junit.xml "
                          f"--durations-out {results}/merged/durations.json\n")


def test_the_image_is_a_placeholder_said_so_at_the_top() -> None:
    """The first lines name the placeholder; the three containers of the user's image use it."""
    text = kubernetes.job_manifest(2)
    assert f"# THE IMAGE IS A PLACEHOLDER: {kubernetes.IMAGE}\n" in text.split("---", 1)[0]
    spec, pod = pod_spec(), documents()["Pod"]["spec"]
    assert [c["image"] for c in [*spec["initContainers"], *spec["containers"], *pod["containers"]]] == [
        kubernetes.IMAGE, "docker:dind", kubernetes.IMAGE, kubernetes.IMAGE]


@pytest.mark.parametrize("shards", [0, -2])
def test_shards_below_one_are_a_usage_error(shards: int) -> None:
    """--shards 0 or less: a UsageError naming the value; no manifest."""
    with pytest.raises(UsageError) as caught:
        kubernetes.job_manifest(shards)
    assert caught.value.message == f"--shards {shards}: a Job needs at least one shard"


def test_one_shard_is_a_job_of_one_pod() -> None:
    """--shards 1: one index, `--shard auto/1`, a merge over index 0 alone."""
    docs = documents(1)
    assert (docs["Job"]["spec"]["completions"], docs["Job"]["spec"]["maxFailedIndexes"]) == (1, 1)
    assert container(pod_spec(1), "envctl")["command"][-1] == "auto/1"
    assert 'while [ "$i" -lt 1 ]; do' in docs["ConfigMap"]["data"]["merge.sh"]


def test_write_job_never_overwrites(tmp_path: Path) -> None:
    """A new k8s/envctl-job.yaml, then kept as it is; a link in its place is never followed."""
    first = kubernetes.write_job(tmp_path, 2)
    path = tmp_path / "k8s" / "envctl-job.yaml"
    assert first == Written(path, True, "an Indexed Job of 2 shards; put your image's name in it, "
                                        "then kubectl apply -f k8s/envctl-job.yaml")
    path.write_text("mine\n", encoding="utf-8")
    assert kubernetes.write_job(tmp_path, 5) == Written(path, False, "envctl-job.yaml is already there")
    assert path.read_text(encoding="utf-8") == "mine\n"
    path.unlink()
    path.symlink_to(tmp_path / "elsewhere.yaml")
    assert kubernetes.write_job(tmp_path, 5).created is False
    assert not (tmp_path / "elsewhere.yaml").exists()


def fake_init(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """envctl.init.init replaced: it records its calls and writes nothing."""
    calls: list[Path] = []

    def init(project_dir: Path, **_kw: object) -> Report:
        calls.append(project_dir)
        return Report(project_dir, ["compose.yaml"], "p", "test", None, False, [], {}, [])

    monkeypatch.setattr(envctl.init, "init", init)
    return calls


def test_the_verb_writes_the_job_after_the_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """init --k8s: the settings first, then the Job (4 shards by default) in the report."""
    calls = fake_init(monkeypatch)
    report = setup.init(settings_at(tmp_path), k8s=True)
    assert calls == [tmp_path]
    assert [(w.path, w.created) for w in report.written] == [(tmp_path / "k8s" / "envctl-job.yaml", True)]
    written = yaml.safe_load_all(report.written[0].path.read_text(encoding="utf-8"))
    assert documents(4) == {doc["kind"]: doc for doc in written}


@pytest.mark.parametrize(("k8s", "shards", "message"), [
    (False, 3, "--shards is the number of pods of --k8s's Job"),
    (True, 0, "--shards 0: a Job needs at least one shard"),
])
def test_the_verb_refuses_before_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         k8s: bool, shards: int, message: str) -> None:
    """--shards without --k8s, or below 1: a UsageError before init writes anything."""
    calls = fake_init(monkeypatch)
    with pytest.raises(UsageError) as caught:
        setup.init(settings_at(tmp_path), k8s=k8s, shards=shards)
    assert (caught.value.message, calls, (tmp_path / "k8s").exists()) == (message, [], False)


def test_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """`init --k8s --shards 2` says it wrote the Job; `--shards 0` exits 10 with the reason."""
    fake_init(monkeypatch)
    monkeypatch.setenv("ENVCTL_LOG_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--k8s", "--shards", "2"]) == 0
    assert ("wrote         k8s/envctl-job.yaml (an Indexed Job of 2 shards; put your image's name in it, "
            "then kubectl apply -f k8s/envctl-job.yaml)\n") in capsys.readouterr().out
    assert main(["init", "--k8s", "--shards", "0"]) == 10
    assert "--shards 0: a Job needs at least one shard" in capsys.readouterr().err


def test_more_shards_than_a_sane_job_is_a_usage_error_and_the_grace_covers_a_stop() -> None:
    """--shards 1001: refused, naming the limit; a pod's grace outlasts envctl's stop (20 s)."""
    with pytest.raises(UsageError) as caught:
        kubernetes.job_manifest(kubernetes.MAX_SHARDS + 1)
    assert caught.value.message == "--shards 1001: at most 1000 (a pod and an engine each)"
    assert pod_spec()["terminationGracePeriodSeconds"] == 90
