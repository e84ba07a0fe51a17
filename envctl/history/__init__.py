"""A compact history of every test across runs (``envctl.history.store``) and what it says of
one run (``envctl.history.verdict``)."""

from envctl.history.store import (
    HISTORY_FILE,
    OUTCOME_LETTERS,
    History,
    HistoryRun,
    Outcome,
    command_key,
    load,
    record,
    views,
)
from envctl.history.verdict import FLAKY, NEW, OLD, Verdict, code_key, verdict

__all__ = ["FLAKY", "HISTORY_FILE", "NEW", "OLD", "OUTCOME_LETTERS", "History", "HistoryRun", "Outcome",
           "Verdict", "code_key", "command_key", "load", "record", "verdict", "views"]
