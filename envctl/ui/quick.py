"""`envctl status` and `envctl test` in their plain forms (``status [RUN] [--json] [--lines N]``,
``test [--detach|-d] [--json] [--no-up] [-- PYTEST_ARGS...]``), parsed by hand so the
command-line framework (~40 ms of a run's start) is never loaded for them; any other form (a
global option, another option, --help, a typo) is left to ``envctl.cli``, which parses and
answers it as before."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

DEFAULT_LINES = 10
# The global options (the root callback's, envctl/cli.py) that take a value: what follows them is
# not a command's name. tests/unit/test_quick.py checks this against the CLI's own definition.
GLOBAL_VALUE_OPTIONS = frozenset({"-C", "--project-dir", "--log-format", "--context"})


def command_named(args: list[str]) -> str | None:
    """The command ``args`` name: the first word that is neither a global option nor its value.
    None when help is asked of the whole program first, or there is no word (the CLI answers)."""
    rest = iter(args)
    for arg in rest:
        if arg in ("--help", "--"):
            return None
        if arg.startswith("--"):
            if arg in GLOBAL_VALUE_OPTIONS:
                next(rest, None)  # its value (`--context NAME`; `--context=NAME` is one word)
        elif arg.startswith("-") and len(arg) > 1:  # short options, clustered as click reads them
            for at, letter in enumerate(arg[1:], start=1):
                if letter == "h":
                    return None
                if f"-{letter}" in GLOBAL_VALUE_OPTIONS:
                    if at == len(arg) - 1:
                        next(rest, None)  # `-C DIR`, `-vC DIR`; in `-Cdir` the rest is the value
                    break
        else:
            return arg
    return None


def quick_call(args: list[str]) -> Callable[[], int] | None:
    """The call that answers ``args`` when they are a plain `status` or `test`; None otherwise."""
    return quick_status(args) or quick_test(args)


# `test`'s flags the quick path takes (cli.py's names for them); any other option goes to the CLI.
TEST_FLAGS = {"--detach": "detach", "-d": "detach", "--json": "as_json", "--no-up": "no_up"}


def quick_test(args: list[str]) -> Callable[[], int] | None:
    """The call that answers ``args`` when they are a plain `test`: its flags, then `--` and
    pytest's arguments; None for anything else (a word before `--` included: the CLI knows how
    it reads one)."""
    if not args or args[0] != "test":
        return None
    flags: set[str] = set()
    pytest_args: tuple[str, ...] = ()
    for at, arg in enumerate(args[1:], start=1):
        if arg == "--":
            pytest_args = tuple(args[at + 1:])
            break
        name = TEST_FLAGS.get(arg)
        if name is None:
            return None
        flags.add(name)
    return lambda: plain_test(pytest_args, detach="detach" in flags, as_json="as_json" in flags,
                              no_up="no_up" in flags)


def plain_test(pytest_args: tuple[str, ...], *, detach: bool, as_json: bool, no_up: bool) -> int:
    """What the CLI does for a plain `test`: the root's context (no global option was given),
    then the command."""
    import os  # noqa: PLC0415

    from envctl.ui.testing import test_command  # noqa: PLC0415
    from envctl.verbs.engine import use_context  # noqa: PLC0415

    use_context(os.environ.get("DOCKER_CONTEXT"))
    return test_command(pytest_args, detach=detach, as_json=as_json, no_up=no_up)


def quick_status(args: list[str]) -> Callable[[], int] | None:
    """The call that answers ``args`` when they are a plain `status`; None otherwise."""
    if not args or args[0] != "status":
        return None
    run, as_json, lines = "latest", False, DEFAULT_LINES
    given_run = False
    rest = iter(args[1:])
    for arg in rest:
        if arg == "--json":
            as_json = True
        elif arg == "--lines" or arg.startswith("--lines="):
            value = arg.partition("=")[2] if "=" in arg else next(rest, "")
            try:
                lines = int(value)
            except ValueError:
                return None  # the CLI says what is wrong with it
            if lines < 0:
                return None
        elif not arg.startswith("-") and not given_run:
            run, given_run = arg, True
        else:
            return None
    return lambda: show_status(run, as_json=as_json, lines=lines)


def show_status(run: str, *, as_json: bool, lines: int, handle: Any = None) -> int:
    """Print the run's status (text, or envctl/status/1 JSON); reads only. ``handle``: the run
    already found (`status --watch` shows the one it watched, not a newer `latest`)."""
    from envctl.ui.cli_state import print_json, settings  # noqa: PLC0415
    from envctl.verbs.runs import open_run  # noqa: PLC0415

    current = (handle or open_run(settings(), run)).status(lines=lines)
    if as_json:
        from envctl.ui.views import status_view  # noqa: PLC0415

        print_json(status_view(current))
    else:
        from envctl.ui.render import status_text  # noqa: PLC0415

        print(status_text(current))
    return 0
