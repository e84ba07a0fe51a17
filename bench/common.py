"""Shared helpers for the benchmarks: medians, a labelled throwaway project, the envctl CLI."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENVCTL = [sys.executable, "-m", "envctl"]


def median(values: list[float]) -> float:
    return statistics.median(values)


def project_name(tag: str) -> str:
    return f"envctlbench-{tag}-{uuid.uuid4().hex[:6]}"


def bench_env(project: str, log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENVCTL_")}
    env.update(ENVCTL_PROJECT_NAME=project, ENVCTL_LOG_DIR=str(log_dir), ENVCTL_LOG_FORMAT="json",
               PYTHONPATH=str(ROOT))
    return env


def plugins_project(tmp: Path, files: dict[str, str]) -> Path:
    """A copy of the compatibility project (tests/fixtures/plugins) whose suite is ``files``
    (names under tests/ -> their text); its folder."""
    import shutil  # noqa: PLC0415

    project_dir = tmp / "project"
    shutil.copytree(ROOT / "tests" / "fixtures" / "plugins", project_dir,
                    ignore=shutil.ignore_patterns("__pycache__"))
    suite = project_dir / "suite"
    shutil.rmtree(suite / "tests")
    shutil.rmtree(suite / "crash")
    (suite / "pytest.ini").write_text("[pytest]\ntestpaths = tests\n")
    (suite / "tests").mkdir()
    for name, text in files.items():
        (suite / "tests" / name).write_text(text)
    return project_dir


def raw_compose(project: str, log_dir: Path, compose_file: str | Path = "compose.yaml") -> list[str]:
    """`docker compose` on ``project`` as envctl made it: its file and envctl's label override
    for it (in the runs folder ``log_dir``, once envctl has run there). Without the override
    compose finds the network's labels changed and makes the network, and the services on it,
    again: a raw run timed that way pays for that, and pulls the environment from under envctl."""
    overrides = [arg for path in sorted((log_dir / ".compose").glob(f"{project}.labels.json"))
                 for arg in ("-f", str(path))]
    return ["docker", "compose", "-p", project, "-f", str(compose_file), *overrides]


def compose_down(project: str) -> None:
    subprocess.run(["docker", "compose", "-p", project, "down", "-v", "-t", "1"], capture_output=True,
                   timeout=120, check=False)
