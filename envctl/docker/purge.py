"""Emptying a host folder that the host user cannot empty, through a one-shot helper container.

A test container that runs as a non-root uid can leave in its exchange folder a folder of that
uid with mode 0700 (pytest's own tmp_path is one): the host user may neither list nor empty it,
and without root on the host nothing of the host can. The engine can: a container of an image
it has, running as root (root in the container: its own user namespace under a rootless or
remapped engine, which owns what the test container made too), with only that folder mounted,
no network, no capability but the ones that pass file permissions, removes everything in it.

The image is one the tests ran in: ``python3`` is there (envctl's runner needs it), and the
engine has it (it is never pulled). Python runs isolated (``-I -S``: no site, no environment),
so nothing the image adds to Python runs as root.

The helper never outlives its deadline (``timeouts.PURGE``), even when the envctl that started
it dies: its script ends itself then (a watchdog thread, which no blocked call holds up), and
the engine removes it once ended (``auto_remove``). It carries ``labels.purge_labels``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from envctl.docker import timeouts
from envctl.docker.containers import Containers
from envctl.docker.translate import translate_errors
from envctl.errors import ContainerGoneError, DockerError

if TYPE_CHECKING:
    from docker import APIClient

IN_HELPER = "/envctl-purge"  # where the folder is mounted in the helper
PURGE_MEMORY = 128 << 20
PURGE_PIDS = 16
# Every entry of the folder (argv[1]), never following a link (rmtree does not, and a link is
# unlinked); at argv[2] seconds the process ends itself, whatever it is doing.
SCRIPT = """
import faulthandler, os, shutil, sys
faulthandler.dump_traceback_later(int(sys.argv[2]), exit=True)
failed = 0
for entry in os.scandir(sys.argv[1]):
    try:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)
    except OSError as exc:
        failed += 1
        print(exc, file=sys.stderr)
sys.exit(1 if failed else 0)
"""


def purge_folder(api: APIClient, image: str, folder: Path, *, labels: dict[str, str],
                 seconds: float = timeouts.PURGE) -> bool:
    """Remove everything in the host folder ``folder`` (an absolute path on the engine's
    machine) from a helper container of ``image``; whether it ran to a clean end. ``folder``
    itself stays (its owner removes it). An image the engine lacks is False, never pulled; the
    helper is removed whatever happens (and by the engine itself once it ends)."""
    from docker.types import Mount  # noqa: PLC0415  # lazy: the SDK is heavy

    containers = Containers(api)
    try:
        with translate_errors("starting a clean-up container"):
            created = api.create_container(
                image, entrypoint=["python3"],
                command=["-I", "-S", "-c", SCRIPT, IN_HELPER, str(timeouts.wait_seconds(seconds))],
                user="0:0", labels=labels, network_disabled=True,
                host_config=api.create_host_config(
                    # A bind mount (not a volume): the engine refuses one whose source is missing,
                    # where a "binds" entry would create it.
                    mounts=[Mount(IN_HELPER, str(folder), type="bind")],
                    network_mode="none", cap_drop=["ALL"], cap_add=["DAC_OVERRIDE", "FOWNER"],
                    security_opt=["no-new-privileges"], read_only=True, mem_limit=PURGE_MEMORY,
                    pids_limit=PURGE_PIDS, auto_remove=True))
    except ContainerGoneError:
        return False  # no such image on this engine
    helper = str(created["Id"])
    try:
        with translate_errors("starting a clean-up container"):
            api.start(helper)
        try:
            code = containers.wait_exit(helper, timeout=seconds)
        except ContainerGoneError:
            return True  # it ended and the engine removed it: the folder says how it went
        return code == 0
    finally:
        with contextlib.suppress(DockerError):
            containers.remove(helper)
