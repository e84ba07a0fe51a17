"""`envctl env`'s four formats: the table, JSON against envctl/env/1, and the variables for a
.env file or a shell's eval, which run nothing whatever a service is called (checked with a
real sh)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

import envctl.verbs.endpoints
from envctl.cli import main
from envctl.schemas import load
from envctl.ui.endpoints import dotenv_text, env_line, env_text, env_view, render, sh_text
from envctl.verbs.endpoints import Endpoints, Port, ServiceEndpoints

WEB = ServiceEndpoints("web", "p-web-1", "running", None, "ready", (
    Port(80, "tcp", "127.0.0.1", 8080, "http://127.0.0.1:8080"), Port(80, "tcp", "::1", 8080, "http://[::1]:8080")))
DB = ServiceEndpoints("db", "p-db-1", "running", "healthy", "ready", (Port(5432, "tcp", "127.0.0.1", 15432),))
WORKER = ServiceEndpoints("worker", "p-worker-1", "exited", None, "completed")
FOUND = Endpoints("p", (DB, WEB, WORKER))

HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "'; touch PWNED; '", "a\nexport PWNED=1\ntouch PWNED",
           "\\'$(touch PWNED)\\'", "ünï\u2028cödé", '"$(touch PWNED)"', "x\r\ny", "${HOME}", "a\0b"]


def test_the_json_view_matches_its_schema() -> None:
    """envctl/env/1: each service with its first port, URL, every port, and the variables."""
    view = env_view(FOUND)
    jsonschema.Draft202012Validator(load("env")).validate(view)
    assert view["services"][1] == {
        "service": "web", "container": "p-web-1", "status": "running", "health": None, "phase": "ready",
        "host": "127.0.0.1", "port": 8080, "url": "http://127.0.0.1:8080",
        "ports": [{"container_port": 80, "protocol": "tcp", "host": "127.0.0.1", "host_port": 8080,
                   "url": "http://127.0.0.1:8080"},
                  {"container_port": 80, "protocol": "tcp", "host": "::1", "host_port": 8080,
                   "url": "http://[::1]:8080"}]}
    assert view["services"][2]["port"] is None
    assert view["variables"]["ENVCTL_SERVICES"] == "db web worker"
    assert json.loads(render(FOUND, "json")) == view


def test_the_table_for_a_person() -> None:
    """One line a service; names cleaned of control characters; no URL left blank."""
    evil = ServiceEndpoints("a\x1b[31mb", "c", "running", None, "ready")
    assert env_text(Endpoints("p", (DB, WEB, WORKER, evil))) == (
        "SERVICE  STATUS             PORTS                                           URL\n"
        "db       running (healthy)  5432/tcp -> 127.0.0.1:15432\n"
        "web      running            80/tcp -> 127.0.0.1:8080, 80/tcp -> [::1]:8080  http://127.0.0.1:8080\n"
        "worker   exited             -\n"
        "a?[31mb  running            -\n")
    assert env_text(Endpoints("p", ())) == "no service of project p is running (`envctl up` starts them)\n"


def test_the_mcp_summary_line() -> None:
    """Each service and where it is, in one line."""
    assert env_line(FOUND) == ("db 127.0.0.1:15432, web 127.0.0.1:8080 http://127.0.0.1:8080, "
                               "worker (no published port)")
    assert env_line(Endpoints("p", ())) == "no services running"


def test_sh_lines_are_exported_single_quoted_values() -> None:
    """export NAME='value', a quote inside written '\\''."""
    assert sh_text({"ENVCTL_SERVICES": "it's", "ENVCTL_A_PORT": "1"}) == (
        "export ENVCTL_SERVICES='it'\\''s'\nexport ENVCTL_A_PORT='1'\n")


def test_dotenv_lines_as_compose_reads_them() -> None:
    """Double quotes; backslash, quote, newline, CR escaped; $ as $$ (no interpolation)."""
    assert dotenv_text({"ENVCTL_SERVICES": 'a\\b"c$d\ne\rf\0g', "ENVCTL_A_PORT": "1"}) == (
        'ENVCTL_SERVICES="a\\\\b\\"c$$d\\ne\\rf?g"\nENVCTL_A_PORT="1"\n')


@pytest.mark.skipif(shutil.which("sh") is None, reason="no POSIX sh on this machine")
def test_evaluated_in_sh_nothing_runs_whatever_the_services_are_called(tmp_path: Path) -> None:
    """Hostile names (command substitution, quotes, newlines, unicode) through a real sh's
    eval: no file is created, and none is listed (each is outside [A-Za-z0-9._-]); `web`
    beside them is, with its own variables."""
    services = tuple(ServiceEndpoints(name, "c", "running", None, "ready",
                                      (Port(80, "tcp", "127.0.0.1", 8000 + i),))
                     for i, name in enumerate([*HOSTILE, "web"]))
    found = Endpoints("p", services)
    script = tmp_path / "env.sh"
    script.write_text(render(found, "sh"), encoding="utf-8")
    done = subprocess.run(["sh", "-c", 'eval "$(cat "$1")" && env -0', "sh", str(script)], cwd=tmp_path,
                          capture_output=True, env={"PATH": os.environ["PATH"]}, timeout=30, check=True)
    assert list(tmp_path.iterdir()) == [script]
    everything = dict(entry.split(b"=", 1) for entry in done.stdout.split(b"\0") if b"=" in entry)
    assert b"PWNED" not in everything  # the name behind a newline did not become a command
    seen = {name: value for name, value in everything.items() if name.startswith(b"ENVCTL_")}
    expected = {name.encode(): value.encode() for name, value in found.variables().items()}
    assert seen == expected == {b"ENVCTL_SERVICES": b"web", b"ENVCTL_WEB_HOST": b"127.0.0.1",
                                b"ENVCTL_WEB_PORT": b"8010", b"ENVCTL_WEB_PORT_80": b"8010"}


def test_env_on_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`envctl env --format sh` prints the verb's variables; --no-probe reaches it; a usage
    error comes before the settings are read."""
    asked: list[bool] = []

    def verb(_settings: object, *, probe: bool) -> Endpoints:
        asked.append(probe)
        return FOUND

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(envctl.verbs.endpoints, "endpoints", verb)
    assert main(["env", "--format", "sh", "--no-probe"]) == 0
    assert capsys.readouterr().out == sh_text(FOUND.variables())
    assert main(["env", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["schema"] == "envctl/env/1"
    assert asked == [False, True]
    assert main(["env", "--json", "--format", "dotenv"]) == 10
    assert "--json and --format dotenv ask for two formats" in capsys.readouterr().err
    assert asked == [False, True]
