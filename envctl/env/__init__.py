"""Bringing a compose environment up and judging it: naming, start/stop, readiness, diagnosis."""
