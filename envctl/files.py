"""Private files and folders: state files 0600, folders 0700, state written atomically; and
reading a file that someone else may have planted: no links followed, regular files only, capped."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path
from typing import BinaryIO

# O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
_SAFE_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def private_dir(path: Path) -> Path:
    """Create ``path`` and the parents it lacks as 0700, whatever the umask (mkdir's mode is
    masked, and its parents get the umask's default: 0777 under `umask 000`); tighten ``path``
    if it exists. Parents that existed already are left as they are."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        with contextlib.suppress(OSError):
            folder.chmod(0o700)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    return path


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file + fsync + rename), mode 0600.

    The rename replaces whatever ``path`` was (a planted link included) and never follows it."""
    private_dir(path.parent)
    import tempfile  # noqa: PLC0415  # writers only: a reader's start is spared its imports

    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.chmod(0o600)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def open_regular(path: Path, *, dir_fd: int | None = None) -> BinaryIO:
    """``path`` opened for reading if it is a regular file with one link, never following a
    link; OSError otherwise (ELOOP for a link, EINVAL for a FIFO, device, folder or hard link).

    The type is checked before the open (so a device node is never opened) and again on the
    descriptor (so nothing swapped in between is read). A file replaced in between by an atomic
    rename (a record being rewritten) is simply opened again."""
    for _attempt in range(REOPEN_ATTEMPTS):
        before = os.stat(path, dir_fd=dir_fd, follow_symlinks=False)
        if stat.S_ISLNK(before.st_mode):
            raise OSError(errno.ELOOP, "is a symbolic link", str(path))
        if stat.S_ISREG(before.st_mode) and before.st_nlink == 0:
            continue  # the name was renamed over between the lookup and the stat: look again
        if not stat.S_ISREG(before.st_mode) or before.st_nlink != 1:
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        fd = os.open(path, _SAFE_READ, dir_fd=dir_fd)
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) == (before.st_dev, before.st_ino) \
                and stat.S_ISREG(after.st_mode) and after.st_nlink == 1:
            os.set_blocking(fd, True)
            return os.fdopen(fd, "rb")
        os.close(fd)
    raise OSError(errno.EINVAL, "changed while being opened", str(path))


REOPEN_ATTEMPTS = 5


def read_regular(path: Path, cap: int, *, dir_fd: int | None = None) -> bytes:
    """The whole of a regular file (see ``open_regular``); OSError(EFBIG) past ``cap`` bytes."""
    with open_regular(path, dir_fd=dir_fd) as handle:
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise OSError(errno.EFBIG, f"larger than {cap} bytes", str(path))
    return data


DOTENV_CAP = 1 << 20  # bytes of a `.env` file read (a link or a FIFO is not read at all)
_DOTENV_KEY = re.compile(r"[A-Za-z0-9_.\-]+")
_DOUBLE_QUOTED_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$"}


def read_dotenv(path: Path) -> dict[str, str]:
    """A `.env` file's variables, as compose reads them: `KEY=value` or `KEY: value` lines (an
    `export ` before the key), single quotes literal, double quotes with escapes and over
    several lines, an unquoted value ending at ` #`; `#` comment lines; a later line wins.
    Empty if it is not a regular file (never a link, a FIFO or a device), or is unreadable."""
    try:
        text = read_regular(path, DOTENV_CAP).decode("utf-8", errors="replace")
    except OSError:
        return {}
    return parse_dotenv(text)


def parse_dotenv(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").lstrip()
        cut = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        key = line[:cut].strip() if cut >= 0 else ""
        if not _DOTENV_KEY.fullmatch(key):
            continue
        value = line[cut + 1:].lstrip()
        if value[:1] in ("'", '"'):
            quote, body = value[0], value[1:]
            # A quoted value may go on over the next lines, up to its closing quote.
            while _closing(body, quote) < 0 and index < len(lines):
                body += "\n" + lines[index]
                index += 1
            end = _closing(body, quote)
            body = body[:end] if end >= 0 else body
            found[key] = _expand(_unescape(body), found) if quote == '"' else body
        else:
            comment = re.search(r"\s#", value)
            found[key] = _expand((value[:comment.start()] if comment else value).rstrip(), found)
    return found


_VARIABLE = re.compile(r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def _expand(value: str, known: dict[str, str]) -> str:
    """Compose's interpolation in a `.env` value: `$VAR`, `${VAR}`, `${VAR:-default}` and the
    like, from the lines above and the environment; `$$` is a `$`."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        current = known.get(name, os.environ.get(name))
        operator, word = match.group(2), match.group(3) or ""
        unset = current is None or (operator is not None and operator.startswith(":") and not current)
        if operator is not None and operator.endswith("-") and unset:
            return word
        if operator is not None and operator.endswith("+"):
            return "" if unset else word
        return current or ""

    return _VARIABLE.sub(one, value)


def _closing(body: str, quote: str) -> int:
    """Where the closing quote is (a backslash escapes one in double quotes), or -1."""
    i = 0
    while i < len(body):
        if quote == '"' and body[i] == "\\":
            i += 2
            continue
        if body[i] == quote:
            return i
        i += 1
    return -1


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _DOUBLE_QUOTED_ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def ensure_standard_descriptors() -> None:
    """Open /dev/null on whichever of stdin, stdout and stderr is closed (`envctl ... <&- >&-`
    from a daemon), so no file envctl opens later lands on 0-2."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
