"""What a run's tests ran against: its code and its environment, recorded as its container starts
(``fingerprint.json``, in the host-only run directory) and compared by `envctl test --resume`,
which refuses to join results of different code or environments unless told to (``--force``).

- The code: the commit (``git rev-parse HEAD``, when the project is in a repository) and a hash
  of the contents of every ``.py`` file and pytest configuration file (pytest.ini,
  pyproject.toml, setup.cfg, tox.ini) under the project folder, tracked or not; hidden folders
  (.git, .venv, .envctl...), ``__pycache__``, ``node_modules``, ``site-packages`` and virtual
  environments (a folder with ``pyvenv.cfg``) are left out. At most FILES_CAP files and
  BYTES_CAP bytes are read; past either, what was read is compared (``cut`` says so). Files
  are opened as ``files.open_regular`` opens them: a link is hashed by where it points, a FIFO
  or device is never opened (the tests may write the project folder).
- The environment: the compose configuration's key (``compose_config.config_key``: every file
  compose reads and the variables it interpolates) and the id of each service's image.

Taking it never fails a run: what cannot be taken is recorded as an error, and a resume then
says it cannot compare.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.files import open_regular, read_regular, write_private
from envctl.settings import Settings

if TYPE_CHECKING:
    from envctl.env.environment import Environment

FINGERPRINT_FILE = "fingerprint.json"
FINGERPRINT_CAP = 1 << 20
CODE_FILES = frozenset({"pytest.ini", "pyproject.toml", "setup.cfg", "tox.ini"})
SKIPPED_FOLDERS = frozenset({"__pycache__", "node_modules", "site-packages"})
FILES_CAP = 20_000
BYTES_CAP = 128 << 20
GIT_DEADLINE = 10.0
ENVIRONMENT_WAIT = 3600.0  # at most, for the start to reach its images (a build may take long)


def code_fingerprint(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The commit and the hash of the code files under ``root`` (``skip``: folders left out,
    the runs' own)."""
    import hashlib  # noqa: PLC0415  # ~4 ms, taken in the recorder's thread, not before `compose run`

    digest = hashlib.sha256()
    count = read = 0
    cut = False
    skipped = {os.path.realpath(path) for path in skip}
    for folder, folders, files in os.walk(root):
        folders[:] = sorted(name for name in folders if _walked(Path(folder) / name, name, skipped))
        for name in sorted(files):
            if not (name.endswith(".py") or name in CODE_FILES):
                continue
            if count >= FILES_CAP or read >= BYTES_CAP:
                cut = True
                break
            path = Path(folder) / name
            content, size = _content(path, BYTES_CAP - read)
            count, read = count + 1, read + size
            digest.update(f"{path.relative_to(root).as_posix()}\0{content}\0".encode("utf-8", "replace"))
        if cut:
            break
    return {"commit": _commit(root), "files": digest.hexdigest(), "count": count, "cut": cut}


def _walked(path: Path, name: str, skipped: set[str]) -> bool:
    if name.startswith(".") or name in SKIPPED_FOLDERS or (path / "pyvenv.cfg").exists():
        return False
    return os.path.realpath(path) not in skipped


def _content(path: Path, budget: int) -> tuple[str, int]:
    """(what stands for the file's content, bytes read)."""
    try:
        mode = os.lstat(path).st_mode
        if stat.S_ISLNK(mode):
            return f"link {path.readlink()}", 0
        import hashlib  # noqa: PLC0415  # see code_fingerprint

        with open_regular(path) as handle:
            digest = hashlib.sha256()
            size = 0
            while size < budget and (chunk := handle.read(min(1 << 20, budget - size))):
                digest.update(chunk)
                size += len(chunk)
            return digest.hexdigest(), size
    except OSError as exc:
        return f"unreadable {exc.errno}", 0


