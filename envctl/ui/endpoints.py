"""`envctl env`'s answer in its four formats: a table for a person, JSON (envctl/env/1), and
the ENVCTL_* variables as a dotenv file or as shell lines to `eval`.

A service's name comes from a container's label, which anything on the engine may set: it is
data in every format. The variables' names are safe by construction ([A-Z0-9_], see
envctl.addresses); their values are quoted so that neither `eval` nor compose's .env reader
runs or expands anything in them.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from envctl.text import clean_text
from envctl.ui.views import tagged

if TYPE_CHECKING:
    from envctl.verbs.endpoints import Endpoints


def env_view(found: Endpoints) -> dict[str, Any]:
    """envctl/env/1."""
    return tagged("env", {
        "project": found.project,
        "services": [{
            "service": s.service, "container": s.container, "status": s.status, "health": s.health,
            "phase": s.phase, "host": s.ports[0].host if s.ports else None,
            "port": s.ports[0].host_port if s.ports else None, "url": s.url,
            "ports": [{"container_port": p.container_port, "protocol": p.protocol, "host": p.host,
                       "host_port": p.host_port, "url": p.url} for p in s.ports],
        } for s in found.services],
        "variables": found.variables(),
    })


def env_text(found: Endpoints) -> str:
    """One line per service: name, state, each published port and where it is, its URL."""
    if not found.services:
        project = clean_text(found.project, 200)
        return f"no service of project {project} is running (`envctl up` starts them)\n"
    rows = [("SERVICE", "STATUS", "PORTS", "URL")]
    for s in found.services:
        status = s.status + (f" ({s.health})" if s.health else "")
        where = ", ".join(f"{p.container_port}/{p.protocol} -> {_authority(p.host, p.host_port)}"
                          for p in s.ports) or "-"
        rows.append((clean_text(s.service, 80), clean_text(status, 60), where, s.url or ""))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "".join("  ".join(cell.ljust(widths[i]) if i < 3 else cell for i, cell in enumerate(row)).rstrip()
                   + "\n" for row in rows)


def env_line(found: Endpoints) -> str:
    """One line: each service and where it is (the MCP tool's summary)."""
    return ", ".join(
        f"{clean_text(s.service, 80)} {_authority(s.ports[0].host, s.ports[0].host_port)}"
        + (f" {s.url}" if s.url else "") if s.ports else f"{clean_text(s.service, 80)} (no published port)"
        for s in found.services) or "no services running"


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def sh_text(variables: Mapping[str, str]) -> str:
    """``export NAME='value'`` lines for a POSIX shell's `eval`: inside single quotes nothing is
    special but the quote itself, written as '\\'' (close, an escaped quote, reopen)."""
    def quoted(value: str) -> str:
        return "'" + _plain(value).replace("'", "'\\''") + "'"

    return "".join(f"export {name}={quoted(value)}\n" for name, value in variables.items())


def dotenv_text(variables: Mapping[str, str]) -> str:
    """``NAME="value"`` lines as docker compose's .env reader takes them: inside double quotes a
    backslash, a quote, a newline and a carriage return are escaped, and ``$`` is written ``$$``
    (else ``${...}`` would be interpolated)."""
    def quoted(value: str) -> str:
        return '"' + (_plain(value).replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
                      .replace("\n", "\\n").replace("\r", "\\r")) + '"'

    return "".join(f"{name}={quoted(value)}\n" for name, value in variables.items())


def _plain(value: str) -> str:
    """A variable's value cannot hold a NUL byte (the environment ends a value there)."""
    return value.replace("\0", "?")


def render(found: Endpoints, fmt: str) -> str:
    """``found`` in ``fmt`` (one of verbs.endpoints.FORMATS)."""
    if fmt == "json":
        return json.dumps(env_view(found), indent=2) + "\n"
    if fmt == "sh":
        return sh_text(found.variables())
    if fmt == "dotenv":
        return dotenv_text(found.variables())
    return env_text(found)


def show(settings: Callable[[], Any], *, fmt: str, as_json: bool, probe: bool) -> int:
    """`envctl env`: the format checked first (a usage error is the first answer), then the
    settings (``settings()``), the verb, and its answer on stdout."""
    from envctl.verbs import endpoints  # noqa: PLC0415

    chosen = endpoints.check_format(fmt, as_json)
    sys.stdout.write(render(endpoints.endpoints(settings(), probe=probe), chosen))
    return 0
