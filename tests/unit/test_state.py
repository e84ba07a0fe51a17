"""A run's record: counts as pytest names them, records an older envctl wrote still load, and a
service's OOM kill says its peak."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envctl.errors import DamagedRunError
from envctl.report.usage import Resources, Usage
from envctl.runs.collector import with_peak
from envctl.runs.state import Counts, DependencyEvent, Limits, RunRecord

RECORD = {"id": "20260101-000000-abcd", "project": "p", "service": "test", "command": ["pytest"],
          "limits": {"memory": 1, "cpus": 1.0, "pids": 1}, "state": "passed"}


def test_a_record_written_before_deselected_was_counted_loads_with_none(tmp_path: Path) -> None:
    """Counts without "deselected" (an older envctl's run.json): 0 deselected, the rest as written."""
    counts = {"total": 3, "done": 3, "passed": 3, "failed": 0, "skipped": 0, "errors": 0, "xfailed": 0,
              "xpassed": 0, "flaky": 0}
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"counts": counts}))
    assert RunRecord.load(tmp_path).counts == Counts(total=3, done=3, passed=3, deselected=0)


def test_deselected_is_kept_in_the_record(tmp_path: Path) -> None:
    """A record with deselected tests reads back with them."""
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"counts": {"total": 2, "done": 2, "passed": 2,
                                                                        "deselected": 5}}))
    assert RunRecord.load(tmp_path).counts.deselected == 5


def test_a_services_oom_names_its_peak_and_survives_the_record(tmp_path: Path) -> None:
    """An OOM-killed service with its sampled peak says it; the figures are kept in run.json."""
    event = DependencyEvent(service="db", container="p-db-1", action="oom", at=1.0, exit_code=137,
                            running_test="t.py::big", memory_peak=96 << 20, memory_limit=128 << 20)
    assert event.describe() == ("service db was OOM-killed (exit 137) (memory peaked at 96 MiB of its "
                                "128 MiB limit) while t.py::big was running")
    record = RunRecord(id="20260101-000000-abcd", project="p", service="test", command=["pytest"],
                       limits=Limits(1, 1.0, 1), dependency_events=[event])
    assert RunRecord.from_dict(record.to_dict()).dependency_events == [event]
    died = DependencyEvent(service="db", container="p-db-1", action="die", at=1.0, memory_peak=5)
    assert died.describe() == "service db died"


def test_a_service_oom_takes_its_peak_from_the_samples() -> None:
    """The collector adds the service's sampled peak and limit to its OOM event, and only to that."""
    used = Resources(at=1.0, services=(("db", Usage(peak=100, limit=128)),))
    oom = DependencyEvent(service="db", container="p-db-1", action="oom", at=1.0)
    assert (with_peak(oom, used).memory_peak, with_peak(oom, used).memory_limit) == (100, 128)
    died = DependencyEvent(service="db", container="p-db-1", action="die", at=1.0)
    assert with_peak(died, used) == died
    assert with_peak(oom, None) == oom


def test_the_engine_a_run_is_on_is_kept_and_checked(tmp_path: Path) -> None:
    """A record names its engine's address and the name it was given; a non-string is damage."""
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"engine": "unix:///run/e2/docker.sock",
                                                            "engine_name": "e2"}))
    record = RunRecord.load(tmp_path)
    assert (record.engine, record.engine_name) == ("unix:///run/e2/docker.sock", "e2")
    (tmp_path / "run.json").write_text(json.dumps(RECORD | {"engine": ["unix:///x"]}))
    with pytest.raises(DamagedRunError, match="'engine' is not a string"):
        RunRecord.load(tmp_path)
