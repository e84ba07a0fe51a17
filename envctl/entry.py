"""The `envctl` command's entry point (and ``python -m envctl``): a plain `status`, what agents
and scripts poll most, and a plain `test`, whose start is a run's fixed cost, are answered
without loading the command-line framework (Typer and Click cost ~30-40 ms); everything else
goes through ``envctl.cli``. Both pass through the one error boundary and leave without
interpreter teardown."""

from __future__ import annotations

import sys


def run() -> None:
    from envctl.files import ensure_standard_descriptors  # noqa: PLC0415

    ensure_standard_descriptors()  # a lock or log opened on a closed fd 0-2 would be lost in a child
    from envctl.ui.quick import quick_call  # noqa: PLC0415

    call = quick_call(sys.argv[1:])
    if call is None:
        from envctl.cli import main  # noqa: PLC0415

        code = main()
    else:
        from envctl.boundary import guarded  # noqa: PLC0415

        code = guarded(call)
    from envctl.boundary import leave  # noqa: PLC0415

    leave(code)
