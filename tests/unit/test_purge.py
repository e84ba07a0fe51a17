"""The one-shot helper that empties a host folder the host user cannot: a container of a test
image as the owner of what is left, no capability, only that folder mounted, no network, never
pulled, always removed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from envctl.docker import purge, timeouts
from envctl.docker.purge import IN_HELPER, SCRIPT, left_owners, purge_folder
from tests.unit.fake_api import Each, FakeAPI, not_found

LABELS = {"io.envctl.managed": "true"}
# Files of another uid can be made only as root (as the unit suite runs here).
AS_ROOT = pytest.mark.skipif(os.geteuid() != 0, reason="makes files of other uids: needs root")


def helper_api(**answers: Any) -> FakeAPI:
    defaults: dict[str, Any] = {"create_container": {"Id": "h1"}, "create_host_config": {"hc": 1},
                                "wait": {"StatusCode": 0}}
    return FakeAPI(**(defaults | answers))


def test_the_helper_runs_isolated_python_as_the_owner_on_the_folder_alone() -> None:
    """python3 -I -S as the leftovers' uid:gid, the folder bind-mounted (a missing one is refused,
    not made), no network, no capability at all, read-only, limited; started, waited for, removed."""
    api = helper_api()
    folder = Path("/logs/.exchange/r1")
    assert purge_folder(cast("Any", api), "shop-tests:latest", folder, labels=LABELS,
                        owners=[(1000, 1001)]) is True
    [(args, kwargs)] = api.called("create_container")
    assert args == ("shop-tests:latest",)
    assert kwargs == {"entrypoint": ["python3"], "command": ["-I", "-S", "-c", SCRIPT, IN_HELPER, "60"],
                      "user": "1000:1001", "labels": LABELS, "network_disabled": True,
                      "host_config": {"hc": 1}}
    [(_args, config)] = api.called("create_host_config")
    assert config == {
        "mounts": [{"Target": IN_HELPER, "Source": "/logs/.exchange/r1", "Type": "bind", "ReadOnly": False}],
        "network_mode": "none", "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"], "read_only": True, "mem_limit": purge.PURGE_MEMORY,
        "pids_limit": purge.PURGE_PIDS, "auto_remove": True}
    assert [name for name, _a, _k in api.calls] == ["create_host_config", "create_container", "start",
                                                    "wait", "remove_container"]
    assert api.called("wait") == [(("h1",), {"timeout": 60})]


def test_an_image_the_engine_lacks_is_false_and_never_pulled() -> None:
    """The create's 404: nothing started, nothing pulled."""
    api = helper_api(create_container=not_found("No such image: gone:1"))
    assert purge_folder(cast("Any", api), "gone:1", Path("/f"), labels=LABELS, owners=[(1000, 1000)]) is False
    assert [name for name, _a, _k in api.calls] == ["create_host_config", "create_container"]


def test_a_helper_that_failed_or_overran_is_false_and_removed() -> None:
    """Exit 1 (something left), or still running at its deadline: False, and force-removed."""
    failed = helper_api(wait={"StatusCode": 1})
    assert purge_folder(cast("Any", failed), "img", Path("/f"), labels=LABELS, owners=[(1000, 1000)]) is False
    assert failed.called("remove_container") == [(("h1",), {"force": True, "v": True})]


def test_a_helper_the_engine_removed_once_ended_is_judged_by_the_folder() -> None:
    """auto_remove took it before the wait: True (the caller looks at the folder)."""
    api = helper_api(wait=Each(not_found("No such container: h1")))
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS, owners=[(1000, 1000)]) is True


def test_the_script_empties_the_folder_without_following_links(tmp_path: Path) -> None:
    """Run here on a folder: trees, files and links go; what a link points at stays."""
    folder, outside = tmp_path / "box", tmp_path / "outside"
    (folder / "tree" / "deep").mkdir(parents=True)
    (folder / "tree" / "deep" / "f").write_text("x")
    (folder / "file").write_text("x")
    outside.mkdir()
    (outside / "keep").write_text("x")
    (folder / "link").symlink_to(outside)
    (folder / "tree" / "inner-link").symlink_to(outside)
    done = subprocess.run([sys.executable, "-I", "-S", "-c", SCRIPT, str(folder), "60"], check=False)
    assert done.returncode == 0
    assert (list(folder.iterdir()), (outside / "keep").read_text()) == ([], "x")


