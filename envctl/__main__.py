"""``python -m envctl``."""

from envctl.cli import main

raise SystemExit(main())
