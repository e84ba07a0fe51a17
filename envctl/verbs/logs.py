"""`envctl logs` and the MCP tool `logs`: which pieces of a run's output may be asked for
together (the one rule both faces follow), a piece read as a value, and the container's own
output stream for a face that follows a run live."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from envctl.errors import UsageError
from envctl.runs.run import Run

MAX_BYTES_DEFAULT = 64 * 1024
MAX_BYTES_FLOOR = 1024
MAX_BYTES_CEILING = 1 << 24


@dataclass(frozen=True)
class Wording:
    """How a face names the options in the rule's messages (a flag, or a tool argument)."""

    offset_needs_json: str
    piece_conflict: str


CLI = Wording(
    offset_needs_json="--offset reads a piece of the log as JSON: add --json",
    piece_conflict=("--json prints one piece of the log: the last --tail lines or the bytes from "
                    "--offset; it does not combine with --follow or --timestamps"))
MCP = Wording(
    offset_needs_json="`offset` reads a piece of the log",  # never said: a tool always answers a piece
    piece_conflict="give `tail` (the last lines) or `offset` (bytes from there), not both")


@dataclass(frozen=True)
class LogsOptions:
    """What to show of a run's output."""

    follow: bool = False
    tail: int | None = None
    timestamps: bool = False
    as_json: bool = False  # one piece, as a value (the MCP tool always asks for one)
    offset: int | None = None
    max_bytes: int = MAX_BYTES_DEFAULT


def check_options(options: LogsOptions, wording: Wording = CLI) -> None:
    """A piece of the log is the last ``tail`` lines or the bytes from ``offset``, never both,
    and never followed or stamped; ``offset`` only makes sense for a piece."""
    if not options.as_json and options.offset is not None:
        raise UsageError(wording.offset_needs_json)
    if options.as_json and (options.follow or options.timestamps
                            or (options.offset is not None and options.tail is not None)):
        raise UsageError(wording.piece_conflict)


def piece(run: Run, options: LogsOptions, wording: Wording = CLI) -> dict[str, Any]:
    """One piece of the log as the logs view (envctl/logs/1); ``end`` is the next offset."""
    from envctl.runs.logfile import read_chunk  # noqa: PLC0415
    from envctl.ui.views import logs_view  # noqa: PLC0415

    check_options(options, wording)
    record = run.record
    max_bytes = max(MAX_BYTES_FLOOR, min(options.max_bytes, MAX_BYTES_CEILING))
    return logs_view(record, read_chunk(run.dir, offset=options.offset, tail=options.tail,
                                        max_bytes=max_bytes))


def container_output(container: str, *, tail: int | None = None,
                     host: str | None = None) -> Iterator[bytes]:
    """The container's output until it exits: the engine's stored log, followed (an attach
    made after the tests began would drop what they print while the engine replays its log;
    invalid UTF-8 is re-encoded: this is a view)."""
    from envctl.docker import timeouts  # noqa: PLC0415
    from envctl.docker.engine import Engine  # noqa: PLC0415

    with Engine(timeout=timeouts.CALL, host=host) as engine:
        yield from engine.output_stream(container, follow=True, tail=tail)
