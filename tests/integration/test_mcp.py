"""A real MCP client (the SDK's stdio client) drives `envctl mcp` against the real engine: the run
outlives the server that started it, and a new server sees its end."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

from tests.integration.conftest import Project, write_suite

SUITE = {
    "test_agent.py": (
        "import time\n"
        "def test_fine():\n    pass\n"
        "def test_wrong_sum():\n    assert 1 + 1 == 3, 'arithmetic is broken'\n"
        "def test_slow():\n    time.sleep(8)\n"
        "def test_raises():\n    raise KeyError('missing-key')\n"
    ),
}


def server_params(project: Project) -> StdioServerParameters:
    return StdioServerParameters(command=sys.executable, args=["-m", "envctl", "mcp"],
                                 cwd=str(project.path), env=project.env)


def server_pids(project: Project) -> list[int]:
    """The `envctl mcp` processes serving this project."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = str((entry / "cwd").readlink())
        except OSError:
            continue
        if argv[-3:] == [b"envctl", b"mcp", b""] and cwd == str(project.path):
            found.append(int(entry.name))
    return found


async def call(session: ClientSession, tool: str, arguments: dict[str, Any], **kw: Any) -> Any:
    result = await session.call_tool(tool, arguments, **kw)
    assert not result.is_error, result.content
    return result


def test_a_run_outlives_its_server(make_project: Any) -> None:
    """start_run, a wait that returns while the run goes on (with progress), the server killed
    with -9, then a new server whose wait sees the end with pytest's exit code, and failures
    naming the failed tests with their messages."""
    project = make_project("runs")
    write_suite(project, SUITE)
    seen: dict[str, Any] = {}

    async def first_server() -> None:
        async with stdio_client(server_params(project)) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            tools = await session.list_tools()
            assert {t.name for t in tools.tools} == {"start_run", "status", "wait", "failures", "logs",
                                                     "rerun_failed", "stop", "runs", "up", "down", "ps",
                                                     "env"}
            began = time.monotonic()
            started = await call(session, "start_run", {"pytest_args": ["-p", "no:randomly", "-q"]})
            seen["start_seconds"] = time.monotonic() - began
            run_id = started.structured_content["run"]
            seen["run"] = run_id
            assert started.content[0].text.startswith(f"run {run_id} started")
            progress: list[tuple[float, float | None, str | None]] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append((done, total, message))

            began = time.monotonic()
            waited = await call(session, "wait", {"run_id": run_id, "seconds": 3},
                                progress_callback=on_progress)
            assert time.monotonic() - began < 10  # bounded by its seconds, not by the run
            assert waited.structured_content["ended"] is False
            assert waited.structured_content["state"] in ("starting", "running")
            assert progress
            assert str(progress[0][2]).startswith(f"run {run_id} ")
            status = await call(session, "status", {"run_id": run_id})
            assert status.structured_content["run"] == run_id
            for pid in server_pids(project):
                os.kill(pid, signal.SIGKILL)

    async def second_server() -> None:
        async with stdio_client(server_params(project)) as (read, write), \
                ClientSession(read, write) as session:
            await session.initialize()
            run_id = seen["run"]
            for _ in range(20):
                waited = await call(session, "wait", {"run_id": run_id})
                if waited.structured_content["ended"]:
                    break
            data = waited.structured_content
            assert (data["state"], data["exit_code"]) == ("failed", 1)
            assert (data["progress"]["passed"], data["progress"]["failed"]) == (2, 2)
            failures = await call(session, "failures", {"run_id": run_id})
            found = {f["test"]: f for f in failures.structured_content["failures"]}
            assert set(found) == {"test_agent.py::test_wrong_sum", "test_agent.py::test_raises"}
            assert found["test_agent.py::test_wrong_sum"]["message"].startswith(
                "AssertionError: arithmetic is broken")
            assert found["test_agent.py::test_raises"]["message"] == "KeyError: 'missing-key'"
            assert found["test_agent.py::test_wrong_sum"]["line"] == 5
            wrong_sum = found["test_agent.py::test_wrong_sum"]
            assert "E       AssertionError: arithmetic is broken" in wrong_sum["tail"]
            logs = await call(session, "logs", {"run_id": run_id, "tail": 3})
            assert "2 failed, 2 passed" in logs.structured_content["text"]
            runs = await call(session, "runs", {})
            assert runs.structured_content["runs"][-1]["run"] == run_id
            bad = await session.call_tool("status", {"run_id": "../../etc"})
            assert bad.is_error
            down = await call(session, "down", {})
            assert down.structured_content["project"] == project.name

    try:
        anyio.run(first_server)
    except BaseException as exc:  # the client sees its server die: that is the test
        if "run" not in seen:
            raise
        assert not isinstance(exc, AssertionError), exc
    assert server_pids(project) == []
    anyio.run(second_server)
