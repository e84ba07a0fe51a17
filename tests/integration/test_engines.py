"""Shards on several Docker engines (issue #24): a second real `dockerd` on this machine, in
namespaces of its own; placement by CPUs, the counts of one engine, an engine stopped mid-run,
doctor and clean-up on every engine."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import leftovers
from tests.integration.conftest import Project, Result, write_suite
from tests.integration.engines import ExtraEngine, TlsFront, can_serve_ssh, can_start_engines

pytestmark = pytest.mark.skipif(can_start_engines() is not None, reason=str(can_start_engines()))

SUITE = {
    "test_a.py": "import pytest\n@pytest.mark.parametrize('i', range(6))\n"
                 "def test_a(i):\n    assert i >= 0\n",
    "test_b.py": "def test_b1():\n    pass\ndef test_b2():\n    assert False, 'planted'\n",
    "test_c.py": "import pytest\n@pytest.mark.parametrize('i', range(4))\ndef test_c(i):\n    pass\n"
                 "@pytest.mark.skip(reason='planted')\ndef test_skipped():\n    pass\n",
}
IMAGES = ("debian:bookworm-slim", "envctltest-pytest:1")  # the `runs` fixture's


@pytest.fixture(scope="module")
def e2() -> Iterator[ExtraEngine]:
    """A second engine that sees this machine's folders, with the `runs` fixture's images."""
    engine = ExtraEngine("e2")
    engine.start()
    try:
        yield engine
    finally:
        engine.stop()


def list_of(value: object) -> list[object]:
    assert isinstance(value, list)
    return value


def records(project: Project) -> list[dict[str, object]]:
    found = [json.loads(p.read_text()) for p in Path(project.env["ENVCTL_LOG_DIR"]).glob("*/run.json")]
    return sorted(found, key=lambda r: str(r["id"]))


def test_shards_go_to_each_engine_by_its_cpus_with_the_counts_of_one(runs_project: Project, e2: ExtraEngine,
                                                                     tmp_path: Path) -> None:
    """`--shards 3 --engines default,e2tls=4`, e2tls a docker context reaching e2 over tcp://
    with TLS (client certificates required, as `dockerd --tlsverify`): one shard here (2 CPUs)
    and two on e2 (weighed 4), the same counts and exit code as the whole suite on one engine,
    each shard naming its engine in `status` and `report`; e2's shards went through the
    context's certificates (a client without them is refused); the test image, built from the
    project's Dockerfile, is built once on e2 for its two shards; nothing is left on either."""
    e2.hand_over(*IMAGES)
    # A test image of the project's own (built, not pulled: e2 has no network), absent from e2.
    compose = runs_project.path / "compose.yaml"
    compose.write_text(compose.read_text().replace("    image: envctltest-pytest:1\n", ""))
    (runs_project.path / "Dockerfile").write_text("FROM envctltest-pytest:1\nRUN echo built > /built\n")
    image = f"{runs_project.name}-test"
    front = TlsFront(e2.host.removeprefix("unix://"), tmp_path / "tls")
    address = front.serve()
    config = {"DOCKER_CONFIG": str(tmp_path / "docker-config")}
    files = front.client_files()
    subprocess.run(["docker", "context", "create", "e2tls", "--docker",
                    f"host={address},ca={files['ca']},cert={files['cert']},key={files['key']}"],
                   env={**os.environ, **config}, check=True, capture_output=True, timeout=30)
    write_suite(runs_project, SUITE)
    one = runs_project.envctl("test")
    assert one.returncode == 1, one.output
    assert "11 passed, 1 failed, 0 errors, 1 skipped" in one.output, one.output
    try:
        spread = runs_project.envctl("test", "--shards", "3", "--engines", "default,e2tls=4",
                                     extra_env=config)
        assert spread.returncode == 1, spread.output
        assert "11 passed, 1 failed, 0 errors, 1 skipped" in spread.output, spread.output
        parent = next(r for r in records(runs_project) if r.get("children"))
        children = {r["shard"]: r for r in records(runs_project) if r.get("parent") == parent["id"]}
        assert {k: (c["engine_name"], c["engine"]) for k, c in children.items()} == {
            "1/3": ("default", "unix:///var/run/docker.sock"), "2/3": ("e2tls", address),
            "3/3": ("e2tls", address)}
        status = runs_project.envctl("status", str(parent["id"]), extra_env=config)
        assert f"shard 3/3 {children['3/3']['id']} on e2tls: " in status.output, status.output
        report = json.loads(runs_project.envctl("report", str(parent["id"]), "--format", "json").stdout)
        assert [(s["shard"], s["engine"]) for s in report["shards"]] == [
            ("1/3", "default"), ("2/3", "e2tls"), ("3/3", "e2tls")]
        assert sum(s["counts"]["passed"] for s in report["shards"]) == 11
        logs = Path(runs_project.env["ENVCTL_LOG_DIR"])
        built = [json.loads(line) for run in [parent["id"], *(c["id"] for c in children.values())]
                 if (logs / str(run) / "collector.log").exists()
                 for line in (logs / str(run) / "collector.log").read_text().splitlines()
                 if '"building images"' in line]
        assert [(b["engine"], b["services"]) for b in built] == [("e2tls", ["test"])]  # once, for 2 shards
        # The only way in is with the context's certificates: the shards on e2tls used them.
        plain = subprocess.run(["docker", "-H", address, "version"], capture_output=True, timeout=30,
                               check=False)
        assert plain.returncode == 1, plain.stderr
    finally:
        front.close()
        e2.docker("image", "rm", "-f", image, check=False)
        subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True, timeout=60, check=False)
    assert e2.leftovers(runs_project.name) == []
    assert leftovers(f"{runs_project.name}-s") == {}  # the shards' projects here


