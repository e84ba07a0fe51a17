"""Human output: tables and summaries on stdout, with Rich (imported only when rendering)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envctl.units import format_duration, format_size

if TYPE_CHECKING:
    from envctl.doctor import Check
    from envctl.settings import Settings


def console(stderr: bool = False) -> Any:
    from rich.console import Console  # noqa: PLC0415  # lazy: rich is only needed to render

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def doctor_table(checks: list[Check]) -> None:
    from rich.table import Table  # noqa: PLC0415

    marks = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    table = Table(title="envctl doctor", show_lines=False)
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    table.add_column("fix", overflow="fold")
    for check in checks:
        table.add_row(check.name, marks[check.status.value], check.detail, check.hint)
    console().print(table)


def setting_value(name: str, value: object) -> str:
    if name in ("memory", "max_log_size") and isinstance(value, int):
        return format_size(value)
    if name in ("health_timeout", "max_age", "run_timeout", "docker_timeout") and isinstance(value, float):
        return "none" if value == 0 else format_duration(value)
    if isinstance(value, tuple):
        return " ".join(value) if name == "test_command" else ", ".join(value) or "(discover)"
    if value is None:
        return "(derived)"
    return str(value)


def settings_table(settings: Settings) -> None:
    from rich.table import Table  # noqa: PLC0415

    from envctl.settings import FIELDS  # noqa: PLC0415

    table = Table(title=f"envctl settings for {settings.project_dir}")
    table.add_column("setting")
    table.add_column("value", overflow="fold")
    table.add_column("source", overflow="fold")
    table.add_column("variable")
    for spec in FIELDS:
        table.add_row(spec.name, setting_value(spec.name, getattr(settings, spec.name)),
                      settings.sources[spec.name], spec.env)
    console().print(table)


class LiveServices:
    """A live per-service table on a TTY (stderr), updated on every state change."""

    def __init__(self, services: list[str]) -> None:
        from rich.live import Live  # noqa: PLC0415

        self.rows: dict[str, tuple[str, str]] = dict.fromkeys(services, ("pending", ""))
        self.live = Live(self._table(), console=console(stderr=True), refresh_per_second=8,
                         transient=False)

    def _table(self) -> Any:
        from rich.table import Table  # noqa: PLC0415

        colors = {"ready": "green", "completed": "green", "failed": "red", "starting": "yellow"}
        table = Table(show_header=True, box=None)
        table.add_column("service")
        table.add_column("phase")
        table.add_column("detail", overflow="fold")
        for service, (phase, detail) in self.rows.items():
            color = colors.get(phase, "white")
            table.add_row(service, f"[{color}]{phase}[/]", detail)
        return table

    def __call__(self, service: str, verdict: Any) -> None:
        self.rows[service] = (verdict.phase.value, verdict.detail)
        self.live.update(self._table())

    def __enter__(self) -> LiveServices:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)


def services_table(rows: list[Any]) -> None:
    from rich.table import Table  # noqa: PLC0415

    table = Table()
    for column in ("service", "container", "status", "health", "phase", "detail"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row.service, row.container, row.status, row.health or "-",
                      row.phase.value, row.detail)
    console().print(table)
