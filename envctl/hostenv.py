"""A pytest plugin for tests that run on this machine against the running environment.

Enabled only when asked: ``pytest -p envctl.hostenv``, or ``pytest_plugins = ["envctl.hostenv"]``
in the suite's top conftest.py (it is no ``pytest11`` entry point, so no other pytest session
on the machine loads it). It gives the session-scoped fixture ``envctl_services``: a mapping of
service name -> :class:`envctl.addresses.Address` (``host``, ``port``, ``ports``, ``url``).

Where the addresses come from, the first that applies:

1. the ``ENVCTL_*`` variables, when ``ENVCTL_SERVICES`` is set: envctl started pytest, or the
   shell did ``eval "$(envctl env --format sh)"``;
2. under pytest-xdist, what the controller found: it looks once, when it starts its first
   worker, and hands the variables to every worker (``workerinput``), so N workers cost the
   engine one look;
3. the running environment, looked at once, in this process (as `envctl env` would, from
   ENVCTL_PROJECT_DIR or the directory pytest was started in).

In process rather than `envctl env --json` in a subprocess: the same function, no need for an
``envctl`` on PATH (the one importing this module is the one asked), errors as envctl's own,
and no second interpreter. Nothing here starts or stops the environment.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from envctl.addresses import SERVICES, Address, from_variables, is_address_variable

WORKER_VARIABLES = "envctl_variables"  # workerinput keys, set by the xdist controller
WORKER_ERROR = "envctl_error"
_LOOKED = pytest.StashKey[tuple[dict[str, str], str | None]]()


class Services(Mapping[str, Address]):
    """The services' addresses by name; a name not there is a KeyError that says what is."""

    def __init__(self, addresses: Mapping[str, Address], source: str) -> None:
        self._addresses = dict(addresses)
        self.source = source  # where they came from, for messages

    def __getitem__(self, name: str) -> Address:
        try:
            return self._addresses[name]
        except KeyError:
            known = ", ".join(sorted(self._addresses)) or "none"
            raise KeyError(f"no service {name!r} in {self.source} (services: {known}); "
                           "`envctl up` starts the environment") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._addresses)

    def __len__(self) -> int:
        return len(self._addresses)


def look(project_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The running environment's variables, as `envctl env --format sh` gives them. Variables
    of an earlier `eval` are left out of the settings, which would take them for unknown ones."""
    from envctl.settings import load_settings  # noqa: PLC0415
    from envctl.verbs.endpoints import endpoints, engine_of  # noqa: PLC0415

    settings = load_settings(project_dir, environ={k: v for k, v in environ.items()
                                                   if not is_address_variable(k)})
    return endpoints(settings, host=engine_of(environ)).variables()


def project_dir(config: pytest.Config, environ: Mapping[str, str]) -> Path:
    """ENVCTL_PROJECT_DIR, else the directory pytest was started in (where `envctl` would look)."""
    chosen = environ.get("ENVCTL_PROJECT_DIR")
    return Path(chosen) if chosen else Path(config.invocation_params.dir)


def _look_once(config: pytest.Config) -> tuple[dict[str, str], str | None]:
    """The variables (or why there are none), looked at once per process."""
    from envctl.errors import EnvctlError  # noqa: PLC0415

    if _LOOKED not in config.stash:
        try:
            config.stash[_LOOKED] = (look(project_dir(config, os.environ), os.environ), None)
        except EnvctlError as exc:
            config.stash[_LOOKED] = ({}, exc.message + (f" (hint: {exc.hint})" if exc.hint else ""))
    return config.stash[_LOOKED]


def variables(config: pytest.Config, environ: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """The variables and where they came from; pytest.fail when they cannot be had."""
    if SERVICES in environ:
        return {k: v for k, v in environ.items() if is_address_variable(k)}, "the ENVCTL_* variables"
    handed: Any = getattr(config, "workerinput", None)
    if isinstance(handed, dict) and (WORKER_VARIABLES in handed or WORKER_ERROR in handed):
        found, error = dict(handed.get(WORKER_VARIABLES) or {}), handed.get(WORKER_ERROR)
    else:
        found, error = _look_once(config)
    if error is not None:
        pytest.fail(f"envctl: the running environment's services: {error}", pytrace=False)
    return found, "the running environment"


@pytest.fixture(scope="session")
def envctl_services(pytestconfig: pytest.Config) -> Services:
    """Each service's address on this machine (host, port, ports, url), by service name."""
    found, source = variables(pytestconfig, os.environ)
    return Services(from_variables(found), source)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist's controller, before it starts a worker: the variables the workers use
    (looked at once for all of them). Workers inherit ENVCTL_* variables already set."""
    if SERVICES in os.environ:
        return
    found, error = _look_once(node.config)
    if error is None:
        node.workerinput[WORKER_VARIABLES] = found
    else:
        node.workerinput[WORKER_ERROR] = error
