"""The test container's override: the log dir hidden under every bind of the service that holds
it, a bind of the log dir itself refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest

from envctl.errors import ConfigError, ExitCode
from envctl.runs.container import MOVE_LOG_DIR, log_dir_masks, run_override
from envctl.runs.state import Limits


def mask(target: str) -> dict[str, object]:
    return {"type": "tmpfs", "target": target, "tmpfs": {"size": 1048576}}


def test_a_bind_holding_the_log_dir_gets_a_tmpfs_at_its_place(tmp_path: Path) -> None:
    """Project and a parent both mounted: one mask under each; an unrelated bind none."""
    log_dir = tmp_path / "proj" / ".envctl" / "runs"
    log_dir.mkdir(parents=True)
    (tmp_path / "other").mkdir()
    binds = [(str(tmp_path / "proj"), "/app"), (str(tmp_path), "/all/"),
             (str(tmp_path / "other"), "/other")]
    assert log_dir_masks(binds, log_dir) == [mask("/app/.envctl/runs"), mask("/all/proj/.envctl/runs")]


def test_a_bind_through_a_link_is_compared_by_its_real_path(tmp_path: Path) -> None:
    """A source that is a link to the project: the mask is still laid."""
    (tmp_path / "proj" / "logs").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "proj")
    assert log_dir_masks([(str(tmp_path / "link"), "/app")], tmp_path / "proj" / "logs") \
        == [mask("/app/logs")]


@pytest.mark.parametrize("inside", ["", "20260101-000000-aaa1", ".compose"])
def test_a_bind_of_the_log_dir_or_a_folder_in_it_is_refused(tmp_path: Path, inside: str) -> None:
    """Nothing could hide it: a config error that says to move log_dir."""
    log_dir = tmp_path / "runs"
    (log_dir / inside).mkdir(parents=True, exist_ok=True)
    with pytest.raises(ConfigError) as raised:
        log_dir_masks([(str(log_dir / inside), "/data")], log_dir)
    assert raised.value.exit_code == ExitCode.CONFIG
    assert raised.value.hint == MOVE_LOG_DIR
    assert MOVE_LOG_DIR == "set log_dir (ENVCTL_LOG_DIR) to a folder outside what the test service mounts"


def test_a_relative_target_holding_the_log_dir_is_refused(tmp_path: Path) -> None:
    """Its place in the container unknown: refused rather than left visible."""
    (tmp_path / "runs").mkdir()
    with pytest.raises(ConfigError):
        log_dir_masks([(str(tmp_path), "app")], tmp_path / "runs")


def test_the_override_puts_the_masks_before_envctls_own_mounts(tmp_path: Path) -> None:
    """Mounted or not, the mask is in the service's volumes (compose merges them by target)."""
    run_dir = tmp_path / "proj" / ".envctl" / "runs" / "20260101-000000-aaa1"
    run_dir.mkdir(parents=True)
    binds = [(str(tmp_path / "proj"), "/proj")]
    for mounted, targets in ((True, ["/proj/.envctl/runs", "/envctl", "/envctl-in", "/envctl-run"]),
                             (False, ["/proj/.envctl/runs"])):
        override = run_override("test", "p", run_dir.name, run_dir, Limits(1, 1.0, 1),
                                mounted=mounted, binds=binds)
        spec = cast("dict[str, Any]", override["services"])["test"]
        assert [v["target"] for v in spec["volumes"]] == targets
