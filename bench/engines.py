"""The cost of an engine (issue #24): a one-shard run placed on another engine against the same
shard here and against raw compose on that engine (the per-engine start-up), and the shipping
of the sources to an engine that cannot see the checkout against the raw tool doing the same
(`tar | docker run -i ... tar x` into a volume), in MB/s. Speed-up from several engines cannot be
shown on a 2-core machine: docs/configuration.md#several-engines says how the split scales.

Two more engines are started here (bench/extra_engine.py): e2 sees this machine's folders, e3
(in a mount namespace where the project is an empty tmpfs) does not. Rounds alternate.

    .venv/bin/python -m bench.engines [--rounds 3] [--mb 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, median, project_name
from bench.extra_engine import ExtraEngine, can_start_engines

IMAGES = ("debian:bookworm-slim", "envctltest-pytest:1")


def make_project(tmp: Path, megabytes: int) -> Path:
    """The `runs` fixture with one test and ``megabytes`` of data in its suite (shipped with it)."""
    project = tmp / "project"
    shutil.copytree(ROOT / "tests" / "fixtures" / "runs", project)
    for old in (project / "suite").glob("test_*.py"):
        old.unlink()
    (project / "suite" / "test_one.py").write_text("def test_one():\n    pass\n")
    (project / "suite" / "data").mkdir()
    for index in range(megabytes):
        (project / "suite" / "data" / f"blob{index}").write_bytes(os.urandom(1 << 20))
    return project


def envctl_shard(project: Path, env: dict[str, str], engine: str) -> tuple[float, dict[str, object]]:
    """One shard on ``engine``: wall seconds, and the shard's record."""
    started = time.perf_counter()
    proc = subprocess.run([*ENVCTL, "test", "--shards", "1", "--engines", engine], cwd=project, env=env,
                          capture_output=True, timeout=600, check=False)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = [json.loads(p.read_text()) for p in Path(env["ENVCTL_LOG_DIR"]).glob("*/run.json")]
    shard = max((r for r in found if r.get("shard")), key=lambda r: float(r["created_at"]))
    return seconds, shard


def raw_on(engine: ExtraEngine, project: Path) -> float:
    """Raw compose on that engine: the sidecar up, the test run, the project down."""
    name = project_name("rawe")
    env = {**os.environ, "DOCKER_HOST": engine.host}
    compose = ["docker", "compose", "-p", name, "-f", str(project / "compose.yaml")]
    started = time.perf_counter()
    try:
        subprocess.run([*compose, "run", "--rm", "test", "pytest", "-q"], env=env, capture_output=True,
                       timeout=600, check=True)
    finally:
        subprocess.run([*compose, "down", "-v", "-t", "1"], env=env, capture_output=True, timeout=120,
                       check=False)
    return time.perf_counter() - started


def raw_ship(engine: ExtraEngine, folder: Path) -> float:
    """The raw tool shipping ``folder``: a tar stream into a fresh volume through `docker run -i`."""
    volume = project_name("ship")
    started = time.perf_counter()
    try:
        tar = subprocess.Popen(["tar", "-C", str(folder), "-cf", "-", "."], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", engine.host, "run", "-i", "--rm", "-v", f"{volume}:/d", IMAGES[1],
                        "tar", "-xf", "-", "-C", "/d"], stdin=tar.stdout, capture_output=True, timeout=600,
                       check=True)
        tar.wait(timeout=60)
    finally:
        engine.docker("volume", "rm", "-f", volume, check=False)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mb", type=int, default=20, help="MB of data in the suite folder")
    args = parser.parse_args()
    why = can_start_engines()
    if why:
        raise SystemExit(f"bench.engines: {why}")
    with TemporaryDirectory(prefix="envctl-bench-engines-") as tmp:
        project = make_project(Path(tmp), args.mb)
        e2, e3 = ExtraEngine("e2"), ExtraEngine("e3", blind=project)
        for engine in (e2, e3):
            engine.start()
            engine.hand_over(*IMAGES)
        env = bench_env(project_name("engines"), Path(tmp) / "runs")
        here, there, raw, blind, shipped, shipped_bytes, raw_shipped = [], [], [], [], [], [], []
        try:
            for _ in range(args.rounds):
                here.append(envctl_shard(project, env, "default")[0])
                there.append(envctl_shard(project, env, e2.host)[0])
                raw.append(raw_on(e2, project))
                seconds, shard = envctl_shard(project, env, e3.host)
                blind.append(seconds)
                shipped.append(float(shard["shipped_seconds"]))  # type: ignore[arg-type]
                shipped_bytes.append(int(shard["shipped_bytes"]))  # type: ignore[call-overload]
                raw_shipped.append(raw_ship(e3, project / "suite"))
        finally:
            for engine in (e2, e3):
                engine.stop()
        mb = median([float(b) for b in shipped_bytes]) / (1 << 20)
        h, t, r, b = median(here), median(there), median(raw), median(blind)
        ship, raw_tar = median(shipped), median(raw_shipped)
        print(f"engines, {args.rounds} rounds, medians; one shard of one test (`runs` fixture: a sidecar "
              "with a health check)")
        print(f"  here (default engine):            {h:.2f} s")
        print(f"  on e2 (another engine, sees it):  {t:.2f} s  ({t / h:.2f}x of here)")
        print(f"  raw compose on e2 (run, down):    {r:.2f} s  (envctl on e2 {t / r:.2f}x of raw)")
        print(f"  on e3 (cannot see it, ships):     {b:.2f} s  ({b / t:.2f}x of e2)")
        print(f"shipping {mb:.1f} MB (the suite, envctl's plugin, the shard's input) to e3:")
        print(f"  envctl {ship:.2f} s ({mb / ship:.0f} MB/s); raw `tar | docker run -i tar x` of the suite "
              f"{raw_tar:.2f} s; envctl {ship / raw_tar:.2f}x of raw")

if __name__ == "__main__":
    main()
