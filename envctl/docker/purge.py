"""Emptying a host folder that the host user cannot empty, through a one-shot helper container.

A test container that runs as a non-root uid can leave in its exchange folder a folder of that
uid with mode 0700 (pytest's own tmp_path is one): the host user may neither list nor empty it,
and without root on the host nothing of the host can. The engine can: a container of an image
it has, running as the uid:gid that owns what is left (the test container's user: an owner may
chmod and remove its own files), with only that folder mounted, no network and no capability at
all (``cap_drop: ALL``, nothing added), removes everything in it. Nothing in the image runs as
root, save when the owner is uid 0 (root's own files: again no capability is needed).

The image is one the tests ran in (built from the code under test): ``python3`` is there
(envctl's runner needs it), and the engine has it (it is never pulled). Python runs isolated
(``-I -S``: no site, no environment), and whatever it runs can do no more than the test
container's own user could.

The helper never outlives its deadline (``timeouts.PURGE``), even when the envctl that started
it dies: its script ends itself then (a watchdog thread, which no blocked call holds up), and
the engine removes it once ended (``auto_remove``). It carries ``labels.purge_labels``.
"""

from __future__ import annotations

import contextlib
import os
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
# Every entry of the folder (argv[1]), never following a link (a link is unlinked); each folder
# made 0700 first (its owner may: that is what lets it list and empty a 0500 or 0000 one without
# DAC_OVERRIDE). Folders are reached through descriptors opened with O_NOFOLLOW, and the chmod is
# of one whose entry says folder; at argv[2] seconds the process ends itself, whatever it does.
SCRIPT = """
import faulthandler, os, sys
faulthandler.dump_traceback_later(int(sys.argv[2]), exit=True)
def empty(fd):
    failed = 0
    for entry in list(os.scandir(fd)):
        try:
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.name, 0o700, dir_fd=fd)
                sub = os.open(entry.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                try:
                    failed += empty(sub)
                finally:
                    os.close(sub)
                os.rmdir(entry.name, dir_fd=fd)
            else:
                os.unlink(entry.name, dir_fd=fd)
        except OSError as exc:
            failed += 1
            print(exc, file=sys.stderr)
    return failed
top = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
sys.exit(1 if empty(top) else 0)
"""


ENTRIES_LOOKED_AT = 10_000  # how far the host looks for the owners of what is left
OWNERS_TRIED = 3  # one helper each (a test container runs as one user: one, nearly always)


def left_owners(folder: Path, host_uid: int | None = None) -> list[tuple[int, int]]:
    """Who owns what in ``folder`` the host user (``host_uid``, default this process's) does not:
    each (uid, gid) as the host sees it (``lstat``, never following a link), in the order found.
    The host's own folders are looked into, another user's are not (the host cannot, and their
    owner's helper removes them whole)."""
    me = os.geteuid() if host_uid is None else host_uid
    found: dict[tuple[int, int], None] = {}
    pending, seen = [folder], 0
    while pending and seen < ENTRIES_LOOKED_AT and len(found) < OWNERS_TRIED:
        try:
            entries = list(os.scandir(pending.pop()))
        except OSError:
            continue
        for entry in entries:
            seen += 1
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid != me:
                found.setdefault((info.st_uid, info.st_gid), None)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
    return list(found)[:OWNERS_TRIED]


def purge_folder(api: APIClient, image: str, folder: Path, *, labels: dict[str, str],
                 owners: list[tuple[int, int]] | None = None, seconds: float = timeouts.PURGE) -> bool:
    """Remove everything in the host folder ``folder`` (an absolute path on the engine's
    machine) from a helper container of ``image`` per owner of what is left (``owners``:
    (uid, gid) pairs, default ``left_owners``), each running as that owner; whether each ran
    to a clean end (none to run: False). ``folder`` itself stays (its owner removes it)."""
    owners = left_owners(folder) if owners is None else owners
    results = [_helper(api, image, folder, labels=labels, owner=owner, seconds=seconds)
               for owner in owners]
    return bool(results) and all(results)


def _helper(api: APIClient, image: str, folder: Path, *, labels: dict[str, str],
            owner: tuple[int, int], seconds: float) -> bool:
    """One helper as ``owner``. An image the engine lacks is False, never pulled; the helper is
    removed whatever happens (and by the engine itself once it ends)."""
    from docker.types import Mount  # noqa: PLC0415  # lazy: the SDK is heavy

    containers = Containers(api)
    try:
        with translate_errors("starting a clean-up container"):
            created = api.create_container(
                image, entrypoint=["python3"],
                command=["-I", "-S", "-c", SCRIPT, IN_HELPER, str(timeouts.wait_seconds(seconds))],
                user=f"{owner[0]}:{owner[1]}", labels=labels, network_disabled=True,
                host_config=api.create_host_config(
                    # A bind mount (not a volume): the engine refuses one whose source is missing,
                    # where a "binds" entry would create it.
                    mounts=[Mount(IN_HELPER, str(folder), type="bind")],
                    network_mode="none", cap_drop=["ALL"],
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