def _commit(root: Path) -> str | None:
    """HEAD's commit, or None (no repository, no git, no commit yet)."""
    try:
        proc = subprocess.run(["git", "-C", str(root), "rev-parse", "--verify", "-q", "HEAD"],  # noqa: S607  # git from PATH
                              capture_output=True, text=True, timeout=GIT_DEADLINE, check=False,
                              env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = proc.stdout.strip()
    return commit if proc.returncode == 0 and len(commit) in (40, 64) else None


def environment_fingerprint(env: Environment) -> dict[str, Any]:
    """The compose configuration's key and each service's image id."""
    from envctl.docker.image_ids import image_ids  # noqa: PLC0415
    from envctl.env.compose_config import config_key  # noqa: PLC0415
    from envctl.env.project import compose_files, env_files  # noqa: PLC0415

    settings = env.settings
    images = {service: env.image_for(service) for service in sorted(env.config().services)}
    found = image_ids(images.values(), timeout=settings.docker_timeout)
    return {"compose": config_key([*compose_files(settings), *env_files(settings)]),
            "images": {service: found.get(image) for service, image in images.items()}}


def current(env: Environment) -> dict[str, Any]:
    """The fingerprint now, as a resume compares it."""
    return {"code": _guarded(lambda: code_fingerprint(env.settings.project_dir, _skipped(env.settings))),
            "environment": _guarded(lambda: environment_fingerprint(env))}


def _skipped(settings: Settings) -> tuple[Path, ...]:
    return (settings.resolved_log_dir,)


def _guarded(take: Any) -> dict[str, Any]:
    try:
        return take()  # type: ignore[no-any-return]
    except Exception as exc:  # a fingerprint never fails a run: what is missing is said
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}


class Recorder:
    """Takes a starting run's fingerprint beside its start: the code from now (in a thread),
    the environment once its images are there (``environment``); writes it once whole."""

    threaded = True  # unit tests take it in the caller's thread

    def __init__(self, run_dir: Path, settings: Settings) -> None:
        self.run_dir = run_dir
        self.settings = settings
        self.env: Environment | None = None
        self.ready = threading.Event()
        self.thread: threading.Thread | None = None
        if self.threaded:
            self.thread = threading.Thread(target=self._record, daemon=True, name="envctl-fingerprint")
            self.thread.start()

    def environment(self, env: Environment | None) -> None:
        """The images are there (None: the start failed, nothing is recorded)."""
        self.env = env
        self.ready.set()
        if self.thread is None:
            self._record()

    def _record(self) -> None:
        code = _guarded(lambda: code_fingerprint(self.settings.project_dir, _skipped(self.settings)))
        if not self.ready.wait(ENVIRONMENT_WAIT) or self.env is None:
            return
        env = self.env
        data = {"code": code, "environment": _guarded(lambda: environment_fingerprint(env))}
        with contextlib.suppress(OSError):  # the run goes on; a resume says the fingerprint is missing
            write_private(self.run_dir / FINGERPRINT_FILE, json.dumps(data, indent=1))


def load(run_dir: Path) -> dict[str, Any] | None:
    """The recorded fingerprint, or None (a run from before fingerprints, or a start cut short)."""
    try:
        data = json.loads(read_regular(run_dir / FINGERPRINT_FILE, FINGERPRINT_CAP))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def differences(recorded: dict[str, Any] | None, now: dict[str, Any]) -> list[str]:
    """What changed between ``recorded`` and ``now``, in words; empty when nothing did."""
    if recorded is None:
        return ["the first run recorded no fingerprint (it started before envctl recorded one, or "
                "its start was cut short), so a change cannot be ruled out"]
    found: list[str] = []
    code, code_now = _part(recorded, "code"), _part(now, "code")
    env, env_now = _part(recorded, "environment"), _part(now, "environment")
    for name, part, part_now in (("code", code, code_now), ("environment", env, env_now)):
        error = part.get("error") or part_now.get("error")
        if error:
            found.append(f"the {name} cannot be compared ({error})")
    if not code.get("error") and not code_now.get("error"):
        if code.get("commit") != code_now.get("commit"):
            found.append(f"the commit changed ({_short(code.get('commit'))} -> "
                         f"{_short(code_now.get('commit'))})")
        if code.get("files") != code_now.get("files"):
            found.append("the project's test code changed (its .py files or pytest configuration)")
    if not env.get("error") and not env_now.get("error"):
        if env.get("compose") != env_now.get("compose"):
            found.append("the compose configuration changed (its files or the variables they use)")
        images, images_now = env.get("images") or {}, env_now.get("images") or {}
        changed = sorted(s for s in set(images) | set(images_now) if images.get(s) != images_now.get(s))
        if changed:
            found.append(f"the image of {', '.join(changed[:10])} changed")
    return found


def _part(data: dict[str, Any], name: str) -> dict[str, Any]:
    part = data.get(name)
    return part if isinstance(part, dict) else {"error": f"no {name} part"}


def _short(commit: object) -> str:
    return str(commit)[:12] if commit else "none"
