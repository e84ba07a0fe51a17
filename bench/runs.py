"""Run benchmarks, each against the raw tool measured in the same run (medians):

1. `envctl test` against raw `docker compose run --rm test pytest`, same suite (target <= 1.05x);
2. `envctl test --detach` return time (target <= 1.0 s);
3. `envctl status` on runs with a 1 MB and a 1 GB log (target: the same, <= 250 ms);
4. log capture throughput against `docker run ... > file` (target >= 0.9x), and the collector's
   peak RSS (target <= 60 MB).

    .venv/bin/python -m bench.runs [--rounds 5] [--capture-mb 512]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from tempfile import TemporaryDirectory

from bench.common import ENVCTL, ROOT, bench_env, compose_down, median, project_name, raw_compose

FIXTURE = ROOT / "bench" / "fixtures" / "runs"
IMAGE = "envctltest-pytest:1"


def timed(argv: list[str], env: dict[str, str],
          **kwargs: object) -> tuple[float, subprocess.CompletedProcess[bytes]]:
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=FIXTURE, env=env, capture_output=True, timeout=900, check=False,
                          **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started, proc


def bench_test_vs_compose(env: dict[str, str], project: str, rounds: int) -> None:
    raw = [*raw_compose(project, Path(env["ENVCTL_LOG_DIR"]), FIXTURE / "compose.yaml"), "run", "--rm",
           "test", "pytest", "-q"]
    envctl_times, raw_times = [], []
    for _ in range(rounds):
        seconds, proc = timed([*ENVCTL, "test", "--", "-q"], env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        envctl_times.append(seconds)
        seconds, proc = timed(raw, env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        raw_times.append(seconds)
    ratio = median(envctl_times) / median(raw_times)
    print(f"1. envctl test {median(envctl_times):.2f} s vs compose run --rm {median(raw_times):.2f} s "
          f"(300 tests): ratio {ratio:.3f}x (target <= 1.05x)")


def bench_detach(env: dict[str, str], rounds: int) -> list[str]:
    times, ids = [], []
    for _ in range(rounds):
        seconds, proc = timed([*ENVCTL, "test", "--detach"], env)
        assert proc.returncode == 0, proc.stderr[-2000:]
        times.append(seconds)
        ids.append(proc.stdout.decode().strip().splitlines()[-1])
    for run_id in ids:
        subprocess.run([*ENVCTL, "wait", run_id], cwd=FIXTURE, env=env, capture_output=True, timeout=300,
                       check=False)
    print(f"2. envctl test --detach returns in {median(times) * 1000:.0f} ms median "
          f"(all: {', '.join(f'{t * 1000:.0f}' for t in times)}; target <= 1000 ms)")
    return ids


def fake_run(log_dir: Path, run_id: str, size: int) -> None:
    """A finished run whose output.log is ``size`` bytes (real lines at the end)."""
    run_dir = log_dir / run_id
    run_dir.mkdir(parents=True, mode=0o700)
    record = {"id": run_id, "project": "p", "service": "test", "command": ["pytest"],
              "limits": {"memory": 1 << 30, "cpus": 1.0, "pids": 100}, "state": "passed",
              "created_at": time.time(), "started_at": time.time() - 60, "finished_at": time.time(),
              "pytest_exit": 0}
    (run_dir / "run.json").write_text(json.dumps(record))
    line = b"tests/test_x.py::test_something[param] PASSED" + b" " * 40 + b"[ 50%]\n"
    with (run_dir / "output.log").open("wb") as out:
        block = line * (len(line) and (1 << 20) // len(line))
        written = 0
        while written + len(block) <= size:
            out.write(block)
            written += len(block)
        out.write(line * ((size - written) // len(line)))


def bench_status(env: dict[str, str], log_dir: Path, rounds: int) -> None:
    env = {**env, "ENVCTL_LOG_DIR": str(log_dir)}
    sizes = {"1 MB": 1 << 20, "1 GB": 1 << 30}
    results = {}
    for i, (label, size) in enumerate(sizes.items()):
        run_id = f"20200101-00000{i}-beef"
        fake_run(log_dir, run_id, size)
        times = []
        for _ in range(rounds):
            seconds, proc = timed([*ENVCTL, "status", run_id], env)
            assert proc.returncode == 0, proc.stderr
            times.append(seconds)
        results[label] = median(times)
    print("3. envctl status: " + ", ".join(f"{k} log {v * 1000:.0f} ms" for k, v in results.items())
          + f" (ratio {results['1 GB'] / results['1 MB']:.2f}x; target same, <= 250 ms)")


def collector_pid(run_dir: Path, timeout: float = 10) -> int | None:
    """The process holding the run's collector lock open (the starter has returned by now). Found
    by its descriptors, not its command line: a collector forked from `envctl test` keeps the
    command's own."""
    lock = str(run_dir / "collector.lock")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if any(str(fd.readlink()) == lock for fd in (entry / "fd").iterdir()):
                    return int(entry.name)
            except OSError:
                continue
        time.sleep(0.01)
    return None


