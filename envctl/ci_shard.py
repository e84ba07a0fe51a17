"""`--shard auto`: the shard a CI system's parallel job is, read from that system's own
variables, each with its own 0- or 1-based convention.

    GitLab CI (parallel: N)        CI_NODE_INDEX 1..N          CI_NODE_TOTAL
    CircleCI (parallelism: N)      CIRCLE_NODE_INDEX 0..N-1    CIRCLE_NODE_TOTAL
    Buildkite (parallelism: N)     BUILDKITE_PARALLEL_JOB 0..  BUILDKITE_PARALLEL_JOB_COUNT
    Kubernetes Indexed Job         JOB_COMPLETION_INDEX 0..    the total given: --shard auto/N

GitHub Actions has no such variable: pass the matrix value (``--shard ${{ matrix.shard }}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envctl.errors import UsageError


@dataclass(frozen=True)
class CiSystem:
    name: str
    index: str
    total: str | None  # None: the total is given on the command line
    base: int  # the index of the first job


SYSTEMS = (
    CiSystem("GitLab CI", "CI_NODE_INDEX", "CI_NODE_TOTAL", 1),
    CiSystem("CircleCI", "CIRCLE_NODE_INDEX", "CIRCLE_NODE_TOTAL", 0),
    CiSystem("Buildkite", "BUILDKITE_PARALLEL_JOB", "BUILDKITE_PARALLEL_JOB_COUNT", 0),
    CiSystem("a Kubernetes Indexed Job", "JOB_COMPLETION_INDEX", None, 0),
)
HINT = ("set it from your CI system's parallel jobs: GitLab `parallel:`, CircleCI `parallelism:`, "
        "Buildkite `parallelism:`, a Kubernetes Indexed Job with --shard auto/N; or pass K/N")


def resolve_shard(value: str, environ: Mapping[str, str]) -> str:
    """``value`` as K/N: unchanged unless it is ``auto`` or ``auto/N``."""
    if value != "auto" and not value.startswith("auto/"):
        return value
    given = value.partition("/")[2]
    if given and not (given.isdigit() and int(given) >= 1):
        raise UsageError(f"--shard {value!r}: the total after auto/ must be a number >= 1")
    for system in SYSTEMS:
        raw_index = environ.get(system.index, "").strip()
        if not raw_index:
            continue
        raw_total = environ.get(system.total, "").strip() if system.total else given
        if not raw_total and given:
            raw_total = given
        if not raw_index.isdigit() or not raw_total.isdigit():
            what = f"{system.index}={raw_index!r}"
            if system.total:
                what += f", {system.total}={raw_total!r}"
            raise UsageError(f"--shard auto: {system.name} says {what}, which is not a shard",
                             hint="with a Kubernetes Indexed Job, give the total: --shard auto/N"
                             if system.total is None else HINT)
        if given and system.total and raw_total != given:
            raise UsageError(f"--shard {value}: {system.name} says the total is {raw_total} ({system.total})",
                             hint="use --shard auto, or make the two agree")
        k, n = int(raw_index) - system.base + 1, int(raw_total)
        if not 1 <= k <= n:
            raise UsageError(f"--shard auto: {system.name}'s job {raw_index} is outside 1..{n} "
                             f"({system.index} counts from {system.base})")
        return f"{k}/{n}"
    raise UsageError("--shard auto: no CI parallel-job variables are set "
                     f"({', '.join(s.index for s in SYSTEMS)})", hint=HINT)


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/5"`` -> (2, 5); ValueError for anything else.

    The host's copy of the plugin's rule (envctl/pytest_plugin/envctl_shards.py): the plugin is
    mounted into the container and imports only the standard library, and the host imports
    nothing of the plugin, so each side spells it once (tests/unit/test_ci_shard.py checks that
    both agree)."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a shard; use K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise ValueError(f"{text!r}: K must be between 1 and N")
    return k, n
