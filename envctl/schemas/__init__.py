"""The JSON Schemas of envctl's machine-readable answers (`--json`, the MCP tools), one file
per answer, named by the ``schema`` field the answer carries (``envctl/<name>/1``)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def names() -> list[str]:
    return sorted(path.stem for path in HERE.glob("*.json"))


@cache
def load(name: str) -> dict[str, Any]:
    """The schema ``name`` (e.g. "status"); ValueError for a name envctl does not have."""
    if name not in names():
        raise ValueError(f"no schema {name!r}; there are: {', '.join(names())}")
    data: dict[str, Any] = json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))
    return data