def test_doctor_checks_every_engine(runs_project: Project, e2: ExtraEngine) -> None:
    """Each engine is asked: e2 answers with its CPUs, has the images and disk; one that does not
    answer fails the doctor, named with its address and what to do."""
    result = runs_project.envctl("doctor", "--json", extra_env={
        "ENVCTL_ENGINES": f"{e2.host},unix:///run/envctl-test-none/docker.sock"})
    assert result.returncode == 16, result.output
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks[f"engine {e2.host}"]["status"] == "ok"
    assert "2 CPUs" in checks[f"engine {e2.host}"]["detail"]
    assert checks[f"images on {e2.host}"]["status"] == "ok"
    assert checks[f"disk on {e2.host}"]["status"] == "ok", checks[f"disk on {e2.host}"]
    gone = checks["engine unix:///run/envctl-test-none/docker.sock"]
    assert (gone["status"], gone["hint"]) == ("fail", "start it, or leave it out of engines")


HELD = {"test_held.py": "import os, time, pytest\n"
                        "@pytest.mark.parametrize('i', range(4))\n"
                        "def test_held(i):\n"
                        "    end = time.monotonic() + 120\n"
                        "    while not os.path.exists('release') and time.monotonic() < end:\n"
                        "        time.sleep(0.1)\n"}


