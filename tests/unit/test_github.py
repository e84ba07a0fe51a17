"""GitHub output: escaping, at most ten annotations, folded logs, a capped job summary."""

import io
from pathlib import Path

from envctl.report.failures import Failure
from envctl.report.github import (
    SUMMARY_CAP,
    annotation_lines,
    escape_data,
    escape_property,
    flaky_lines,
    fold,
    memory_lines,
    write_summary,
)


def test_escaping_follows_the_workflow_command_rules() -> None:
    """%, CR and LF in data; also : and , in properties."""
    assert escape_data("100%\r\nnext") == "100%25%0D%0Anext"
    assert escape_property("a:b,c\n") == "a%3Ab%2Cc%0A"


def failure(i: int) -> Failure:
    return Failure(f"tests/test_x.py::test_{i}", "failed", f"assert {i} == 0\nmore",
                   "tests/test_x.py", 10 + i)


def test_eleven_failures_give_ten_annotations_and_one_more() -> None:
    """At most ten ::error lines (GitHub drops an eleventh), then a notice that counts the rest."""
    lines = list(annotation_lines([failure(i) for i in range(11)], 11))
    assert len(lines) == 11
    assert lines[0] == ("::error file=tests/test_x.py,line=10,title=failed%3A tests/test_x.py%3A%3Atest_0"
                        "::assert 0 == 0%0Amore")
    assert sum(line.startswith("::error ") for line in lines) == 10
    assert lines[-1].startswith("::notice title=more failures::1 more failed tests")


def test_a_message_cannot_inject_a_command() -> None:
    """A failure message with a newline and ::add-mask:: stays one escaped line."""
    hostile = Failure("t.py::x", "failed", "boom\n::add-mask::secret", "t.py", None)
    [line] = list(annotation_lines([hostile], 1))
    assert "\n" not in line
    assert "%0A::add-mask::secret" in line


def test_fold_switches_workflow_commands_off_inside() -> None:
    """The log sits between ::stop-commands::TOKEN and ::TOKEN::, inside a group."""
    out = io.BytesIO()
    fold("log", iter([b"::error::fake\n", b"::add-mask::x"]), out)
    text = out.getvalue().decode()
    lines = text.splitlines()
    assert lines[0] == "::group::log"
    token = lines[1].removeprefix("::stop-commands::")
    assert len(token) > 10
    assert lines.index("::error::fake") > 1
    assert f"::{token}::" in lines
    assert lines[-1] == "::endgroup::"


def test_summary_is_capped_with_a_note(tmp_path: Path) -> None:
    """A summary over 1 MiB is cut at a line end, with a note saying so."""
    path = tmp_path / "summary.md"
    write_summary(path, "".join(f"- failure {i} {'x' * 100}\n" for i in range(20000)))
    data = path.read_bytes()
    assert len(data) <= SUMMARY_CAP
    assert data.endswith(b"see the run log.\n")


def test_a_failed_up_is_an_error_per_service() -> None:
    """Each failed service is one ::error naming it and its cause; a failure with no service
    (a port in use, a build) is one ::error with the message."""
    from envctl.report.github import failed_service_lines  # noqa: PLC0415

    lines = list(failed_service_lines([("db", "unhealthy: exit 1\npg not ready")], "unused"))
    assert lines == ["::error title=envctl up%3A service db failed::unhealthy: exit 1%0Apg not ready"]
    assert list(failed_service_lines([], "a host port is already in use")) == [
        "::error title=envctl up failed::a host port is already in use"]


def test_annotations_carry_repository_paths() -> None:
    """The file of an annotation is what the mapper makes of pytest's path."""
    from envctl.report.failures import Failure  # noqa: PLC0415
    from envctl.report.github import annotation_lines  # noqa: PLC0415

    failure = Failure("tests/test_a.py::test_x", "failed", "boom", "tests/test_a.py", 3)
    (line,) = annotation_lines([failure], 1, lambda f: f"smoke/{f}")
    assert line.startswith("::error file=smoke/tests/test_a.py,line=3,")


def test_flaky_tests_are_warnings_within_their_own_budget() -> None:
    """Flaky tests passed: ten ``::warning`` lines (GitHub's per-step budget), then a notice."""
    flaky = [Failure(f"t.py::test_{i}", "flaky", "passed after a rerun", "t.py", None) for i in range(12)]
    lines = list(flaky_lines(flaky, 12, lambda path: f"repo/{path}"))
    assert lines[0] == ("::warning file=repo/t.py,title=flaky%3A t.py%3A%3Atest_0::"
                        "t.py::test_0 passed after a rerun")
    assert [line.split(" ", 1)[0] for line in lines] == ["::warning"] * 10 + ["::notice"]
    assert lines[-1].endswith("::2 more flaky tests; see the job summary")


def test_a_memory_peak_near_its_limit_is_a_warning_annotation() -> None:
    """One ::warning per container near its limit, escaped, at most ten."""
    text = "the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit\n"
    lines = list(memory_lines([text] * 12))
    assert len(lines) == 10
    assert lines[0] == ("::warning title=envctl%3A memory near its limit::the test container's memory "
                        "peaked at 900 MiB, 90%25 of its 1000 MiB limit%0A")
    assert list(memory_lines([])) == []
