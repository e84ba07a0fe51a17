"""Containers through the SDK's low-level API, answered by a stand-in: inspect, list, wait,
signal, copy out, probe and remove, with the engine's errors as envctl's."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path
from typing import Any, cast

import pytest
import requests.exceptions

from envctl.docker.containers import Containers, parse_df_free
from envctl.errors import EngineUnavailableError
from tests.unit.fake_api import Archive, Each, FakeAPI, api_error, not_found, tar_of

INSPECT = {"Id": "c1", "Name": "/p-db-1", "State": {"Status": "running", "ExitCode": 0},
           "Config": {"Labels": {"com.docker.compose.service": "db"}},
           "NetworkSettings": {"Ports": {"5432/tcp": [{"HostIp": "", "HostPort": "49153"}]}}}


def containers(**answers: Any) -> tuple[Containers, FakeAPI]:
    api = FakeAPI(**answers)
    return Containers(cast("Any", api)), api


def test_state_is_one_inspect() -> None:
    """The inspect is parsed into a ContainerState."""
    calls, api = containers(inspect_container=INSPECT)
    state = calls.state("c1")
    assert state is not None
    assert (state.id, state.name, state.service, state.status) == ("c1", "p-db-1", "db", "running")
    assert api.called("inspect_container") == [(("c1",), {})]


def test_a_gone_container_has_no_state() -> None:
    """The engine's 404 is None, not an error."""
    calls, _api = containers(inspect_container=not_found())
    assert calls.state("c1") is None


def test_endpoints_on_a_remote_engine_are_its_published_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a tcp:// engine, the published binding is reached on the engine's host."""
    monkeypatch.setenv("DOCKER_HOST", "tcp://ci-engine:2376")
    calls, _api = containers(inspect_container=INSPECT)
    assert calls.endpoints("c1", 5432) == [("ci-engine", 49153)]


def test_a_gone_container_has_no_endpoints() -> None:
    """Nothing to reach once the container is removed."""
    calls, _api = containers(inspect_container=not_found())
    assert calls.endpoints("c1", 5432) == []


def test_labelled_lists_by_label_and_skips_the_ones_gone_meanwhile() -> None:
    """A dict becomes key=value filters; a container removed between list and inspect is left out."""
    calls, api = containers(containers=[{"Id": "c1"}, {"Id": "c2"}],
                            inspect_container=Each(INSPECT, not_found()))
    assert [s.id for s in calls.labelled({"io.envctl.project": "p"}, all_=False)] == ["c1"]
    assert api.called("containers") == [((), {"all": False, "filters": {"label": ["io.envctl.project=p"]}})]


def test_labelled_takes_filters_as_they_are() -> None:
    """key=value strings pass through unchanged."""
    calls, api = containers(containers=[])
    assert calls.labelled(["a=b", "c"]) == []
    assert api.called("containers") == [((), {"all": True, "filters": {"label": ["a=b", "c"]}})]


def test_logs_tail_keeps_the_last_lines() -> None:
    """Decoded (invalid bytes replaced), split, cut to ``lines``."""
    calls, api = containers(logs=b"one\ntwo\nthree\xff\n")
    assert calls.logs_tail("c1", lines=2) == ["two", "three\ufffd"]
    assert api.called("logs") == [(("c1",), {"tail": 2, "stdout": True, "stderr": True})]


def test_logs_tail_of_a_gone_container_is_empty() -> None:
    """No log once the container is removed."""
    calls, _api = containers(logs=not_found())
    assert calls.logs_tail("c1") == []


def test_wait_exit_gives_the_exit_code_and_rounds_the_timeout_up() -> None:
    """The engine waits whole seconds: 2.1 s is asked as 3."""
    calls, api = containers(wait={"StatusCode": 3})
    assert calls.wait_exit("c1", timeout=2.1) == 3
    assert calls.wait_exit("c1") == 3
    assert api.called("wait") == [(("c1",), {"timeout": 3}), (("c1",), {"timeout": None})]


def test_a_wait_that_times_out_on_a_live_engine_is_none() -> None:
    """The read timed out and the engine answers a ping: the container is still running."""
    calls, _api = containers(wait=requests.exceptions.ReadTimeout(), ping=True)
    assert calls.wait_exit("c1", timeout=1) is None