def peak_rss_kb(pid: int) -> tuple[int, float]:
    """Follow a process until it exits: its peak resident set (VmHWM) in KiB, and the CPU seconds
    it had used when last seen (its own threads, user and system)."""
    peak, cpu = 0, 0.0
    status, stat = Path(f"/proc/{pid}/status"), Path(f"/proc/{pid}/stat")
    ticks = os.sysconf("SC_CLK_TCK")
    while True:
        try:
            text = status.read_text()
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            return peak, cpu
        cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (fields 14 and 15)
        for line in text.splitlines():
            if line.startswith("VmHWM:"):
                peak = max(peak, int(line.split()[1]))
        time.sleep(0.02)


def bench_capture(env: dict[str, str], log_dir: Path, megabytes: int, rounds: int) -> None:
    """Raw and envctl alternately, ``rounds`` times: one round moved the ratio by +-0.08."""
    raw_rates: list[float] = []
    envctl_rates: list[float] = []
    peaks: list[int] = []
    for _ in range(rounds):
        raw_rate, envctl_rate, peak, size = capture_round(env, log_dir, megabytes)
        raw_rates.append(raw_rate)
        envctl_rates.append(envctl_rate)
        peaks.append(peak)
    ratios = [e / r for e, r in zip(envctl_rates, raw_rates, strict=True)]
    print(f"4. capture of {size / 1e6:.0f} MB in 100-byte lines, {rounds} rounds: envctl "
          f"{median(envctl_rates):.1f} MB/s (start to record) vs docker run > file "
          f"{median(raw_rates):.1f} MB/s: "
          f"ratio {median(ratios):.2f}x, median of the rounds' ({' '.join(f'{r:.2f}' for r in ratios)}; "
          f"target >= 0.9x); collector peak RSS {max(peaks) / 1024:.0f} MB (target <= 60 MB)")


def capture_round(env: dict[str, str], log_dir: Path, megabytes: int) -> tuple[float, float, int, int]:
    """(raw MB/s, envctl MB/s, the collector's peak RSS in KiB, the bytes envctl logged)."""
    # One line of Python (the test command goes through shell-like splitting, never a shell).
    writer = ("import sys; out = sys.stdout.buffer; block = (b'x' * 99 + b'\\n') * 10486; "
              f"[out.write(block) for _ in range({megabytes})]; out.flush()")
    raw_file = log_dir / "raw.out"
    started = time.perf_counter()
    with raw_file.open("wb") as out:
        subprocess.run(["docker", "run", "--rm", IMAGE, "python3", "-c", writer], stdout=out, check=True,
                       timeout=900)
    raw_seconds = time.perf_counter() - started
    raw_size = raw_file.stat().st_size
    raw_file.unlink()
    capture_env = {**env, "ENVCTL_TEST_COMMAND": shlex.join(["python3", "-c", writer]),
                   "ENVCTL_MAX_LOG_SIZE": f"{megabytes * 2}m"}
    started = time.perf_counter()
    _seconds, proc = timed([*ENVCTL, "test", "--detach", "--json"], capture_env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run_dir = Path(json.loads(proc.stdout)["dir"])
    pid = collector_pid(run_dir)
    peak, cpu = peak_rss_kb(pid) if pid else (0, 0.0)
    subprocess.run([*ENVCTL, "wait", run_dir.name], cwd=FIXTURE, env=capture_env, capture_output=True,
                   timeout=900, check=False)
    envctl_seconds = time.perf_counter() - started
    size = (run_dir / "output.log").stat().st_size
    shutil.rmtree(run_dir)  # the next round's disk as this one's
    print(f"   round: docker run {raw_seconds:.2f} s, envctl {envctl_seconds:.2f} s "
          f"(its collector's CPU {cpu:.2f} s)", flush=True)
    return raw_size / raw_seconds / 1e6, size / envctl_seconds / 1e6, peak, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--capture-mb", type=int, default=512)
    parser.add_argument("--capture-rounds", type=int, default=3)
    parser.add_argument("--only", choices=["capture"], help="only the capture (4.)")
    args = parser.parse_args()
    project = project_name("runs")
    with TemporaryDirectory() as tmp:
        log_dir = Path(tmp)
        env = bench_env(project, log_dir)
        subprocess.run([*ENVCTL, "up"], cwd=FIXTURE, env=env, capture_output=True, check=True, timeout=300)
        try:
            if args.only is None:
                bench_test_vs_compose(env, project, args.rounds)
                bench_detach(env, args.rounds)
                bench_status(env, log_dir / "status-runs", args.rounds)
            bench_capture(env, log_dir, args.capture_mb, args.capture_rounds)
        finally:
            compose_down(project)
    print(f"machine: {os.cpu_count()} cores; envctl and the raw tool measured alternately in this run")


if __name__ == "__main__":
    main()
