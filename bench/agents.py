"""Agent benchmarks, each against the raw tool measured in the same run (medians):

1. MCP `start_run` return time against `envctl test --detach` and raw `docker compose run -d`
   (target <= 1 s);
2. MCP `status` on a warm server while a run goes on, against `envctl status --json` (a fresh
   process) and raw `docker inspect` of the test container (target <= 100 ms);
3. MCP `failures` of a run with 500 failures, in bytes, against `envctl report --format json`
   (target < 20 KB by default).

    .venv/bin/python -m bench.agents [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median, project_name

FIXTURE = ROOT / "bench" / "fixtures" / "runs"
FAILING = (
    "import pytest, time\n"
    "@pytest.mark.parametrize('n', range(500))\n"
    "def test_fails(n):\n"
    "    assert {'n': n, 'payload': 'x' * 300} == {'n': -1}, 'a long message ' * 20\n"
    "def test_zz_slow():\n"
    "    time.sleep(12)\n"
)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    return time.perf_counter() - started, proc


async def tool(session: ClientSession, name: str, arguments: dict[str, Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await session.call_tool(name, arguments)
    seconds = time.perf_counter() - started
    assert not result.is_error, result.content
    return seconds, result.structured_content


async def bench(project_dir: Path, env: dict[str, str], project: str, rounds: int) -> None:
    params = StdioServerParameters(command=sys.executable, args=["-m", "envctl", "mcp"],
                                   cwd=str(project_dir), env=env)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        await tool(session, "runs", {})  # warm: the server has imported what it needs
        nothing = ["-q", "-k", "no_test_has_this_name"]
        mcp_times, cli_times, raw_times, ids = [], [], [], []
        for _ in range(rounds):
            seconds, started = await tool(session, "start_run", {"pytest_args": nothing})
            mcp_times.append(seconds)
            ids.append(started["run"])
            seconds, proc = run([*ENVCTL, "test", "--detach", "--", *nothing], project_dir, env)
            assert proc.returncode == 0, proc.stderr[-2000:]
            cli_times.append(seconds)
            ids.append(proc.stdout.strip().splitlines()[-1])
            # A project of its own: raw compose would recreate envctl's sidecar (other labels).
            seconds, proc = run(["docker", "compose", "-p", f"{project}-raw", "run", "-d", "--rm", "test",
                                 "true"], project_dir, env)
            assert proc.returncode == 0, proc.stderr[-2000:]
            raw_times.append(seconds)
        for run_id in ids:
            while not (await tool(session, "wait", {"run_id": run_id}))[1]["ended"]:
                pass
        print(f"1. start_run {median(mcp_times) * 1000:.0f} ms vs `envctl test --detach` "
              f"{median(cli_times) * 1000:.0f} ms ({median(mcp_times) / median(cli_times):.2f}x) vs raw "
              f"`compose run -d` {median(raw_times) * 1000:.0f} ms "
              f"({median(mcp_times) / median(raw_times):.2f}x) (target <= 1 s)")

        _seconds, started = await tool(session, "start_run", {"pytest_args": ["-q", "-p", "no:randomly"]})
        run_id = started["run"]
        while (await tool(session, "status", {"run_id": run_id}))[1]["state"] != "running":
            await anyio.sleep(0.2)
        record = json.loads((Path(env["ENVCTL_LOG_DIR"]) / run_id / "run.json").read_text())
        mcp_status = [(await tool(session, "status", {"run_id": run_id}))[0] for _ in range(50)]
        cli_status = [run([*ENVCTL, "status", run_id, "--json"], project_dir, env)[0] for _ in range(rounds)]
        inspect = ["docker", "inspect", record["container"]]
        raw_status = [run(inspect, project_dir, env)[0] for _ in range(rounds)]
        state = (await tool(session, "status", {"run_id": run_id}))[1]["state"]
        print(f"2. status (warm server, run {state}) {median(mcp_status) * 1000:.1f} ms vs "
              f"`envctl status --json` {median(cli_status) * 1000:.0f} ms "
              f"({median(mcp_status) / median(cli_status):.3f}x) vs raw `docker inspect` "
              f"{median(raw_status) * 1000:.0f} ms ({median(mcp_status) / median(raw_status):.2f}x) "
              f"(target <= 100 ms)")

        while not (await tool(session, "wait", {"run_id": run_id}))[1]["ended"]:
            pass
        result = await session.call_tool("failures", {"run_id": run_id})
        size = len(json.dumps(result.structured_content))
        text = sum(len(block.text) for block in result.content if hasattr(block, "text"))
        report = run([*ENVCTL, "report", run_id, "--format", "json"], project_dir, env)[1].stdout
        data = result.structured_content
        print(f"3. failures of {data['total']} failures: {size / 1024:.1f} KB structured "
              f"({text / 1024:.1f} KB as text), {data['shown']} shown, vs `report --format json` "
              f"{len(report) / 1024:.0f} KB ({size / len(report):.3f}x) (target < 20 KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    project = project_name("agents")
    with TemporaryDirectory(ignore_cleanup_errors=True) as tmp:  # a collector may still be writing
        project_dir = Path(tmp) / "project"
        shutil.copytree(FIXTURE, project_dir, ignore=shutil.ignore_patterns("__pycache__"))
        (project_dir / "compose.yaml").write_text((FIXTURE / "compose.yaml").read_text().replace(
            "../../../tests/fixtures/runs", str(ROOT / "tests" / "fixtures" / "runs")))
        for old in (project_dir / "suite").glob("test_*.py"):
            old.unlink()
        (project_dir / "suite" / "test_fails.py").write_text(FAILING)
        env = bench_env(project, Path(tmp) / "runs")
        try:
            _seconds, proc = run([*ENVCTL, "up"], project_dir, env)
            assert proc.returncode == 0, proc.stderr[-2000:]
            _seconds, proc = run(["docker", "compose", "-p", f"{project}-raw", "up", "-d", "--wait",
                                  "sidecar"], project_dir, env)
            assert proc.returncode == 0, proc.stderr[-2000:]
            anyio.run(bench, project_dir, env, project, args.rounds)
        finally:
            compose_down(project)
            compose_down(f"{project}-raw")


if __name__ == "__main__":
    main()
