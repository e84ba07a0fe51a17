"""The files `docker compose config` reads besides those it is given: what `include`,
`extends: {file}`, `env_file` and `label_file` pull in (and the `.env` of each project folder),
followed as compose resolves them, so that the configuration's cache key covers them all.

No YAML library: a byte scan passes over every file that names none of those keys (nearly all
of them); in the others only those keys' values are parsed, strictly. What cannot be followed
for sure (an interpolated or remote path, a YAML alias, tag or block scalar there, a flow
collection over several lines, a missing file to include) raises Unfollowable, and the caller
reads the configuration again rather than trust a key that may miss a change.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envctl.env import compose_yaml
from envctl.env.compose_yaml import Unfollowable

MENTIONS = re.compile(rb"(?<![\w.-])(?:include|extends|env_file|label_file)(?![\w.-])")
_KEYWORD = re.compile(r"(?<![\w.-])(?:include|extends|env_file|label_file)(?![\w.-])")
# A keyword as a key somewhere a line-by-line reading cannot place it (a flow mapping).
_KEYWORD_AS_KEY = re.compile(r"(?<![\w.-])(?:include|extends|env_file|label_file)[\"']?[ \t]*:")
_KEY_LINE = re.compile(r"(?P<dashes>(?:-[ ]+)*)(?P<q>[\"']?)(?P<key>include|extends|env_file|label_file)"
                       r"(?P=q)[ ]*:(?:[ ]+(?P<value>.*))?$")
_REMOTE = re.compile(r".*://|[\w.-]+@[\w.-]+:")  # compose's git and oci loaders take these
_INCLUDE_KEYS = frozenset({"path", "env_file", "project_directory"})
_ENV_FILE_KEYS = frozenset({"path", "required", "format"})


@dataclass(frozen=True)
class Include:
    """One `include` entry: its files, and what it sets of its project."""

    paths: tuple[str, ...]
    env_files: tuple[str, ...] = ()
    project_directory: str | None = None


@dataclass(frozen=True)
class References:
    """The files one compose file names, as written (relative paths unresolved)."""

    includes: tuple[Include, ...] = ()
    extends: tuple[str, ...] = ()  # `extends: {file: ...}`
    env_files: tuple[str, ...] = ()  # the services' `env_file` and `label_file`


def _strings(value: object, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise Unfollowable(f"{what}: not a path or a list of paths")


def _includes(value: object) -> list[Include]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Unfollowable("include: not a list")
    found = []
    for item in value:
        if isinstance(item, str):
            found.append(Include((item,)))
        elif isinstance(item, dict) and set(item) <= _INCLUDE_KEYS:
            directory = item.get("project_directory")
            if directory is not None and not isinstance(directory, str):
                raise Unfollowable("include: project_directory is not a path")
            paths = _strings(item.get("path"), "include path")
            if not paths:
                raise Unfollowable("include: an entry without a path")
            found.append(Include(paths, _strings(item.get("env_file"), "include env_file"), directory))
        else:
            raise Unfollowable(f"include: an entry this reader does not take: {item!r}")
    return found


def _env_files(value: object) -> list[str]:
    if value is None or isinstance(value, str):
        return [value] if value else []
    if not isinstance(value, list):
        raise Unfollowable("env_file: not a path or a list")
    found = []
    for item in value:
        if isinstance(item, dict) and set(item) <= _ENV_FILE_KEYS and isinstance(item.get("path"), str):
            found.append(str(item["path"]))
        elif isinstance(item, str):
            found.append(item)
        else:
            raise Unfollowable(f"env_file: an entry this reader does not take: {item!r}")
    return found


def _extends_file(value: object) -> list[str]:
    if value is None or isinstance(value, str):  # a service of the same file
        return []
    if not isinstance(value, dict) or not set(value) <= {"file", "service"}:
        raise Unfollowable(f"extends: a value this reader does not take: {value!r}")
    file = value.get("file")
    if file is not None and not isinstance(file, str):
        raise Unfollowable("extends: file is not a path")
    return [file] if file else []


def _from_json(data: object) -> References:
    """The references of a compose file written in JSON: read exactly, by structure."""
    if not isinstance(data, dict):
        raise Unfollowable("the top level is not a mapping")
    extends: list[str] = []
    env_files: list[str] = []
    services = data.get("services") or {}
    if not isinstance(services, dict):
        raise Unfollowable("services: not a mapping")
    for service in services.values():
        if isinstance(service, dict):
            extends += _extends_file(service.get("extends"))
            env_files += _env_files(service.get("env_file")) + _env_files(service.get("label_file"))
    return References(tuple(_includes(data.get("include"))), tuple(extends), tuple(env_files))


def references(text: str) -> References:
    """The files the compose file ``text`` names. Each `extends`, `env_file` and `label_file`
    key counts wherever it is (an anchor may carry it into a service); `include` only at the
    top level (`develop.watch` has an `include` of its own)."""
    if text.lstrip().startswith("{"):
        try:
            return _from_json(json.loads(text))
        except ValueError:
            pass  # YAML in flow style: read below, where a keyword in it is Unfollowable
    lines = compose_yaml.lines(text)
    # The top level's keys stand at the least indentation (YAML lets a document be indented).
    top = min((indent for indent, line in lines if not line.startswith(("---", "...", "%"))), default=0)
    includes: list[Include] = []
    extends: list[str] = []
    env_files: list[str] = []
    included_until = 0  # the lines of the top-level include: its env_file is the include's
    for i, (indent, line) in enumerate(lines):
        if i < included_until or not _KEYWORD.search(line):
            continue
        match = _KEY_LINE.match(line)
        if match is None:
            if _KEYWORD_AS_KEY.search(line) or line.startswith("?"):  # "? key" is a key too
                raise Unfollowable(f"a key this reader cannot place: {line}")
            continue
        column = indent + len(match["dashes"])
        if match["key"] == "include":
            if column == top:
                includes += _includes(compose_yaml.value_at(lines, i, column, match["value"]))
                included_until = next((j for j in range(i + 1, len(lines)) if lines[j][0] <= top
                                       and not compose_yaml.is_item(lines[j][1])), len(lines))
        elif match["key"] == "extends":
            extends += _extends_file(compose_yaml.value_at(lines, i, column, match["value"]))
        else:
            env_files += _env_files(compose_yaml.value_at(lines, i, column, match["value"]))
    return References(tuple(includes), tuple(extends), tuple(env_files))


def _resolve(base: Path, value: str, *, home: bool = False) -> Path:
    """``value`` as compose resolves it from ``base``; Unfollowable when interpolated, remote,
    or (unless ``home``, as for env files) under `~`."""
    if "$" in value or _REMOTE.match(value):
        raise Unfollowable(f"an interpolated or remote path: {value}")
    if value.startswith("~") and not home:
        raise Unfollowable(f"a path under ~: {value}")
    try:
        path = Path(value).expanduser() if home else Path(value)
    except RuntimeError:  # no home folder to expand ~ to
        raise Unfollowable(f"a path under ~ with no home: {value}") from None
    return _clean(base / path)


def _clean(path: Path) -> Path:
    """``path`` made absolute and cleaned as compose does (Go's filepath.Join): lexically, so
    `..` is not taken through a symbolic link."""
    return Path(os.path.normpath(path.absolute()))


class _Reader:
    """Every file read, once, with what it held (None: absent)."""

    def __init__(self) -> None:
        self.found: dict[Path, bytes | None] = {}
        self.visited: set[tuple[Path, Path]] = set()

    def read(self, path: Path) -> bytes | None:
        if path not in self.found:
            try:
                self.found[path] = path.read_bytes()
            except (FileNotFoundError, NotADirectoryError):
                self.found[path] = None
            except OSError as exc:
                raise Unfollowable(f"{path}: {exc.strerror}") from None
        return self.found[path]

    def compose_file(self, path: Path, base: Path, *, nested: bool) -> None:
        """``path`` and what it pulls in, its relative paths resolved from ``base``;
        ``nested``: read for an `include` or `extends`, not given to compose."""
        if (path, base) in self.visited:
            return
        self.visited.add((path, base))
        data = self.read(path)
        if data is None:
            raise Unfollowable(f"{path}: no such file")
        if not MENTIONS.search(data):
            return
        try:
            found = references(data.decode("utf-8"))
        except UnicodeDecodeError:
            raise Unfollowable(f"{path}: not UTF-8") from None
        for entry in found.includes:
            self.include(entry, base, nested=nested)
        for file in found.extends:
            extended = _resolve(base, file)
            self.compose_file(extended, extended.parent, nested=True)
        for file in found.env_files:
            self.read(_resolve(base, file, home=True))

    def include(self, entry: Include, base: Path, *, nested: bool) -> None:
        """An `include` entry: its files, from its project folder (``project_directory``, else
        its first file's folder), with its env files (else that folder's `.env`)."""
        given = [*entry.env_files, *([entry.project_directory] if entry.project_directory else [])]
        if nested and any(not Path(path).is_absolute() for path in given):
            # Within an included file, compose-go joins these to a relative folder, which the
            # operating system then takes from compose's own working directory: not followed.
            raise Unfollowable(f"an include's relative env_file or project_directory in an "
                               f"included file: {', '.join(given)}")
        paths = [_resolve(base, path) for path in entry.paths]
        project = _resolve(base, entry.project_directory) if entry.project_directory else paths[0].parent
        for env_file in entry.env_files:
            self.read(_resolve(base, env_file))
        if not entry.env_files:
            self.read(project / ".env")
        for path in paths:
            self.compose_file(path, project, nested=True)


def files_read(files: Sequence[Path]) -> list[tuple[Path, bytes | None]]:
    """Every file compose reads for ``files`` (its -f files, the first one's folder the project
    folder, and --env-file files), with what each holds (None: absent, as an optional env file
    may be), in a stable order. Unfollowable when one cannot be followed for sure."""
    reader = _Reader()
    if not files:
        return []
    project = _clean(files[0]).parent
    for path in files:
        absolute = _clean(path)
        reader.compose_file(absolute, project, nested=False)
        reader.read(absolute.parent / ".env")
    return list(reader.found.items())
