"""GitHub Actions output: workflow-command escaping, annotations, and the job summary."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

from envctl.report.failures import Failure

MAX_ANNOTATIONS = 10
SUMMARY_CAP = 1 << 20  # GitHub refuses a step summary over 1 MiB


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (file=, title=, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation_lines(failures: list[Failure], total: int,
                     repo_path: Callable[[str], str] = str) -> Iterator[str]:
    """One ``::error`` per failed test, at most MAX_ANNOTATIONS (GitHub's budget per step), then
    one ``::notice`` for the rest.
    ``repo_path`` maps a test file as pytest names it to the repository's path for it."""
    for failure in failures[:MAX_ANNOTATIONS]:
        props = []
        if failure.file:
            props.append(f"file={escape_property(repo_path(failure.file))}")
            if failure.line:
                props.append(f"line={failure.line}")
        props.append(f"title={escape_property(f'{failure.outcome}: {failure.nodeid}')}")
        message = failure.message.strip() or failure.outcome
        yield f"::error {','.join(props)}::{escape_data(message[:4000])}"
    if total > MAX_ANNOTATIONS:
        # GitHub keeps 10 error annotations a step and drops the rest: the count of the others
        # goes out as a notice, which has a budget of its own.
        rest = total - MAX_ANNOTATIONS
        yield (f"::notice title={escape_property('more failures')}::"
               f"{escape_data(f'{rest} more failed tests; see the job summary and the run log')}")


def flaky_lines(flaky: list[Failure], total: int, repo_path: Callable[[str], str] = str) -> Iterator[str]:
    """One ``::warning`` per flaky test (a budget of its own: 10 a step), then a ``::notice``
    for the rest. A flaky test passed: it is a warning, never an error."""
    for test in flaky[:MAX_ANNOTATIONS]:
        props = [f"file={escape_property(repo_path(test.file))}"] if test.file else []
        props.append(f"title={escape_property(f'flaky: {test.nodeid}')}")
        yield f"::warning {','.join(props)}::{escape_data(f'{test.nodeid} passed after a rerun')}"
    if total > MAX_ANNOTATIONS:
        rest = total - MAX_ANNOTATIONS
        yield (f"::notice title={escape_property('more flaky tests')}::"
               f"{escape_data(f'{rest} more flaky tests; see the job summary')}")


def memory_lines(warnings: list[str]) -> Iterator[str]:
    """One ``::warning`` per container whose memory peaked at 80% of its limit or more (a warning:
    the run goes on, and an OOM kill would be an error of its own)."""
    for text in warnings[:MAX_ANNOTATIONS]:
        yield f"::warning title={escape_property('envctl: memory near its limit')}::{escape_data(text)}"


def stop_commands_token() -> str:
    return f"envctl-{secrets.token_hex(8)}"


def fold(title: str, lines: Iterator[bytes], out: object) -> None:
    """Write ``lines`` in a collapsed group, with workflow commands switched off inside it, so
    nothing a test prints (``::error::``, ``::add-mask::``) is acted on."""
    write = out.write  # type: ignore[attr-defined]
    token = stop_commands_token()
    write(f"::group::{escape_data(title)}\n::stop-commands::{token}\n".encode())
    for chunk in lines:
        write(chunk)
    write(f"\n::{token}::\n::endgroup::\n".encode())


def failed_service_lines(failures: list[tuple[str, str]], message: str) -> Iterator[str]:
    """One ``::error`` per service that did not come up (or one for the whole start)."""
    if not failures:
        yield f"::error title={escape_property('envctl up failed')}::{escape_data(message[:4000])}"
    for service, cause in failures[:MAX_ANNOTATIONS]:
        yield (f"::error title={escape_property(f'envctl up: service {service} failed')}::"
               f"{escape_data(cause[:4000])}")


def write_summary(path: Path, markdown: str) -> None:
    """Append ``markdown`` to the step summary file, trimmed under the 1 MiB cap with a note."""
    data = markdown.encode("utf-8")
    if len(data) > SUMMARY_CAP:
        note = "\n\n> envctl: the summary was cut to stay under GitHub's 1 MiB limit; see the run log.\n"
        keep = SUMMARY_CAP - len(note.encode()) - 1024
        data = data[:keep].decode("utf-8", errors="ignore").rsplit("\n", 1)[0].encode() + note.encode()
    with path.open("ab") as handle:
        handle.write(data)
