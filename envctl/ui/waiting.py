"""`envctl wait`: block until a run ends, or until a deadline, then say where it is.

With ``--timeout`` an agent polls inside its shell's time limit: at the deadline one line of
progress (or the JSON answer) and exit 25, while the run goes on."""

from __future__ import annotations

import json
import sys
import time

from envctl import signals
from envctl.errors import ExitCode, WaitTimeoutError
from envctl.runs.run import Run


def bounded_wait(run: Run, timeout: float | None, *, as_json: bool = False) -> int:
    """Wait for ``run`` at most ``timeout`` seconds (None: to its end); the exit code."""
    from envctl.ui.render import final_summary  # noqa: PLC0415
    from envctl.ui.views import progress_line, wait_view  # noqa: PLC0415

    began = time.monotonic()
    try:
        record = run.wait(timeout=timeout)
    except (WaitTimeoutError, *signals.INTERRUPTS) as exc:
        # At the deadline, or signalled: only this wait ends; the run is detached and goes on.
        with signals.shielded():
            status = run.status(lines=0 if not as_json else 5)
            if as_json:
                print(json.dumps(wait_view(status, waited=time.monotonic() - began), indent=2,
                                 default=str))
            else:
                if isinstance(exc, signals.INTERRUPTS):
                    print(f"envctl: {signals.name(exc)}: stopped waiting; the run goes on",
                          file=sys.stderr)
                print(f"envctl: {progress_line(status)}", file=sys.stderr)
        if isinstance(exc, signals.INTERRUPTS):
            return signals.exit_code(exc)
        return int(ExitCode.WAIT_TIMEOUT)
    if as_json:
        print(json.dumps(wait_view(run.status(lines=5), waited=time.monotonic() - began), indent=2,
                         default=str))
    else:
        print(final_summary(run.dir, record), file=sys.stderr)
    return record.exit_code
