"""Stands in for the collector in a forked child (test_spawn): reports what it was handed."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    handlers = {name: str(signal.getsignal(getattr(signal, name)))
                for name in ("SIGINT", "SIGTERM", "SIGHUP")}
    status = Path("/proc/self/status").read_text(encoding="ascii")
    ignored = next(line for line in status.splitlines() if line.startswith("SigIgn:")).split()[1]
    os.write(1, json.dumps({
        "argv": argv, "pid": os.getpid(), "sid": os.getsid(0), "handlers": handlers,
        "ignored": int(ignored, 16), "stdin": str(Path("/proc/self/fd/0").readlink()),
        "fds": sorted(int(fd.name) for fd in Path("/proc/self/fd").iterdir()),
        "path0": sys.path[0] if sys.path else None,
    }).encode() + b"\n")
    return 3
