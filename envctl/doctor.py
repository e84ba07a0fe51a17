"""`envctl doctor`: is this machine ready to run envctl, and if not, what to do."""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from envctl.docker import timeouts
from envctl.errors import EnvctlError
from envctl.files import private_dir
from envctl.settings import Settings
from envctl.units import format_size

if TYPE_CHECKING:
    from envctl.docker.models import ComposeProject

ENGINE_DEADLINE = timeouts.CHECK  # a dead DOCKER_HOST must be reported within this
MIN_FREE_DISK = 1 << 30


class CheckStatus(str, Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class Check:
    """One doctor check: what was looked at, what was seen, and how to fix it."""

    name: str
    status: CheckStatus
    detail: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["status"] = self.status.value
        return data


def check_engine(host: str | None = None, name: str = "engine") -> tuple[Check, bool]:
    """The engine at ``host`` (None: this process's) answers, and which Docker it is; one of
    the ``engines`` also says its CPUs (the weight its shards get)."""
    from envctl.docker.engine import Engine  # noqa: PLC0415  # lazy: the SDK is heavy

    try:
        with Engine(timeout=ENGINE_DEADLINE, host=host) as engine:
            info = engine.info()
            cpus = f", {engine.cpus()} CPUs" if host is not None else ""
    except EnvctlError as exc:
        return Check(name, CheckStatus.FAIL, exc.message, exc.hint or ""), False
    where = f" at {host}" if host is not None else ""
    return Check(name, CheckStatus.OK,
                 f"Docker {info.version} (API {info.api_version}, {info.os}/{info.arch}{cpus}){where}"), True


def check_engines(settings: Settings) -> list[Check]:
    """Each of the ``engines`` shards go to: reachable, and the images its shards need."""
    from envctl.docker.context import engine_address  # noqa: PLC0415
    from envctl.setting_values import engine_entry  # noqa: PLC0415

    if not settings.engines:
        return []
    try:
        project: ComposeProject | None = _compose_project(settings)[0]
    except EnvctlError:
        project = None  # the compose files' own check says why
    checks: list[Check] = []
    for entry in settings.engines:
        name, _cpus = engine_entry(entry)
        try:
            host = engine_address(name)
        except EnvctlError as exc:
            checks.append(Check(f"engine {name}", CheckStatus.FAIL, exc.message, exc.hint or ""))
            continue
        check, answered = check_engine(host, f"engine {name}")
        if not answered:
            check = Check(check.name, check.status, check.detail, "start it, or leave it out of engines")
        checks.append(check)
        if project is not None:
            checks.append(images_on(project, answered, host=host, name=f"images on {name}"))
            checks.append(disk_on(project, settings, answered, host=host,
                                  name=f"disk on {name}"))
    return checks


def check_compose(settings: Settings) -> Check:
    from envctl.docker.compose import Compose  # noqa: PLC0415

    compose = Compose([], None, timeout=20)
    try:
        version = compose.version()
    except EnvctlError as exc:
        return Check("compose", CheckStatus.FAIL, exc.message, exc.hint or "")
    return Check("compose", CheckStatus.OK, f"docker compose {'.'.join(map(str, version))} (>= 2.20)")


_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)


def dockerfile_bases(dockerfile: Path) -> list[str]:
    """External base images a Dockerfile starts FROM (stage references and ARGs left out)."""
    try:
        text = dockerfile.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    stages: set[str] = set()
    bases: list[str] = []
    for match in _FROM.finditer(text):
        image, alias = match[1], match[2]
        if image.lower() not in stages and "$" not in image and image != "scratch":
            bases.append(image)
        if alias:
            stages.add(alias.lower())
    return bases


def check_test_service(settings: Settings, project: Any) -> Check:
    """The test service exists, and hands its untrusted container nothing of the host unless
    the settings allow it: every way it would is listed, with its compose key, refused or
    allowed."""
    from envctl.errors import ComposeFileError  # noqa: PLC0415
    from envctl.runs.launch import refuse_unsafe  # noqa: PLC0415

    spec = project.services.get(settings.test_service)
    if spec is None:
        return Check("test service", CheckStatus.FAIL, f"no service {settings.test_service!r}",
                     "set test_service in envctl.toml")
    refused = [f"{key} ({name})" for name, key in spec.unsafe if name not in settings.allow]
    allowed = [f"{key} ({name})" for name, key in spec.unsafe if name in settings.allow]
    detail = " | ".join(([f"refused: {'; '.join(refused)}"] if refused else [])
                        + ([f"allowed by the settings: {'; '.join(allowed)}"] if allowed else []))
    detail = f"{spec.name}: {detail}" if detail else spec.name
    try:
        refuse_unsafe(spec.name, spec.unsafe, settings.allow)
    except ComposeFileError as exc:
        return Check("test service", CheckStatus.FAIL, detail, exc.hint or "")
    return Check("test service", CheckStatus.WARN if allowed else CheckStatus.OK, detail)


def _compose_project(settings: Settings) -> tuple[ComposeProject, list[Path]]:
    """The project as compose reads its files (every profile), and the files; EnvctlError when
    compose rejects them."""
    from envctl.docker.compose import Compose  # noqa: PLC0415
    from envctl.env.project import compose_files  # noqa: PLC0415

    files = compose_files(settings)
    return Compose(files, None, timeout=settings.docker_timeout, env_files=settings.resolved_env_files,
                   profiles=["*"]).config(), files


def check_images(settings: Settings, engine_ok: bool) -> list[Check]:
    """The compose files, the test service, then the images and the disk of this process's engine."""
    try:
        project, files = _compose_project(settings)
    except EnvctlError as exc:
        return [Check("compose files", CheckStatus.FAIL, exc.message, exc.hint or "")]
    return [Check("compose files", CheckStatus.OK,
                  f"{', '.join(_short(f, settings.project_dir) for f in files)}: "
                  f"{len(project.services)} services"), check_test_service(settings, project),
            images_on(project, engine_ok), disk_on(project, settings, engine_ok)]


