"""Test files as the repository names them: a path inside the test container mapped back to the
host through the test service's bind mounts and working directory (so a CI annotation lands on
the pull request's lines)."""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PathMap:
    """How the test container sees the host: its working directory and its bind mounts."""

    working_dir: str | None
    binds: Sequence[tuple[str, str]]  # (host source, container target)
    repository: Path  # what repository paths are relative to (GITHUB_WORKSPACE, or the cwd)

    def repo_path(self, file: str) -> str:
        """``file`` (as pytest names it: relative to its rootdir, usually the working directory)
        relative to the repository; the container's own path when no mount maps it there."""
        inside = file if file.startswith("/") else posixpath.join(self.working_dir or "/", file)
        inside = posixpath.normpath(inside)
        for source, mounted in sorted(self.binds, key=lambda b: len(b[1]), reverse=True):
            target = posixpath.normpath(mounted)
            if inside == target or inside.startswith(target.rstrip("/") + "/"):
                # The mount's source resolved, the rest joined as it is: a test file that is itself
                # a link is named where it sits, not where it points.
                rest = posixpath.relpath(inside, target)
                host = Path(posixpath.normpath(str(Path(source).resolve() / rest)))
                try:
                    return host.relative_to(self.repository.resolve()).as_posix()
                except ValueError:
                    return file  # mounted from outside the repository
        return file
