"""A compact history of every test across runs (see ``envctl.history.store``)."""

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

__all__ = ["HISTORY_FILE", "OUTCOME_LETTERS", "History", "HistoryRun", "Outcome", "command_key", "load",
           "record", "views"]
