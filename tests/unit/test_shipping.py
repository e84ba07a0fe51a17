"""What is shipped to an engine that cannot see this machine's folders: the project binds (never
one from outside it, never a single file, never envctl's log dir), packed under a cap, and the
override that puts the shipped volumes where the binds were."""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from envctl.errors import ComposeFileError, EnvironmentFailedError
from envctl.runs import container
from envctl.runs.container import IN_CONTAINER_PLUGIN, run_override
from envctl.runs.shipping import Shipment, Shipped, pack, shipments
from envctl.runs.state import Limits
from envctl.runs.store import UNMOUNTED_RUN_DIR


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / "suite").mkdir(parents=True)
    (root / "suite" / "test_a.py").write_text("def test_a():\n    pass\n")
    (root / ".envctl" / "runs" / "r1").mkdir(parents=True)
    (root / ".envctl" / "runs" / "r1" / "run.json").write_text("{}")
    (root / "conf.ini").write_text("x")
    return root


def test_project_binds_are_shipped_read_only_unless_writable(project: Path) -> None:
    """Each bind of the project, at its target; read-only unless the service writes it; the log
    dir left out of a bind that holds it."""
    found = shipments(project, project / ".envctl" / "runs",
                      [(str(project / "suite"), "/suite"), (str(project), "/app")], [str(project)])
    assert found == [Shipment(project / "suite", "/suite", True, None),
                     Shipment(project, "/app", False, project / ".envctl" / "runs")]


@pytest.mark.parametrize(("source", "message"), [
    ("/etc", "binds /etc (/x), outside the project folder"),
    ("conf.ini", "binds the file"),
])
def test_what_cannot_be_shipped_is_named(project: Path, source: str, message: str) -> None:
    """A bind from outside the project, or of a single file: an error naming it."""
    with pytest.raises(ComposeFileError, match=re.escape(message)):
        shipments(project, project / ".envctl" / "runs", [(str(project / source), "/x")], [])


def test_a_pack_holds_the_folder_without_envctls_folders(project: Path, tmp_path: Path) -> None:
    """The folder's content at the tar's top; the log dir and every .envctl not in it; a link
    stays a link (a linked folder is not walked into)."""
    (project / "suite" / "host").symlink_to("/etc/passwd")
    (project / "suite" / "up").symlink_to("..")
    (project / "logs").mkdir()
    (project / "logs" / "x").write_text("log")
    with (tmp_path / "p.tar").open("w+b") as into:
        size, skipped = pack(Shipment(project, "/app", False, project / "logs"), into)
        assert (size, skipped) == (into.tell(), [])
    with tarfile.open(tmp_path / "p.tar") as tar:
        names = sorted(tar.getnames())
        link = tar.getmember("suite/host")
    assert names == ["conf.ini", "suite", "suite/host", "suite/test_a.py", "suite/up"]
    assert (link.issym(), link.linkname) == (True, "/etc/passwd")


def test_a_pack_over_its_cap_is_refused(project: Path, tmp_path: Path) -> None:
    """Past the cap: an environment failure saying the size and the cap, not a silent cut."""
    with (tmp_path / "p.tar").open("w+b") as into, \
            pytest.raises(EnvironmentFailedError, match=r"passes 0 MiB as a tar, what envctl ships at most"):
        pack(Shipment(project / "suite", "/suite", True), into, cap=100)


def test_shipped_volumes_take_the_binds_places_and_the_exchange_stays_inside(tmp_path: Path) -> None:
    """The override mounts the shipped volumes (declared external) and no gate; the runner keeps
    its exchange folder in the container, to be copied out."""
    names = ["envctl-ship-r1-0", "envctl-ship-r1-1"]
    shipped = Shipped([{"type": "volume", "source": names[0], "target": "/suite", "read_only": True},
                       {"type": "volume", "source": names[1], "target": IN_CONTAINER_PLUGIN,
                        "read_only": True}], names, 10, 0.1)
    override = run_override("test", "p", "r1", tmp_path / "runs" / "r1", Limits(1 << 30, 1.0, 10),
                            shard="1/2", shipped=shipped)
    spec = override["services"]["test"]  # type: ignore[index]
    assert spec["volumes"] == shipped.volumes
    assert spec["environment"]["ENVCTL_PROGRESS_DIR"] == UNMOUNTED_RUN_DIR
    assert "ENVCTL_ATTACH_GATE" not in spec["environment"]
    assert spec["environment"]["ENVCTL_SHARD"] == "1/2"
    assert override["volumes"] == {name: {"external": True} for name in names}
    argv = container.test_argv(("pytest",), (), 0.0, shipped=True)
    assert argv[:4] == ["python3", f"{IN_CONTAINER_PLUGIN}/envctl_runner.py", "0", UNMOUNTED_RUN_DIR]
