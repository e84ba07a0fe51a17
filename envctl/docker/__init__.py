"""The only package that imports ``docker`` or ``python_on_whales``.

Everything above it talks in envctl's own types (``models``) and errors (``envctl.errors``).
Heavy imports happen inside functions so the CLI starts fast.
"""