def test_a_wait_that_times_out_on_a_dead_engine_is_an_error() -> None:
    """No answer to the ping either: the engine is gone, which the caller must hear."""
    calls, _api = containers(wait=requests.exceptions.ReadTimeout(),
                             ping=requests.exceptions.ConnectionError())
    with pytest.raises(EngineUnavailableError, match="waiting for the test container"):
        calls.wait_exit("c1", timeout=1)


def test_a_wait_without_a_timeout_never_reads_a_timeout_as_still_running() -> None:
    """Without a timeout of its own, a read timeout is the engine's failure."""
    calls, api = containers(wait=requests.exceptions.ReadTimeout(), ping=True)
    with pytest.raises(EngineUnavailableError):
        calls.wait_exit("c1")
    assert api.called("ping") == []


def test_kill_says_whether_the_signal_was_delivered() -> None:
    """A 409 (not running) is False, not an error."""
    calls, api = containers(kill=Each(None, api_error(409, "is not running")))
    assert calls.kill("c1", "SIGINT") is True
    assert calls.kill("c1", "SIGINT") is False
    assert api.called("kill")[0] == (("c1",), {"signal": "SIGINT"})


def test_copy_file_out_writes_the_file_private(tmp_path: Path) -> None:
    """The archive's one regular file lands at ``dest``, mode 0600; the archive is asked for
    with the client's deadline kept (not the SDK's get_archive, which lifts it) and closed."""
    archive = Archive([tar_of("junit.xml", b"<testsuites/>")])
    calls, api = containers(get_archive=archive)
    dest = tmp_path / "junit.xml"
    assert calls.copy_file_out("c1", "/envctl-run/junit.xml", dest) is True
    assert dest.read_bytes() == b"<testsuites/>"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    assert api.called("get_archive") == [(("/containers/c1/archive",), {
        "params": {"path": "/envctl-run/junit.xml"}, "headers": {"Accept-Encoding": "identity"}})]
    assert archive.closed is True


def test_copy_file_out_stops_at_the_cap(tmp_path: Path) -> None:
    """A file larger than ``cap`` is cut at ``cap`` bytes."""
    calls, _api = containers(get_archive=Archive([tar_of("events", b"x" * 100)]))
    assert calls.copy_file_out("c1", "/e", tmp_path / "events", cap=10) is True
    assert (tmp_path / "events").read_bytes() == b"x" * 10


def test_copy_file_out_of_nothing_is_false(tmp_path: Path) -> None:
    """A missing path (404) or an archive without a regular file copies nothing."""
    calls, _api = containers(get_archive=not_found("no such file"))
    assert calls.copy_file_out("c1", "/none", tmp_path / "a") is False
    empty, _api = containers(get_archive=Archive([b"\0" * 1024]))
    assert empty.copy_file_out("c1", "/none", tmp_path / "b") is False
    assert not (tmp_path / "b").exists()


def test_copy_file_out_streams_the_archive_and_stops_reading_it_at_the_cap(tmp_path: Path) -> None:
    """A 64 MiB file, cap 100 bytes: the archive is read as far as the cap (never spooled
    whole), then closed; the copy holds the first 100 bytes."""
    data = tar_of("junit.xml", b"y" * (64 << 20))
    archive = Archive(data[start:start + (64 << 10)] for start in range(0, len(data), 64 << 10))
    calls, _api = containers(get_archive=archive)
    assert calls.copy_file_out("c1", "/j", tmp_path / "junit.xml", cap=100) is True
    assert (tmp_path / "junit.xml").read_bytes() == b"y" * 100
    assert (archive.pulled, archive.closed) == (1, True)


