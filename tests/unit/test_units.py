"""Human units: sizes and durations parse and format as documented."""

import pytest

from envctl.units import format_duration, format_size, parse_duration, parse_size


@pytest.mark.parametrize(("text", "expected"), [
    ("512m", 512 << 20), ("2g", 2 << 30), ("2G", 2 << 30), ("1.5g", 3 << 29), ("100", 100),
    ("10k", 10240), ("1GiB", 1 << 30), ("64mb", 64 << 20), (4096, 4096),
])
def test_parse_size(text: object, expected: int) -> None:
    """Binary units, as Docker reads them."""
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["2gg", "", "g", "-1m", "1.2.3m", True, 1.5, None, -1,
                                  "9" * 400, 10 ** 400, "2000000t"])
def test_parse_size_rejects(text: object) -> None:
    """Anything else is a ValueError with a reason."""
    with pytest.raises(ValueError):  # the message is checked in test_settings
        parse_size(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("90", 90), ("90s", 90), ("2m", 120), ("2m30s", 150), ("1h", 3600), ("14d", 14 * 86400),
    ("500ms", 0.5), (5, 5), (2.5, 2.5), ("1w", 604800),
])
def test_parse_duration(text: object, expected: float) -> None:
    """Seconds from numbers and unit strings."""
    assert parse_duration(text) == pytest.approx(expected)


@pytest.mark.parametrize("text", ["soon", "", "5x", "2m30", -1, "1h-2m", False])
def test_parse_duration_rejects(text: object) -> None:
    """Unknown units, unit-less tails and negatives are refused."""
    with pytest.raises(ValueError):
        parse_duration(text)


def test_formatting_round_trips_the_common_cases() -> None:
    """What envctl prints is what a user would type back."""
    assert format_size(2 << 30) == "2g"
    assert format_size(1536) == "1.5k"
    assert format_size(10) == "10b"
    assert format_duration(5.25) == "5.2s"
    assert format_duration(185) == "3m05s"
    assert format_duration(3720) == "1h02m"
    assert format_duration(3 * 86400) == "3d00h"
