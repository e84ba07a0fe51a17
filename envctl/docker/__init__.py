"""The only package that imports ``docker`` or ``python_on_whales``.

Everything above it talks in envctl's own types (``models``) and errors (``envctl.errors``).
Heavy imports happen inside functions so the CLI starts fast. Split by noun: ``engine`` is the
handle callers are given (one connection under one deadline from ``timeouts``); the work is in
``containers``, ``output``, ``images``, ``events`` and ``resources``; ``compose`` runs the
compose CLI; ``labels`` is the only place a label or role is spelled.
"""
