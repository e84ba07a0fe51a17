"""The on_finish hook runs a command on this machine: what decides that command must be out of
the tests' reach. A test service that mounts a folder writable could change, before the run's
end, the file that names the hook, the program it runs, a script it reads, or a folder of its
PATH, and so what envctl executes here, which the test container must never do (it is untrusted).

Checked when the run starts (``refuse_a_writable_hook``); at the end the hook runs in the run's
host-only folder, with the project folder's PATH entries dropped (``hook_path``).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from envctl.errors import ConfigError
from envctl.settings import Settings

_HINT = ("mount the folder read-only (`:ro`), set the hook in the environment (ENVCTL_ON_FINISH) "
         "instead of the project's files, and name programs and files outside what the tests can write")


def settings_file(source: str) -> Path | None:
    """The file a setting's source names (`/p/envctl.toml`, `/p/pyproject.toml [tool.envctl]`);
    None for the environment, a flag or the default."""
    if source.startswith(("env ", "flag ")) or source == "default":
        return None
    return Path(source.split(" [", 1)[0])


def _forms(path: Path) -> tuple[Path, ...]:
    """A path as written (made normal) and as resolved: a symlink in a writable folder can be
    repointed, and one elsewhere can point into a writable folder; both count."""
    return tuple(dict.fromkeys((Path(os.path.normpath(path)), path.resolve())))


def _under(path: Path, folders: Iterable[Path]) -> Path | None:
    """The first of ``folders`` (each in its forms) that holds ``path`` (in either form)."""
    for folder in folders:
        for form in _forms(path):
            if any(form.is_relative_to(top) for top in _forms(folder)):
                return folder
    return None


def hook_path(path: str, project: Path | None) -> str:
    """The PATH the hook gets: ``path`` without relative entries (they name the current folder)
    nor those in the ``project`` folder (a virtualenv's `bin`, say), which a test service that
    mounts it read-write could fill with programs the hook would run."""
    kept = [entry for entry in path.split(os.pathsep) if entry and Path(entry).is_absolute()
            and (project is None or _under(Path(entry), [project]) is None)]
    return os.pathsep.join(kept)


def hook_files(settings: Settings, environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """What the hook depends on, each with how it is named: the settings file that names it,
    its program (a path, the project folder's when relative, or as PATH finds it), each argument
    that names an existing file or folder (absolute, or the project folder's), and each folder
    of the PATH it will get."""
    found: list[tuple[str, Path]] = []
    named_in = settings_file(settings.sources.get("on_finish", "default"))
    if named_in is not None:
        found.append(("on_finish is set in", named_in))
    argv, project = settings.on_finish, settings.project_dir.absolute()
    program = argv[0]
    if "/" in program:
        found.append(("on_finish runs", project / program))
    elif (where := shutil.which(program, path=environ.get("PATH", os.defpath))) is not None:
        found.append(("on_finish runs", Path(where).absolute()))
    for argument in argv[1:]:
        path = project / argument if argument else None  # an absolute one stays itself
        if path is not None and os.path.lexists(path):
            found.append(("on_finish names", path))
        # A shell text's paths too (`sh -c "true; python3 /p/notify.py"`), existing or not yet:
        # the tests could make one before the run ends. Relative ones name the run folder, where
        # the hook runs (host-only).
        found += [("on_finish names", Path(word)) for word in _absolute_words(argument)]
    found += [("on_finish's PATH holds", Path(entry))
              for entry in hook_path(environ.get("PATH", ""), project).split(os.pathsep) if entry]
    for variable in LOADED_FROM:  # what the hook's programs load code from, as it inherits it
        separators = os.pathsep + (" " if variable == "LD_PRELOAD" else "")
        entries = environ.get(variable, "")
        for separator in separators[1:]:
            entries = entries.replace(separator, os.pathsep)
        found += [(f"on_finish's {variable} holds", named) for entry in entries.split(os.pathsep)
                  if entry and (named := Path(entry).expanduser()).is_absolute()]
    for variable in OPTIONS_FROM:  # options that name code to load (`--require /p/x.js`)
        found += [(f"on_finish's {variable} names", Path(word))
                  for word in _absolute_words(environ.get(variable, ""))]
    return found


# Variables that make a program load code from where they say (entries separated by `:`; LD_PRELOAD
# also by spaces), and option variables whose words may name such code: the hook inherits them,
# so no absolute path among them may lie where the tests write. (Relative entries name the run
# folder, the hook's working folder.)
LOADED_FROM = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "LD_PRELOAD", "LD_LIBRARY_PATH", "BASH_ENV",
               "PERL5LIB", "RUBYLIB", "NODE_PATH")
OPTIONS_FROM = ("NODE_OPTIONS", "PERL5OPT", "RUBYOPT", "JAVA_TOOL_OPTIONS")


def _absolute_words(text: str) -> list[str]:
    """The absolute paths among a shell text's words (`~` expanded), split as `sh` would split
    them, and at its operators too (`;`, `&&`, `|`, `$(`, backquotes): what the text may run or read."""
    lexer = shlex.shlex(text.replace("`", " ` "), posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        words = list(lexer)
    except ValueError:
        words = text.split()
    found = []
    for word in words:
        for part in word.replace("$(", " ").replace("=", " ").split():
            expanded = Path(part).expanduser()
            if expanded.is_absolute():
                found.append(str(expanded))
    return list(dict.fromkeys(found))


def refuse_a_writable_hook(settings: Settings, service: str, writable_binds: tuple[str, ...],
                           environ: Mapping[str, str] | None = None) -> None:
    """ConfigError when anything the hook depends on (``hook_files``) lies under a folder the
    test service can write (``models.writable_folders``: the project folder mounted read-write,
    typically). ``environ``: where its PATH comes from (default: this process's)."""
    if not settings.on_finish:
        return
    folders = [Path(source) for source in writable_binds]
    for what, path in hook_files(settings, os.environ if environ is None else environ):
        folder = _under(path, folders)
        if folder is not None:
            raise ConfigError(
                f"{what} {path}, which the test service {service!r} can write (it mounts "
                f"{folder} read-write): the tests could change what envctl runs on this machine",
                hint=_HINT)
