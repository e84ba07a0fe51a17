"""A run's resource use in words: sizes, the status line within 80 columns, the 80% warning, and
figures read back from a file bounded."""

from __future__ import annotations

import pytest

from envctl.report.usage import Growth, Resources, Usage, binary_size, services_line, usage_line, warning

MIB = 1 << 20


@pytest.mark.parametrize(("size", "text"), [
    (0, "0 B"), (900, "900 B"), (1023, "1023 B"), (1024, "1 KiB"), (1536, "1.5 KiB"),
    (412 * MIB, "412 MiB"), (1 << 30, "1 GiB"), (1536 * MIB, "1.5 GiB"), (int(1023.7 * MIB), "1 GiB"),
    (10 * (1 << 30) + 200 * MIB, "10 GiB"), (3 << 60, "3072 PiB"),
])
def test_binary_sizes_have_three_figures_at_most(size: int, text: str) -> None:
    """Binary units, one decimal below ten, none above; never "1024 MiB"."""
    assert binary_size(size) == text


def test_the_status_line_is_the_documented_one() -> None:
    """Memory, peak of the limit and its share, CPU and processes on one line."""
    usage = Usage(memory=412 * MIB, working_set=400 * MIB, peak=498 * MIB, limit=1 << 30, cpu=180.4, pids=37)
    assert usage_line(usage) == "memory 412 MiB (peak 498 MiB of 1 GiB, 49%) cpu 180% pids 37"


def test_the_widest_status_line_fits_80_columns() -> None:
    """Every figure at its widest still reads on an 80-column terminal."""
    usage = Usage(memory=1023 * MIB, peak=1023 * MIB, limit=1023 * MIB, cpu=99_999.0, pids=10**9)
    assert usage_line(usage) == "memory 1023 MiB (peak 1023 MiB of 1023 MiB, 100%) cpu 99999% pids 1000000000"
    assert len(usage_line(usage)) <= 80


def test_a_line_says_only_what_is_known() -> None:
    """No peak, no limit, no CPU yet: those parts are left out, not shown as zero."""
    assert usage_line(Usage(memory=5 * MIB, pids=2)) == "memory 5 MiB pids 2"
    assert usage_line(Usage()) == ""


def test_the_warning_starts_at_80_percent_of_the_limit() -> None:
    """79% says nothing; 80% says who, how much and of what."""
    limit = 1000 * MIB
    assert warning("the test container", Usage(memory=1, peak=790 * MIB, limit=limit)) is None
    assert warning("the test container", Usage(memory=1, peak=800 * MIB, limit=limit)) == \
        "the test container's memory peaked at 800 MiB, 80% of its 1000 MiB limit"
    assert warning("service db", Usage(memory=1, peak=800 * MIB)) is None  # no limit known


def test_resources_warn_for_each_container_near_its_limit() -> None:
    """The test container first, then each service, in name order."""
    near = Usage(memory=1, peak=900 * MIB, limit=1000 * MIB)
    far = Usage(memory=1, peak=100 * MIB, limit=1000 * MIB)
    found = Resources(at=1.0, test=near, services=(("cache", far), ("db", near)), samples=3)
    assert found.warnings() == ["the test container's memory peaked at 900 MiB, 90% of its 1000 MiB limit",
                                "service db's memory peaked at 900 MiB, 90% of its 1000 MiB limit"]


def test_resources_round_trip_through_json() -> None:
    """What the collector writes reads back the same, warnings included for readers."""
    found = Resources(at=1700000000.5, test=Usage(1, 2, 3, 4, 5.5, 6),
                      services=(("db", Usage(memory=7)),), samples=9)
    data = found.to_json()
    assert data["warnings"] == []
    assert Resources.from_json(data) == found


@pytest.mark.parametrize("data", [None, [], "x", 5])
def test_a_file_that_is_no_object_has_no_figures(data: object) -> None:
    """A damaged resources.json is no figures, never a crash."""
    assert Resources.from_json(data) is None


def test_hostile_figures_are_unknown_and_names_cleaned() -> None:
    """Out-of-bounds numbers read as unknown; a service's name keeps printable letters only."""
    data = {"at": float("inf"), "samples": -1, "test": {"memory": -1, "cpu": float("nan"), "pids": True,
                                                         "peak": 10**30, "limit": "1g"},
            "services": {"d\x1b[2Jb": {"memory": 5}, "": {"memory": 1}, "x": "no"}}
    assert Resources.from_json(data) == Resources(at=None, test=Usage(),
                                                  services=(("d2Jb", Usage(memory=5)),), samples=0)


def test_the_services_line_names_the_largest_first_within_its_width() -> None:
    """Largest first, a peak when known, and how many more did not fit."""
    services = [(f"s{i}", Usage(memory=(i + 1) * MIB, peak=(i + 2) * MIB)) for i in range(10)]
    line = services_line(services)
    assert line == "services: s9 10 MiB (peak 11 MiB), s8 9 MiB (peak 10 MiB) and 8 more"
    assert len(line) <= 80
    assert services_line([("db", Usage())]) == ""


def test_growth_is_to_the_new_peak_or_to_the_end() -> None:
    """A test that raised the peak grew to it; one that did not, to its usage at its end."""
    assert Growth("t.py::test_a", 100, 350).to_json() == {"test": "t.py::test_a", "grew": 250, "before": 100,
                                                          "after": 350, "peak": None}
    assert Growth("t.py::test_b", 100, 110, peak=900).grew == 800


def test_a_host_runs_figures_say_they_are_the_tests_on_this_machine() -> None:
    """on_host survives the file; the warning and the report's line name the tests, not a container."""
    from envctl.report.summary import resources_lines  # noqa: PLC0415

    found = Resources(at=1.0, test=Usage(memory=90, peak=90, limit=100), samples=3, on_host=True)
    again = Resources.from_json(found.to_json())
    assert again == found
    assert found.warnings() == ["the tests on this machine's memory peaked at 90 B, 90% of its 100 B limit"]
    assert resources_lines(found.to_json())[2].startswith("- tests on this machine: ")
    assert Resources.from_json({**found.to_json(), "on_host": "yes"}) == Resources(
        at=1.0, test=Usage(memory=90, peak=90, limit=100), samples=3)
