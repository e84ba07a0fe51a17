"""The one error boundary: envctl errors, usage errors, Ctrl-C and bugs become exit codes."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from envctl.errors import EnvctlError, ExitCode
from envctl.files import private_dir


def state_dir() -> Path:
    """envctl's per-user state (crash logs, start locks): $XDG_STATE_HOME/envctl."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "envctl"


def crash_dir() -> Path:
    return state_dir() / "crashes"


def _write_crash(exc: BaseException) -> Path:
    import tempfile  # noqa: PLC0415  # a crash alone needs these: every command's start is spared them
    import traceback  # noqa: PLC0415

    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        directory = private_dir(crash_dir())
        # Created exclusively, under a name no one can guess ahead: never through a file or a
        # link someone else put there.
        fd, name = tempfile.mkstemp(prefix=f"crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".log",
                                    dir=directory)
    except OSError:
        fd, name = tempfile.mkstemp(prefix="envctl-crash-", suffix=".log")  # 0600, O_EXCL, random
    path = Path(name)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"envctl {' '.join(sys.argv[1:])}\n{text}")
    return path


def report_error(exc: EnvctlError) -> None:
    print(f"envctl: error: {exc.message}", file=sys.stderr)
    if exc.hint:
        print(f"envctl: hint: {exc.hint}", file=sys.stderr)


def guarded(call: Callable[[], int]) -> int:
    """Run ``call`` and map whatever escapes it to a documented exit code."""
    from envctl import signals  # noqa: PLC0415

    try:
        with signals.as_interrupts():
            return call()
    except EnvctlError as exc:
        report_error(exc)
        return int(exc.exit_code)
    except signals.INTERRUPTS as exc:
        print(f"envctl: interrupted ({signals.name(exc)})", file=sys.stderr)
        return signals.exit_code(exc)
    except BrokenPipeError:
        # stdout closed early (e.g. `envctl logs | head`): not an error of ours
        import contextlib  # noqa: PLC0415

        with contextlib.suppress(OSError, ValueError):  # stderr may be the same closed pipe
            sys.stderr.close()
        return int(ExitCode.OK)
    except Exception as exc:  # the boundary: every bug ends here, not in a traceback
        path = _write_crash(exc)
        print(f"envctl: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print(f"envctl: this is a bug; the traceback is in {path}", file=sys.stderr)
        return int(ExitCode.INTERNAL)


def dispatch(app: Any, argv: list[str], *, command: str | None = None) -> int:
    """Run a Typer ``app`` on ``argv`` and give its exit code: the command's own, click's
    exits, and click's usage errors as envctl's usage code. ``command``: the one ``argv`` names
    (``ui.quick.command_named``), the only one whose options are built."""
    import typer  # noqa: PLC0415  # only a command line comes here

    if not argv:  # bare `envctl` asks what there is: the help, and success
        argv = ["--help"]
    try:
        result = only_the_command(app, command)(args=argv, standalone_mode=False, prog_name="envctl")
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort as exc:
        # Typer 0.28 turns an EOFError into Abort and a bare KeyboardInterrupt into Exit(130);
        # signals come as Signalled, which it lets through. An Abort caused by an interrupt gives
        # that one back (a SIGTERM or SIGHUP carries its signal, for the exit code).
        cause = exc.__cause__ or exc.__context__
        raise (cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt()) from None
    except typer.TyperException as exc:
        # click's usage errors exit 2, which is pytest's; envctl's usage code is 10.
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            print(f"envctl: error: {exc.format_message()}", file=sys.stderr)
        if _pytest_option_before_dashes(exc):
            print("envctl: hint: pytest's own options go after `--`, e.g. `envctl test -- -k foo`",
                  file=sys.stderr)
        return int(ExitCode.USAGE)
    return int(result) if isinstance(result, int) else 0


def only_the_command(app: Any, name: str | None) -> Any:
    """``app`` with only the command ``name`` in it, so that click builds that one's options
    alone (all seventeen took ~15 ms of every command's start, one ~6 ms); ``app`` itself when
    ``name`` is none of its commands (help, a typo: the answer names them all)."""
    if name is None:
        return app
    import copy  # noqa: PLC0415

    from typer.main import get_command_name  # noqa: PLC0415  # how Typer names a command

    chosen = [info for info in app.registered_commands
              if (info.name or get_command_name(getattr(info.callback, "__name__", ""))) == name]
    if not chosen:
        return app
    narrowed = copy.copy(app)
    narrowed.registered_commands = chosen
    return narrowed


def _pytest_option_before_dashes(exc: BaseException) -> bool:
    """Whether ``exc`` is `envctl test` refusing an option it does not know (pytest's, given
    before the `--` that would have passed it on)."""
    # By name: Typer carries its own copy of click's exceptions (typer._click), not click's.
    context = getattr(exc, "ctx", None)
    return type(exc).__name__ == "NoSuchOption" and getattr(context, "info_name", None) == "test"


def leave(code: int, exit_now: Callable[[int], None] = os._exit) -> None:
    """Flush and leave without interpreter teardown.

    Tearing down the docker, requests and rich modules costs ~130 ms after the work is done,
    which would be most of `envctl up`'s latency after the last service turns healthy. Every
    file envctl writes is closed (and state files fsynced) before this point."""
    import contextlib  # noqa: PLC0415

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    exit_now(code)