def images_on(project: ComposeProject, engine_ok: bool, *, host: str | None = None,
              name: str = "images") -> Check:
    """The images ``project``'s services need, on the engine at ``host`` (None: this process's)."""
    from envctl.docker.engine import Engine  # noqa: PLC0415

    if not engine_ok:
        return Check(name, CheckStatus.FAIL, "not checked: the engine does not answer",
                     "fix the engine first")
    missing: list[str] = []
    to_pull: list[str] = []
    detail: list[str] = []
    with Engine(timeout=ENGINE_DEADLINE, host=host) as engine:
        for service in project.services.values():
            built_name = service.image or f"{project.name}-{service.name}"
            if service.build_context is not None:
                if engine.image_exists(built_name):
                    detail.append(f"{service.name}: built")
                    continue
                dockerfile = Path(service.build_context) / (service.dockerfile or "Dockerfile")
                absent = [b for b in dockerfile_bases(dockerfile) if not engine.image_exists(b)]
                missing += absent
                detail.append(f"{service.name}: buildable" if not absent
                              else f"{service.name}: base {', '.join(absent)} absent")
            elif engine.image_exists(built_name):
                detail.append(f"{service.name}: present")
            else:
                to_pull.append(built_name)
                detail.append(f"{service.name}: {built_name} will be pulled")
    if missing:
        return Check(name, CheckStatus.FAIL, "; ".join(detail),
                     f"base images absent: {', '.join(sorted(set(missing)))}; "
                     "run scripts/setup-docker (pulls, or builds them offline)")
    status = CheckStatus.WARN if to_pull else CheckStatus.OK
    hint = f"docker pull {' '.join(to_pull)}" if to_pull else ""
    return Check(name, status, "; ".join(detail), hint)


def disk_on(project: ComposeProject, settings: Settings, engine_ok: bool, *, host: str | None = None,
            name: str = "engine disk") -> Check:
    """Free space where the engine at ``host`` keeps its containers, images and volumes, as a
    container of one of the project's images sees it (the test service's first): on a remote
    engine it is that machine's disk, which the log dir's check here says nothing of."""
    from envctl.docker import labels  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    if not engine_ok:
        return Check(name, CheckStatus.FAIL, "not checked: the engine does not answer",
                     "fix the engine first")
    services = sorted(project.services.values(), key=lambda service: service.name != settings.test_service)
    with Engine(timeout=ENGINE_DEADLINE, host=host) as engine:
        image = next((i for i in (s.image or f"{project.name}-{s.name}" for s in services)
                      if engine.image_exists(i)), None)
        if image is None:
            return Check(name, CheckStatus.WARN,
                         "not checked: none of the project's images is on the engine yet",
                         "run `envctl up` once, then `envctl doctor` again")
        try:
            # The project's labels, as envctl names it: `down` removes one left by a killed doctor.
            owner = settings.project_name or project.name
            free = engine.free_disk(image, labels={**labels.project_labels(owner),
                                                   labels.ROLE: labels.DISK_ROLE})
        except EnvctlError as exc:
            return Check(name, CheckStatus.WARN, f"not checked: {exc.message}")
    if free is None:
        return Check(name, CheckStatus.WARN, f"not checked: `df -Pk /` did not answer in {image}")
    if free < MIN_FREE_DISK:
        return Check(name, CheckStatus.FAIL, f"{format_size(free)} free for the engine's containers",
                     "free some of the engine's disk (`docker system prune` there)")
    return Check(name, CheckStatus.OK, f"{format_size(free)} free for the engine's containers")


def _short(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _existing_parent(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_log_dir(settings: Settings) -> list[Check]:
    log_dir = settings.resolved_log_dir
    usage = shutil.disk_usage(_existing_parent(log_dir))
    disk = Check("disk", CheckStatus.OK if usage.free >= MIN_FREE_DISK else CheckStatus.FAIL,
                 f"{format_size(usage.free)} free where logs go ({_existing_parent(log_dir)})",
                 "" if usage.free >= MIN_FREE_DISK else "free some disk, or set log_dir elsewhere")
    try:
        private_dir(log_dir)
        with tempfile.NamedTemporaryFile(dir=log_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        writable = Check("log dir", CheckStatus.FAIL, f"{log_dir}: {exc.strerror}",
                         "make it writable, or set log_dir (ENVCTL_LOG_DIR) elsewhere")
    else:
        writable = Check("log dir", CheckStatus.OK, f"{log_dir} is writable")
    return [disk, writable]


def check_host_limits(settings: Settings) -> Check:
    """Whether `test --host` can apply the limits here: a cgroup made (and removed at once)."""
    from envctl.runs import host_limits  # noqa: PLC0415
    from envctl.runs.ids import new_run_id  # noqa: PLC0415
    from envctl.runs.state import Limits  # noqa: PLC0415

    made = host_limits.make(new_run_id(), Limits(settings.memory, settings.cpus, settings.pids))
    if isinstance(made, str):
        return Check("host limits", CheckStatus.WARN, f"`test --host` runs without limits here: {made}")
    host_limits.remove(made)
    return Check("host limits", CheckStatus.OK,
                 f"`test --host` runs under the limits (a cgroup v{made.version} of its own)")


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in the order a person would fix them."""
    engine, engine_ok = check_engine()
    return [engine, check_compose(settings), *check_images(settings, engine_ok),
            *check_engines(settings), *check_log_dir(settings), check_host_limits(settings)]