def until_both_shards_run(project: Project, parent_id: str) -> None:
    """Wait (at most 2 minutes) until both shards of the parent run."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        shards = [r for r in records(project) if r.get("parent") == parent_id]
        if [r["state"] for r in shards] == ["running", "running"]:
            return
        time.sleep(0.2)


def stop_e2_mid_run(project: Project, e2: ExtraEngine, *flags: str) -> tuple[str, Result]:
    """Start 2 shards (here, on e2) whose tests hold until the suite folder has `release`; once
    both run, stop e2, release the tests, and wait: (the parent's id, the wait). e2 is started
    again after (its images are kept)."""
    e2.hand_over(*IMAGES)
    write_suite(project, HELD)
    # A grace of 5 s, not 30: the loss is seen either way (the daemon's end kills the container,
    # or the engine stops answering), the test just need not wait the default out.
    started = project.envctl("test", "--shards", "2", "--engines", f"default,{e2.host}", "--detach",
                             "--json", *flags, extra_env={"ENVCTL_ENGINE_LOSS_GRACE": "5s"})
    assert started.returncode == 0, started.output
    parent_id = str(json.loads(started.stdout)["id"])
    try:
        until_both_shards_run(project, parent_id)
        e2.stop()
        (project.path / "suite" / "release").touch()
        waited = project.envctl("wait", parent_id, timeout=240)
    finally:
        e2.start()
    return parent_id, waited


def test_a_shard_lost_with_its_engine_is_infra_error_and_runs_again_elsewhere(runs_project: Project,
                                                                            e2: ExtraEngine) -> None:
    """e2's daemon stopped while its shard runs: that shard ends infra-error naming e2, never
    failed or passed. With --retry-infra it runs once more on the engine still up: the parent
    passes with the counts of the whole suite and says which shard ran again, where and why.
    Once e2 is back, `down` removes what the lost shard left there. (Without --retry-infra the
    parent is never better than that shard: tests/unit/test_parent.py.)"""
    parent_id, waited = stop_e2_mid_run(runs_project, e2, "--retry-infra")
    assert waited.returncode == 0, waited.output
    assert "4 passed, 0 failed" in waited.output, waited.output
    parent = next(r for r in records(runs_project) if r["id"] == parent_id)
    assert parent["state"] == "passed"
    assert f"shard 2/2 ended infra-error on engine {e2.host} (" in str(parent["message"])
    assert str(parent["message"]).endswith("and ran again on default"), parent["message"]
    children = {r["id"]: r for r in records(runs_project) if r.get("parent") == parent_id}
    assert [children[str(c)]["engine_name"] for c in list_of(parent["children"])] == ["default", "default"]
    lost = [children[str(c)] for c in list_of(parent["retried"])]
    assert [(r["shard"], r["state"], r["engine_name"]) for r in lost] == [("2/2", "infra-error", e2.host)]
    assert e2.leftovers(runs_project.name) != []  # e2 was gone: nothing could be removed there
    down = runs_project.envctl("down", extra_env={"ENVCTL_ENGINES": f"default,{e2.host}"})
    assert down.returncode == 0, down.output
    assert e2.leftovers(runs_project.name) == []


def test_logs_follow_and_stop_reach_the_shards_on_every_engine(runs_project: Project,
                                                               e2: ExtraEngine) -> None:
    """A shard here and one on e2, both holding after saying so: `logs -f` of the parent
    follows both (each line under its shard) until `stop` ends them all; each shard and the
    parent end cancelled, and nothing is left on either engine."""
    e2.hand_over(*IMAGES)
    write_suite(runs_project, {"test_held.py": HELD["test_held.py"].replace(
        "    end = ", "    print(f'holding {i}', flush=True)\n    end = ")})
    started = runs_project.envctl("test", "--shards", "2", "--engines", f"default,{e2.host}", "--detach",
                                  "--json", "--", "-s")
    assert started.returncode == 0, started.output
    parent_id = str(json.loads(started.stdout)["id"])
    logs = Path(runs_project.env["ENVCTL_LOG_DIR"])
    outputs = [logs / str(r["id"]) / "output.log" for r in records(runs_project)
               if r.get("parent") == parent_id]
    assert len(outputs) == 2
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # until both shards have said they hold
        if all(out.exists() and b"holding" in out.read_bytes() for out in outputs):
            break
        time.sleep(0.2)
    follow = subprocess.Popen([sys.executable, "-m", "envctl", "logs", "-f", parent_id],
                              cwd=runs_project.path, env=runs_project.env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        stopped = runs_project.envctl("stop", parent_id)
        assert stopped.returncode == 0, stopped.output
        followed, _ = follow.communicate(timeout=120)  # it ends with the shards
    finally:
        follow.kill()
    lines = followed.splitlines()
    for shard in ("1/2", "2/2"):
        assert any(line.startswith(f"[{shard}] ") and "holding" in line for line in lines), followed
    waited = runs_project.envctl("wait", parent_id, timeout=240)
    assert waited.returncode == 22, waited.output  # cancelled
    shards = {r["shard"]: r for r in records(runs_project) if r.get("parent") == parent_id}
    assert {k: (r["state"], r["engine_name"]) for k, r in shards.items()} == {
        "1/2": ("cancelled", "default"), "2/2": ("cancelled", e2.host)}
    assert e2.leftovers(runs_project.name) == []
    assert leftovers(f"{runs_project.name}-s") == {}


def test_an_engine_that_cannot_see_the_project_gets_its_sources_shipped(runs_project: Project) -> None:
    """e3 runs in a mount namespace where the project folder is an empty tmpfs, reached as
    ssh://root@127.0.0.3:2222 through an sshd of its own (a faithful remote; its socket when
    this machine has no sshd: scripts/setup-ssh). Asked, not guessed, it is found not to see
    the project: its shard's folders (the suite, envctl's plugin, the shard's input) are shipped
    there and it runs there, with the counts of one engine; status says what was shipped and how
    long it took; nothing is left on e3. Frozen, e3 fails doctor within its deadline; its SSH
    link cut mid-run, its shard ends infra-error."""
    e3 = ExtraEngine("e3", blind=runs_project.path)
    e3.start()
    try:
        e3.hand_over(*IMAGES)
        # Reached as a remote engine is: ssh://, `docker system dial-stdio` on the far side.
        address = e3.serve_ssh() if can_serve_ssh() is None else e3.host
        write_suite(runs_project, SUITE)
        result = runs_project.envctl("test", "--shards", "2", "--engines", f"default,{address}")
        assert result.returncode == 1, result.output  # the planted failure, nothing else
        assert "11 passed, 1 failed, 0 errors, 1 skipped" in result.output, result.output
        parent = next(r for r in records(runs_project) if r.get("children"))
        children = {r["shard"]: r for r in records(runs_project) if r.get("parent") == parent["id"]}
        assert (children["1/2"]["engine_name"], children["1/2"]["shipped_bytes"]) == ("default", None)
        assert children["2/2"]["engine_name"] == address
        assert isinstance(children["2/2"]["shipped_bytes"], int)
        assert children["2/2"]["state"] in ("passed", "failed")
        status = runs_project.envctl("status", str(parent["id"]))
        assert f"on {address} (shipped " in status.output, status.output
        assert e3.leftovers(runs_project.name) == []
        assert e3.docker("ps", "-aq").stdout == b""  # nor the look's nor the shipping's helpers
        assert e3.docker("volume", "ls", "-q").stdout == b""
        # Frozen behind a live link (its daemon stopped, its sshd answering): a call to it
        # keeps its deadline; doctor says so within its 5 s (the SDK's reads through `ssh`
        # have none of their own: envctl's docker/ssh_pipe.py bounds them).
        daemon = int(e3.pidfile.read_text().strip())
        os.kill(daemon, signal.SIGSTOP)
        try:
            frozen = runs_project.envctl("doctor", "--json", extra_env={"ENVCTL_ENGINES": address},
                                         timeout=60)
        finally:
            os.kill(daemon, signal.SIGCONT)
        assert frozen.returncode == 16, frozen.output
        check = next(c for c in json.loads(frozen.stdout)["checks"] if c["name"] == f"engine {address}")
        assert check["status"] == "fail", check
        assert frozen.seconds < 30, frozen.seconds
        if address != e3.host:
            link_dropped_mid_run(runs_project, e3, address)
    finally:
        e3.stop()


def link_dropped_mid_run(project: Project, e3: ExtraEngine, address: str) -> None:
    """The SSH link to e3 cut while a shard runs there (its sshd and sessions killed, the shared
    connection ended): that shard ends infra-error naming the engine once the grace is out,
    never failed or passed; the parent is no better; the shard here passes."""
    write_suite(project, {f"test_hold_{k}.py": f"import time\ndef test_hold_{k}():\n    time.sleep(12)\n"
                          for k in (1, 2)})
    started = project.envctl("test", "--shards", "2", "--engines", f"default,{address}", "--detach",
                             "--json", extra_env={"ENVCTL_ENGINE_LOSS_GRACE": "3s"})
    assert started.returncode == 0, started.output
    parent_id = str(json.loads(started.stdout)["id"])
    until_both_shards_run(project, parent_id)
    e3.drop_ssh()
    try:
        waited = project.envctl("wait", parent_id, timeout=240)
    finally:
        e3.serve_ssh()
        for kind, listing in (("container", ["ps", "-aq"]), ("volume", ["volume", "ls", "-q"])):
            for found in e3.docker(*listing).stdout.decode().split():  # what the lost shard left
                e3.docker(kind, "rm", "-f", found, check=False)
    assert waited.returncode == 23, waited.output  # infra-error
    ended = {r["shard"]: r for r in records(project) if r.get("parent") == parent_id}
    assert (ended["1/2"]["state"], ended["2/2"]["state"]) == ("passed", "infra-error")
    parent = next(r for r in records(project) if r["id"] == parent_id)
    assert (parent["state"], f"shard 2/2 on engine {address}: infra-error" in str(parent["message"])) == (
        "infra-error", True), parent["message"]
