"""Deterministic test sharding (stdlib only: used by envctl and, in the container, by the plugin).

Given the same collected node ids, the same durations and the same N, every runner computes the
same split, so N CI runners can each run one shard and together run every test exactly once.
With recorded durations the split balances time (longest first onto the least loaded shard);
without them it balances test counts, keeping each file on one shard when there are at least as
many files as shards (and splitting by test when there are fewer).

But CI runners restore the durations each on its own: ``split_properties`` names what a split was
computed from, for the shard's JUnit report, so ``report merge`` can tell shards that split
differently (envctl/report/splits.py spells the same names on the host).
"""

from __future__ import annotations

import hashlib
import json
import statistics


def split(nodeids: list[str], shards: int, durations: dict[str, float] | None = None) -> list[list[str]]:
    """``shards`` lists of node ids (some may be empty), covering ``nodeids`` exactly once."""
    if shards < 1:
        raise ValueError("the number of shards must be at least 1")
    known = [durations[n] for n in nodeids if durations and n in durations]
    units: list[tuple[float, str, list[str]]]
    if known:
        default = statistics.median(known)
        units = [(float(durations.get(n, default)) if durations else default, n, [n]) for n in nodeids]
    else:
        files: dict[str, list[str]] = {}
        for nodeid in nodeids:
            files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
        if len(files) >= shards:
            units = [(float(len(members)), name, members) for name, members in files.items()]
        else:
            units = [(1.0, n, [n]) for n in nodeids]
    units.sort(key=lambda unit: (-unit[0], unit[1]))
    loads = [0.0] * shards
    result: list[list[str]] = [[] for _ in range(shards)]
    for weight, _name, members in units:
        target = min(range(shards), key=lambda i: (loads[i], i))
        loads[target] += weight
        result[target].extend(members)
    order = {nodeid: i for i, nodeid in enumerate(nodeids)}
    return [sorted(shard, key=order.__getitem__) for shard in result]


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/5"`` -> (2, 5); ValueError for anything else."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise ValueError(f"{text!r} is not a shard; use K/N, e.g. 2/4") from None
    if not 1 <= k <= n:
        raise ValueError(f"{text!r}: K must be between 1 and N")
    return k, n


SHARD = "envctl.shard"
DURATIONS = "envctl.split.durations"
TESTS = "envctl.split.tests"
SHARD_TESTS = "envctl.shard.tests"


def split_properties(nodeids: list[str], k: int, shards: int,
                     durations: dict[str, float] | None = None) -> dict[str, str]:
    """Shard ``k``'s JUnit suite properties: which shard it is and short checksums (sha256) of
    the split's inputs (the durations of the tests split, with N; the node ids split). Two
    shards of one split have the same checksums. (The plugin adds SHARD_TESTS, how many tests
    the shard was to run, once every plugin has selected.)"""
    ids = sorted(set(nodeids))
    used = {nodeid: durations[nodeid] for nodeid in ids if durations and nodeid in durations}
    return {SHARD: f"{k}/{shards}",
            DURATIONS: _digest({"shards": shards, "durations": used}),
            TESTS: _digest(ids)}


def _digest(value: object) -> str:
    """sha256 of ``value`` as canonical JSON (sorted keys, no spaces), its first 16 hex digits."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
