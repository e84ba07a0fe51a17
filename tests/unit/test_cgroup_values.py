"""A run's cgroup as a value: HostCgroup's checks, its plan form read back (refusing what is
not a run's cgroup), its files; the run id pattern spelled again for the runner."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.runs import host_limits
from envctl.runs.host_limits import HostCgroup
from envctl.runs.ids import RUN_ID_PATTERN
from tests.unit.test_host_limits import NAME, RUN


def test_the_run_id_pattern_is_the_one_of_run_ids() -> None:
    """Spelled again to keep the runner stdlib-only, it stays the same as envctl.runs.ids'."""
    assert host_limits.RUN_ID_PATTERN.pattern == RUN_ID_PATTERN.pattern
    assert host_limits.RUN_ID_PATTERN.flags == RUN_ID_PATTERN.flags


def test_to_json_and_back(tmp_path: Path) -> None:
    """The plan's form: version and paths, read back the same (with the run id checked)."""
    top = tmp_path / "cgroup"
    cgroup = HostCgroup(1, (f"{top}/memory/envctl/{NAME}", f"{top}/pids/envctl/{NAME}"))
    assert cgroup.to_json() == {"version": 1, "paths": list(cgroup.paths)}
    assert HostCgroup.from_json(cgroup.to_json(), run_id=RUN, root=top) == cgroup
    assert cgroup.run_id == RUN
    assert cgroup.procs_files() == (f"{top}/memory/envctl/{NAME}/cgroup.procs",
                                    f"{top}/pids/envctl/{NAME}/cgroup.procs")


@pytest.mark.parametrize(("data", "message"), [
    (["/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"], "not a cgroup"),
    ({"version": 1}, "not a cgroup"),
    ({"version": 1, "paths": [], "extra": 1}, "not a cgroup"),
    ({"version": True, "paths": [f"/sys/fs/cgroup/memory/envctl/{NAME}"]}, "not a number"),
    ({"version": 3, "paths": [f"/sys/fs/cgroup/memory/envctl/{NAME}"]}, "neither 1 nor 2"),
    ({"version": 1, "paths": "/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"}, "not a list"),
    ({"version": 1, "paths": [7]}, "not a list"),
    ({"version": 1, "paths": []}, "0 cgroup paths"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/a/envctl-20260807-143022-ab12",
                              "/sys/fs/cgroup/b/envctl-20260807-143022-ab12"]}, "2 cgroup paths"),
    ({"version": 1, "paths": ["sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12"]}, "not absolute"),
    ({"version": 1, "paths": ["/sys/fs/cgroup/memory/../../../tmp/envctl-20260807-143022-ab12"]},
     "not absolute and normal"),
    ({"version": 2, "paths": ["/tmp/envctl/envctl-20260807-143022-ab12"]}, "is not under /sys/fs/cgroup"),
    ({"version": 2, "paths": ["/sys/fs/cgroupx/envctl-20260807-143022-ab12"]}, "is not under /sys/fs/cgroup"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/system.slice"]}, "envctl-<run id>"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/envctl/envctl-latest"]}, "envctl-<run id>"),
    ({"version": 1, "paths": ["/sys/fs/cgroup/memory/envctl/envctl-20260807-143022-ab12",
                              "/sys/fs/cgroup/pids/envctl/envctl-20260807-143022-ffff"]}, "envctl-<run id>"),
    ({"version": 2, "paths": ["/sys/fs/cgroup/envctl/envctl-20260807-143022-ffff"]},
     "not run 20260807-143022-ab12"),
])
def test_from_json_refuses_what_is_not_a_runs_cgroup(data: object, message: str) -> None:
    """Wrong shapes, relative or unnormal paths, paths outside the cgroup root, other names or
    another run's: ValueError."""
    with pytest.raises(ValueError, match=message):
        HostCgroup.from_json(data, run_id=RUN)
