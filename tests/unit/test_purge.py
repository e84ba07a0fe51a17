"""The one-shot helper that empties a host folder the host user cannot: root in a container of a
test image with only that folder mounted, no network, never pulled, always removed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any, cast

from envctl.docker import purge, timeouts
from envctl.docker.purge import IN_HELPER, SCRIPT, purge_folder
from tests.unit.fake_api import Each, FakeAPI, not_found

LABELS = {"io.envctl.managed": "true"}


def helper_api(**answers: Any) -> FakeAPI:
    defaults: dict[str, Any] = {"create_container": {"Id": "h1"}, "create_host_config": {"hc": 1},
                                "wait": {"StatusCode": 0}}
    return FakeAPI(**(defaults | answers))


def test_the_helper_runs_isolated_python_as_root_on_the_folder_alone() -> None:
    """python3 -I -S as uid 0, the folder bind-mounted (a missing one is refused, not made), no
    network, two capabilities, read-only, limited; started, waited for, removed."""
    api = helper_api()
    folder = Path("/logs/.exchange/r1")
    assert purge_folder(cast("Any", api), "shop-tests:latest", folder, labels=LABELS) is True
    [(args, kwargs)] = api.called("create_container")
    assert args == ("shop-tests:latest",)
    assert kwargs == {"entrypoint": ["python3"], "command": ["-I", "-S", "-c", SCRIPT, IN_HELPER, "60"],
                      "user": "0:0", "labels": LABELS, "network_disabled": True, "host_config": {"hc": 1}}
    [(_args, config)] = api.called("create_host_config")
    assert config == {
        "mounts": [{"Target": IN_HELPER, "Source": "/logs/.exchange/r1", "Type": "bind", "ReadOnly": False}],
        "network_mode": "none", "cap_drop": ["ALL"], "cap_add": ["DAC_OVERRIDE", "FOWNER"],
        "security_opt": ["no-new-privileges"], "read_only": True, "mem_limit": purge.PURGE_MEMORY,
        "pids_limit": purge.PURGE_PIDS, "auto_remove": True}
    assert [name for name, _a, _k in api.calls] == ["create_host_config", "create_container", "start",
                                                    "wait", "remove_container"]
    assert api.called("wait") == [(("h1",), {"timeout": 60})]


def test_an_image_the_engine_lacks_is_false_and_never_pulled() -> None:
    """The create's 404: nothing started, nothing pulled."""
    api = helper_api(create_container=not_found("No such image: gone:1"))
    assert purge_folder(cast("Any", api), "gone:1", Path("/f"), labels=LABELS) is False
    assert [name for name, _a, _k in api.calls] == ["create_host_config", "create_container"]


def test_a_helper_that_failed_or_overran_is_false_and_removed() -> None:
    """Exit 1 (something left), or still running at its deadline: False, and force-removed."""
    failed = helper_api(wait={"StatusCode": 1})
    assert purge_folder(cast("Any", failed), "img", Path("/f"), labels=LABELS) is False
    assert failed.called("remove_container") == [(("h1",), {"force": True, "v": True})]


def test_a_helper_the_engine_removed_once_ended_is_judged_by_the_folder() -> None:
    """auto_remove took it before the wait: True (the caller looks at the folder)."""
    api = helper_api(wait=Each(not_found("No such container: h1")))
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS) is True


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
    held = SCRIPT.replace("sys.exit(1 if failed else 0)", "import time\ntime.sleep(120)")
    assert held != SCRIPT
    done = subprocess.run([sys.executable, "-I", "-S", "-c", held, str(tmp_path), "1"], check=False,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, "Timeout" in done.stderr) == (1, True)


def test_the_helpers_deadline_is_the_one_policys() -> None:
    """timeouts.PURGE, given to the script in whole seconds, and the wait's too."""
    assert timeouts.PURGE == 60.0
    api = helper_api()
    assert purge_folder(cast("Any", api), "img", Path("/f"), labels=LABELS, seconds=2.5) is True
    [(_args, kwargs)] = api.called("create_container")
    assert (kwargs["command"][-1], api.called("wait")) == ("3", [(("h1",), {"timeout": 3})])
