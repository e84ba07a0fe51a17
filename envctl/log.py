"""structlog, configured once by the CLI: readable lines on a TTY, JSON lines otherwise.

Log lines go to stderr so stdout stays for results (run ids, JSON records, reports).
Any key whose name looks secret is masked before a line is written, and the values of secret
environment variables and of the project's `.env` are cut out of every line (compose's output
on a failed start, for one, prints them expanded).
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, TextIO

_SECRET_KEY = re.compile(r"(pass(word)?|secret|token|api[_-]?key|credential|auth)", re.IGNORECASE)
MASK = "***"


def mask_secrets(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Never let a value under a secret-looking key reach a log line."""
    for key in list(event):
        if key != "event" and _SECRET_KEY.search(key):
            event[key] = MASK
    return event


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL", re.IGNORECASE)
# Shorter values ("1", "yes", "test") would cut ordinary words out of every line: a value the
# `secrets` setting names is masked whatever its length, others from this length on.
MIN_SECRET = 6
_secrets: set[str] = set()
_secrets_read = [False]
_named: set[str] = set()  # the `secrets` setting's values (name-matched ones come from the environment)


def secret_values(environ: Mapping[str, str]) -> set[str]:
    """The values of the variables whose names look secret."""
    return {value for name, value in environ.items()
            if _SECRET_NAME.search(name) and len(value) >= MIN_SECRET}


def dotenv_values(path: Path) -> set[str]:
    """Every value of a `.env` file (compose interpolates them all; any may be a secret)."""
    from envctl.files import read_dotenv  # noqa: PLC0415

    return {value for value in read_dotenv(path).values() if len(value) >= MIN_SECRET}


def redact_project(env_files: Iterable[Path], names: Iterable[str] = ()) -> None:
    """Also cut out every value of the ``env_files`` (the project's `.env`, compose's
    --env-file), and of the variables ``names`` (the `secrets` setting)."""
    for path in env_files:
        _secrets.update(dotenv_values(path))
    named = {value for name in names if (value := os.environ.get(name, ""))}
    _secrets.update(named)
    _named.update(named)


def redact(text: str) -> str:
    if not _secrets_read[0]:
        _secrets.update(secret_values(os.environ))
        _secrets_read[0] = True
    return _mask(text, _secrets)


def redact_named(text: str) -> str:
    """Only the values of variables that are secrets by name or by the `secrets` setting: for
    text a user wrote (a command line), where every `.env` value of 4+ characters (`test`)
    would cut ordinary words out."""
    return _mask(text, secret_values(os.environ) | _named)


def _mask(text: str, values: set[str]) -> str:
    """``text`` with each whole occurrence of a value masked: not inside a longer word (a `.env`
    value `secret1` leaves `secret12` alone; in `user:secret1@db` it goes). One pass of one
    pattern, compiled once per set of values, whatever their number."""
    words = frozenset(values) - {""}
    return _pattern(words).sub(MASK, text) if words and text else text


_BOUNDED = r"(?<![A-Za-z0-9])(?:{})(?![A-Za-z0-9])"


@functools.lru_cache(maxsize=8)
def _pattern(values: frozenset[str]) -> re.Pattern[str]:
    """The values as one regular expression shaped as their prefix tree: a line is read once,
    each position costing one branch per distinct next character rather than one try per value
    (2,000 secrets: ~1 ms for 20 KB, where a test per value took 7 ms and an alternation 17).
    Greedy, the tree tries the longest value first, as a longest-first alternation does. Values
    nested too deep for the regex compiler (a, aa, aaa, ... hundreds deep) fall back to the
    alternation."""
    try:
        return re.compile(_BOUNDED.format(_tree(values)))
    except RecursionError:
        longest_first = sorted(values, key=len, reverse=True)
        return re.compile(_BOUNDED.format("|".join(re.escape(v) for v in longest_first)))


def _tree(values: frozenset[str]) -> str:
    root: dict[str, Any] = {}
    for value in values:
        node = root
        for char in value:
            node = node.setdefault(char, {})
        node[""] = {}  # a value ends here
    return _branches(root)


def _branches(node: dict[str, Any]) -> str:
    parts = []
    for first in sorted(key for key in node if key):
        literal, child = re.escape(first), node[first]
        while len(child) == 1 and "" not in child:  # a run without a fork is one literal, not nested groups
            (char, child), = child.items()
            literal += re.escape(char)
        parts.append(literal + _branches(child))
    if not parts:
        return ""
    body = parts[0] if len(parts) == 1 else "(?:" + "|".join(parts) + ")"
    return f"(?:{body})?" if "" in node else body


def redact_values(_logger: object, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """No secret value reaches a log line, under whatever key it comes."""
    for key, value in list(event.items()):
        if isinstance(value, str):
            event[key] = redact(value)
    return event


# The standard library's logging levels, which structlog's filtering takes: spelled here so that
# a reader's start (`envctl status`) does not import logging for three numbers.
WARNING, INFO, DEBUG = 30, 20, 10


def level_for(verbosity: int) -> int:
    """-q -> warnings only, default -> info, -v -> debug."""
    if verbosity < 0:
        return WARNING
    if verbosity == 0:
        return INFO
    return DEBUG


_pending: dict[str, Any] | None = None
_level: list[int | None] = [None]  # the configured level; None: never configured (structlog's own defaults)


def configure(*, log_format: str = "auto", verbosity: int = 0, stream: TextIO | None = None) -> None:
    """Set structlog up for this process. ``log_format`` is auto, console or json.

    The work (and structlog's ~130 ms import, which pulls in rich) happens when the first line
    is logged, so commands that log nothing, such as `envctl status`, never pay for it.
    """
    global _pending  # noqa: PLW0603  # one configuration per process, by design
    _pending = {"log_format": log_format, "verbosity": verbosity, "stream": stream}
    _level[0] = level_for(verbosity)


def _apply_pending() -> None:
    global _pending
    if _pending is not None:
        options, _pending = _pending, None
        _configure_now(**options)


def _configure_now(*, log_format: str, verbosity: int, stream: TextIO | None) -> None:
    import structlog  # noqa: PLC0415  # lazy: structlog pulls in rich's traceback module

    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        mask_secrets,
        redact_values,
    ]
    if as_json:
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=stream.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level_for(verbosity)),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )


# Methods whose lines a configured level can filter out before structlog is loaded: on a warm
# environment `envctl test` logs one debug line on its way to `compose run` (~130 ms to import).
_METHOD_LEVELS = {"debug": DEBUG, "info": INFO}


def _say_nothing(*_args: Any, **_kwargs: Any) -> None:
    return None


class LazyLogger:
    """A structlog logger that imports and configures structlog on its first line."""

    def __init__(self, name: str, context: dict[str, Any] | None = None) -> None:
        self._name = name
        self._context = context or {}
        self._logger: Any = None

    def bind(self, **context: Any) -> LazyLogger:
        return LazyLogger(self._name, {**self._context, **context})

    def __getattr__(self, method: str) -> Any:
        level = _level[0]
        if self._logger is None and level is not None and _METHOD_LEVELS.get(method, level) < level:
            return _say_nothing  # a line the level filters out: no reason to load structlog for it
        _apply_pending()  # a later configure() applies to loggers made before it
        if self._logger is None:
            import structlog  # noqa: PLC0415  # lazy, see configure

            self._logger = structlog.get_logger(self._name).bind(**self._context)
        return getattr(self._logger, method)


def get_logger(name: str) -> Any:
    """A logger bound to ``name``; structlog is loaded when it first logs."""
    return LazyLogger(name)
