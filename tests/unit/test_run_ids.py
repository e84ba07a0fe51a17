"""Run ids sort by time and are validated before any path is built from them."""

import pytest

from envctl.errors import UsageError
from envctl.runs.ids import RUN_ID_PATTERN, new_run_id, validate_run_id


def test_new_ids_are_well_formed_and_sortable() -> None:
    """ids look like 20260807-143022-ab12 and sort in creation order."""
    first = new_run_id(1_700_000_000)
    second = new_run_id(1_700_000_001)
    assert RUN_ID_PATTERN.match(first)
    assert first[:15] == "20231114-221320"
    assert sorted([second, first]) == [first, second]


@pytest.mark.parametrize("bad", ["../../etc", "20260807-143022-ab12/..", "", "x", "20260807-143022-AB12",
                                 "20260807-143022-ab12\n", "/abs/path",
                                 "\u0662\u0660\u0662\u0666\u0660\u0668\u0660\u0667-143022-ab12"])
def test_hostile_ids_are_refused(bad: str) -> None:
    """Path tricks never reach the filesystem."""
    with pytest.raises(UsageError):
        validate_run_id(bad)


def test_latest_is_accepted() -> None:
    """'latest' names the newest run."""
    assert validate_run_id("latest") == "latest"


def test_a_long_bad_id_is_quoted_short() -> None:
    """A 300-character id is cut in the message, which stays one readable line."""
    with pytest.raises(UsageError) as raised:
        validate_run_id("a" * 300)
    assert raised.value.message == f"{'a' * 60!r}... (300 characters) is not a run id"


def test_the_end_of_an_id_names_the_one_run_it_ends() -> None:
    """`9d09` (or `050202-9d09`) is the run whose id ends so; two such runs are a usage error."""
    from envctl.runs.ids import complete_run_id  # noqa: PLC0415

    ids = ["20261123-050202-9d09", "20261123-060000-ab12", "20261124-070000-cd34", "20261125-070000-cd34"]
    assert validate_run_id("9d09", suffix=True) == "9d09"
    assert complete_run_id("9d09", ids) == "20261123-050202-9d09"
    assert complete_run_id("050202-9d09", ids) == "20261123-050202-9d09"
    assert complete_run_id("ffff", ids) == "ffff"  # none: the store says there is no such run
    with pytest.raises(UsageError, match="'cd34' names 2 runs"):
        complete_run_id("cd34", ids)
    with pytest.raises(UsageError):
        validate_run_id("9d09")  # where a whole id is needed (a new run's), an end is not one
    with pytest.raises(UsageError):
        validate_run_id("../9d09", suffix=True)