def test_the_script_ends_itself_at_its_deadline(tmp_path: Path) -> None:
    """Its work held up (here: a sleep where it would exit) past the deadline it is given (1 s):
    it exits 1 by itself, so a helper whose envctl died never outlives timeouts.PURGE."""
    held = SCRIPT.replace("sys.exit(1 if empty(top) else 0)", "import time\ntime.sleep(120)")
    assert held != SCRIPT
    done = subprocess.run([sys.executable, "-I", "-S", "-c", held, str(tmp_path), "1"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, "Timeout" in done.stderr) == (1, True)


def test_the_helpers_deadline_is_the_one_policys() -> None:
    """timeouts.PURGE, given to the script in whole seconds, and the wait's too."""
    assert timeouts.PURGE == 60.0
    api = helper_api()
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS, owners=[(1000, 1000)],
                        seconds=2.5) is True
    [(_args, kwargs)] = api.called("create_container")
    assert (kwargs["command"][-1], api.called("wait")) == ("3", [(("h1",), {"timeout": 3})])


def test_root_owned_leftovers_get_a_root_helper_still_without_capabilities() -> None:
    """Owner uid 0: the helper is 0:0 (root's own files), and still adds no capability."""
    api = helper_api()
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS, owners=[(0, 0)]) is True
    [(_args, kwargs)] = api.called("create_container")
    [(_args, config)] = api.called("create_host_config")
    assert (kwargs["user"], config["cap_drop"], "cap_add" in config) == ("0:0", ["ALL"], False)


def test_one_helper_per_owner_and_none_without_one() -> None:
    """Two owners: two helpers, each as its owner; nothing foreign left: no helper, False."""
    api = helper_api(create_container=Each({"Id": "h1"}, {"Id": "h2"}))
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS,
                        owners=[(1000, 1000), (1001, 50)]) is True
    assert [k["user"] for _a, k in api.called("create_container")] == ["1000:1000", "1001:50"]
    idle = helper_api()
    assert purge_folder(cast("Any", idle), "img", Path("/f"), labels=LABELS, owners=[]) is False
    assert idle.calls == []


@AS_ROOT
def test_the_owners_are_read_with_lstat_on_the_host(tmp_path: Path) -> None:
    """Each foreign (uid, gid) once, in the host's own folders too; a link is its own owner's."""
    (tmp_path / "mine" / "deep").mkdir(parents=True)
    (tmp_path / "theirs").mkdir()
    os.chown(tmp_path / "theirs", 1000, 1001)
    (tmp_path / "mine" / "deep" / "f").write_text("x")
    os.chown(tmp_path / "mine" / "deep" / "f", 1002, 1002)
    (tmp_path / "link").symlink_to("/")
    os.chown(tmp_path / "link", 1000, 1001, follow_symlinks=False)
    assert sorted(left_owners(tmp_path, host_uid=os.geteuid())) == [(1000, 1001), (1002, 1002)]
    assert left_owners(tmp_path / "mine", host_uid=1002) == [(os.geteuid(), os.getegid())]


def _run_script_as(uid: int, folder: Path) -> int:
    """The script in a forked child that drops to ``uid`` (and with it every capability): the
    interpreter is root's, which another uid may not execute, so it runs in the fork itself."""
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.chdir(folder)  # as root: the folders above it (pytest's, 0700) stay closed to uid
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            sys.argv = ["-c", ".", "60"]
            exec(compile(SCRIPT, "<purge>", "exec"), {"__name__": "__main__"})  # noqa: S102  # the script under test
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@AS_ROOT
def test_the_script_as_the_owner_empties_folders_it_made_unreadable(tmp_path: Path) -> None:
    """Run as uid 65534 with no capability (as the helper): 0500 and 0000 folders of its own,
    pytest's tmp_path among them, are made 0700 and emptied; the folder itself stays."""
    folder = tmp_path / "box"
    (folder / "pytest-of-app" / "pytest-0" / "t0").mkdir(parents=True)
    (folder / "pytest-of-app" / "pytest-0" / "t0" / "f").write_text("x")
    (folder / "locked").mkdir()
    for path in [*folder.rglob("*")]:
        os.chown(path, 65534, 65534)
    (folder / "pytest-of-app").chmod(0o700)
    (folder / "pytest-of-app" / "pytest-0").chmod(0o500)
    (folder / "locked").chmod(0o000)
    folder.chmod(0o777)
    assert (_run_script_as(65534, folder), list(folder.iterdir())) == (0, [])