def test_copy_file_out_of_a_folder_copies_nothing(tmp_path: Path) -> None:
    """The container made the path a folder (with a file in it): not a file, nothing written."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.addfile(_folder("junit.xml"))
        member = tarfile.TarInfo("junit.xml/inner")
        member.size = 2
        tar.addfile(member, io.BytesIO(b"hi"))
    calls, _api = containers(get_archive=Archive([buffer.getvalue()]))
    assert calls.copy_file_out("c1", "/j", tmp_path / "junit.xml") is False
    assert not (tmp_path / "junit.xml").exists()


def _folder(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info


def probe_api(**answers: Any) -> tuple[Containers, FakeAPI]:
    defaults: dict[str, Any] = {"create_container": {"Id": "p1"}, "create_host_config": {"hc": 1},
                                "wait": {"StatusCode": 0}, "logs": b"connecting\nok\n"}
    return containers(**(defaults | answers))


def test_a_probe_runs_in_the_targets_network_and_is_removed() -> None:
    """Entry point and arguments split from argv; its last line is what it said."""
    calls, api = probe_api()
    created: list[str] = []
    assert calls.probe_in_network("busybox", "c1", ["nc", "-z", "db", "5432"], labels={"k": "v"},
                                  seconds=2, on_created=created.append) == (True, "ok")
    assert created == ["p1"]
    assert api.called("create_host_config") == [((), {"network_mode": "container:c1"})]
    assert api.called("create_container") == [(("busybox",), {
        "command": ["-z", "db", "5432"], "entrypoint": ["nc"], "labels": {"k": "v"},
        "host_config": {"hc": 1}})]
    assert api.called("wait") == [(("p1",), {"timeout": 12})]
    assert api.called("remove_container") == [(("p1",), {"force": True, "v": True})]


def test_a_silent_failing_probe_says_its_exit_code() -> None:
    """No output: the exit code is the explanation."""
    calls, _api = probe_api(wait={"StatusCode": 3}, logs=b"")
    assert calls.probe_in_network("img", "c1", ["x"], labels={}, seconds=1) == (False, "the probe exited 3")


def test_a_probe_that_outlives_its_time_is_given_up_and_removed() -> None:
    """Its wait timed out on a live engine: not ended within seconds + the start's grace."""
    calls, api = probe_api(wait=requests.exceptions.ReadTimeout(), ping=True)
    assert calls.probe_in_network("img", "c1", ["x"], labels={}, seconds=5) == (
        False, "the probe did not end within 15s")
    assert len(api.called("remove_container")) == 1


def test_a_probe_removed_meanwhile_was_stopped() -> None:
    """Someone (`down`) removed it while it ran."""
    calls, _api = probe_api(wait=not_found())
    assert calls.probe_in_network("img", "c1", ["x"], labels={}, seconds=1) == (
        False, "the probe was stopped")


def test_free_disk_is_dfs_available_column_from_a_helper_that_is_removed() -> None:
    """`df -Pk /` in a container of the image: its available 1024-blocks, in bytes; confined (no
    network, no capabilities, read-only, little memory), removed after."""
    calls, api = probe_api(logs=b"Filesystem 1024-blocks Used Available Capacity Mounted on\n"
                                b"overlay 102687672 52342420 45086996 54% /\n")
    assert calls.free_disk("python:3.11-slim", labels={"k": "v"}) == 45086996 * 1024
    assert api.called("create_host_config") == [((), {
        "network_mode": "none", "cap_drop": ["ALL"], "security_opt": ["no-new-privileges"], "read_only": True,
        "mem_limit": 64 << 20, "pids_limit": 16})]
    assert api.called("create_container")[0][1]["entrypoint"] == ["df"]
    assert len(api.called("remove_container")) == 1


def test_free_disk_cannot_be_told_from_a_failed_or_odd_df() -> None:
    """No df in the image (exit 127), or an answer not in df's shape: None, never a guess."""
    calls, _api = probe_api(wait={"StatusCode": 127}, logs=b"exec: df: not found\n")
    assert calls.free_disk("scratch-ish", labels={}) is None
    lines = ("", "overlay 10 5 x 50% /", "a b c d", "fs 10 5 4 50% /", "fs 10 5 \u00b2 50% /",
             "fs 1 2 -3 4% /")
    assert [parse_df_free(line) for line in lines] == [None, None, None, 4096, None, None]


def test_remove_of_a_gone_container_is_quiet() -> None:
    """Removing what is already gone is done."""
    calls, api = containers(remove_container=not_found())
    calls.remove("c1")
    assert api.called("remove_container") == [(("c1",), {"force": True, "v": True})]
