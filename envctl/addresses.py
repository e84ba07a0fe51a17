"""How this machine reaches each service of the environment, as values and as ``ENVCTL_*``
variables (what `envctl env --format sh|dotenv` prints and the host pytest fixture reads).

For each service, ``ENVCTL_<KEY>_HOST``, ``_PORT`` (its first published port),
``_PORT_<CONTAINER_PORT>`` and ``_URL`` (when a port answers HTTP); ``ENVCTL_SERVICES`` lists
the services' names, separated by a space. ``<KEY>`` is the service's name upper-cased, every
character outside ``[A-Z0-9]`` made ``_``. Two names that make one key (``my-db``, ``my.db``)
never share variables: the services are taken in the order of their names, and a key already
taken gets ``_2`` (then ``_3``...) behind it. A name outside ``[A-Za-z0-9._-]+`` (a container
label may hold a space) is left out, with a warning: every listed name is one word, so reading
the list back numbers the collisions the same way. Standard library only: the settings and the
fixture read it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

PREFIX = "ENVCTL_"
SERVICES = "ENVCTL_SERVICES"
_NOT_KEY = re.compile(r"[^A-Z0-9]")
_LISTABLE = re.compile(r"[A-Za-z0-9._-]+", re.ASCII)  # one word of ENVCTL_SERVICES (fullmatch)
# Every variable of a service is its key plus one of these endings; none ends another, so two
# keys never make one variable, and no setting (ENVCTL_<SETTING>) ends with one of them.
_ADDRESS_VARIABLE = re.compile(r"ENVCTL_[A-Z0-9_]+_(HOST|PORT|URL|PORT_[0-9]+)")


@dataclass(frozen=True)
class Address:
    """Where this machine reaches one service: ``host`` and ``port`` (its first published port),
    ``ports`` (container port -> published port on ``host``), ``url`` (of the first port that
    answers HTTP). All None or empty when it publishes no port."""

    name: str
    host: str | None = None
    port: int | None = None
    ports: Mapping[int, int] = field(default_factory=dict, hash=False)
    url: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ports", MappingProxyType(dict(self.ports)))  # frozen all through


def variable_key(name: str) -> str:
    """``name`` upper-cased, every character outside [A-Z0-9] as ``_``."""
    return _NOT_KEY.sub("_", name.upper())


def variable_keys(names: Sequence[str]) -> dict[str, str]:
    """Each name's key, taken in the order given; a key already taken gets ``_2``, ``_3``..."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in keys:
            continue
        key = base = variable_key(name)
        number = 2
        while key in taken:
            key, number = f"{base}_{number}", number + 1
        keys[name] = key
        taken.add(key)
    return keys


def listable(name: str) -> bool:
    """Whether ``name`` goes in ENVCTL_SERVICES: one word of letters, digits, ``.``, ``_``, ``-``."""
    return _LISTABLE.fullmatch(name) is not None


def is_address_variable(name: str) -> bool:
    """Whether ``name`` is one of these variables (not a setting's): ENVCTL_SERVICES, or an
    ENVCTL_<KEY>_HOST, _PORT, _PORT_<N> or _URL."""
    return name == SERVICES or _ADDRESS_VARIABLE.fullmatch(name) is not None


def to_variables(addresses: Iterable[Address]) -> dict[str, str]:
    """The variables of ``addresses``: the services by name order, keys as above."""
    given = list(addresses)
    skipped = sorted(a.name for a in given if not listable(a.name))
    if skipped:  # stdlib logging: this module is read by the fixture, without envctl's logging
        import logging  # noqa: PLC0415  # rare: a reader's start is spared it

        logging.getLogger("envctl.addresses").warning(
            "services left out of %s (a name outside [A-Za-z0-9._-]): %s", SERVICES,
            ", ".join(map(repr, skipped)))
    ordered = sorted((a for a in given if listable(a.name)), key=lambda a: a.name)
    keys = variable_keys([a.name for a in ordered])
    found = {SERVICES: " ".join(a.name for a in ordered)}
    for address in ordered:
        head = PREFIX + keys[address.name]
        if address.host is not None and address.port is not None:
            found[f"{head}_HOST"] = address.host
            found[f"{head}_PORT"] = str(address.port)
        for container_port, host_port in address.ports.items():
            found[f"{head}_PORT_{container_port}"] = str(host_port)
        if address.url is not None:
            found[f"{head}_URL"] = address.url
    return found


def from_variables(variables: Mapping[str, str]) -> dict[str, Address]:
    """The addresses ``to_variables`` gave (each service by its name); {} without ENVCTL_SERVICES.
    A value that is not a port number is left out, as if it were not there."""
    names = sorted({name for name in variables.get(SERVICES, "").split() if listable(name)})
    found: dict[str, Address] = {}
    for name, key in variable_keys(names).items():
        head = f"{PREFIX}{key}_"
        ports = {int(variable[len(head) + 5:]): int(value) for variable, value in variables.items()
                 if variable.startswith(head + "PORT_") and _is_port(variable[len(head) + 5:])
                 and _is_port(value)}
        port = variables.get(head + "PORT", "")
        found[name] = Address(name, host=variables.get(head + "HOST") or None,
                              port=int(port) if _is_port(port) else None, ports=ports,
                              url=variables.get(head + "URL") or None)
    return found


def _is_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 0 < int(text) < 65536
