"""The CLI's own checks, made before any work: conflicting options are usage errors (exit 10)."""

from __future__ import annotations

import pytest

from envctl.cli import main


def test_report_json_and_another_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`report --json --format csv` asks for two formats: exit 10, saying so."""
    assert main(["report", "--json", "--format", "csv"]) == 10
    assert "--json and --format csv ask for two formats" in capsys.readouterr().err


def test_an_unknown_report_format_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """`report --format yaml`: exit 10, naming the formats there are."""
    assert main(["report", "--format", "yaml"]) == 10
    assert "expected one of md, json, csv, junit" in capsys.readouterr().err
