"""Human output: tables and summaries on stdout, with Rich (imported only when rendering)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envctl.units import format_duration, format_size

if TYPE_CHECKING:
    from envctl.doctor import Check
    from envctl.settings import Settings


def console(stderr: bool = False) -> Any:
    import sys  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415  # lazy: rich is only needed to render

    stream = sys.stderr if stderr else sys.stdout
    # Piped output (an agent, CI, `| less`) gets a wide table rather than Rich's 80 columns,
    # so run ids and paths are not cut.
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


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
    if name == "wait" and isinstance(value, tuple):
        return "; ".join(f"{w.service}: {w.describe()}"
                         + (f" within {format_duration(w.timeout)}" if w.timeout else "")
                         for w in value) or "none"
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


# pytest's categories shown only when a run has any (its summary line does the same); flaky
# tests passed after a rerun and are among the passed.
_WHEN_ANY = ("xfailed", "xpassed", "deselected", "flaky")


def count_items(counts: Any) -> list[tuple[str, int]]:
    """A run's numbers in pytest's categories: passed, failed, errors and skipped always, the
    others when there are any."""
    items = [(key, int(getattr(counts, key))) for key in ("passed", "failed", "errors", "skipped")]
    return items + [(key, int(getattr(counts, key, 0))) for key in _WHEN_ANY if getattr(counts, key, 0)]


def status_text(status: Any) -> str:
    record = status.record
    progress = status.progress
    counts = progress.counts
    elapsed = format_duration(status.elapsed) if status.elapsed is not None else "-"
    total = counts.total if counts.total is not None else "?"
    pct = f" ({progress.fraction:.0%})" if progress.fraction is not None else ""
    lines = [f"run {record.id}: {record.state.value} after {elapsed}"
             + (f" - {record.message}" if record.message else "")]
    lines.append(f"progress: {counts.done}/{total}{pct}  "
                 + "  ".join(f"{key} {number}" for key, number in count_items(counts)))
    if progress.rate is not None and not record.state.terminal:
        eta = format_duration(progress.eta) if progress.eta is not None else "?"
        lines.append(f"rate: {progress.rate:.1f} tests/s  ETA {eta}")
    if progress.running and len(progress.running) > 1 and not record.state.terminal:
        lines += [f"now: {nodeid}" for nodeid in progress.running]
    elif progress.current and not record.state.terminal:
        lines.append(f"now: {progress.current}")
    if progress.flaky_tests:
        lines.append(f"flaky (passed after a rerun): {', '.join(progress.flaky_tests[:5])}"
                     + (f" and {counts.flaky - 5} more" if counts.flaky > 5 else ""))
    if record.running_test:
        lines.append(f"was running: {record.running_test}")
    lines += [f"environment: {event.describe()}" for event in record.dependency_events]
    overdue = status.overdue
    if overdue is not None:
        lines.append(f"note: {format_duration(overdue)} past its timeout of "
                     f"{format_duration(record.timeout)} and the grace after it; the runner "
                     + ("on this machine" if record.host else "in the container") + " did not stop it: "
                     + ("its collector is stopping it" if status.collector_alive
                        else f"`envctl wait {record.id}` stops it"))
    if status.hook_problem is not None:
        lines.append(f"note: {status.hook_problem}")
    if status.orphaned:
        lines.append(f"note: no envctl process is recording this run (its collector died); "
                     f"`envctl wait {record.id}` takes it over")
    lines += resources_lines(status.log_path.parent)
    limits = record.limits
    lines.append(f"limits: memory {format_size(limits.memory)}, cpus {limits.cpus:g}, pids {limits.pids}"
                 + (f", timeout {format_duration(record.timeout)}" if record.timeout else ""))
    if record.host:
        note = status.limits_note
        lines.append("on this machine: " + (
            "limits not known yet: the tests have not started" if note and note.startswith("not known yet")
            else f"limits NOT applied: {note}" if note else "limits applied (a cgroup of its own)"))
    lines.append(f"logs: `envctl logs {record.id}` (each shard's in turn)" if record.children
                 else f"log: {status.log_path}")
    if status.last_lines:
        lines.append("--- shards ---" if record.children else "--- last output ---")
        lines += status.last_lines
    return "\n".join(lines)


def resources_lines(run_dir: Any) -> list[str]:
    """The run's resource use, each line within 80 columns: the test container's memory, CPU and
    processes, the services' memory, and a warning for each memory peak at 80% of its limit."""
    from envctl.report.usage import services_line, usage_line  # noqa: PLC0415
    from envctl.runs.resource_files import read_resources  # noqa: PLC0415

    found = read_resources(run_dir)
    if found is None:
        return []
    lines = [usage_line(found.test)] if found.test is not None and usage_line(found.test) else []
    if services := services_line(found.services):
        lines.append(services)
    return lines + [f"warning: {text}" for text in found.warnings()]


def final_summary(run_dir: Any, record: Any) -> str:
    counts = record.counts
    duration = format_duration(record.duration) if record.duration else "-"
    numbers = ", ".join(f"{number} {key}" for key, number in count_items(counts))
    text = f"envctl: run {record.id} {record.state.value} in {duration}: {numbers} (exit {record.exit_code})"
    if record.message and record.state.value not in ("passed", "failed"):
        text += f"\nenvctl: {record.message}"
    if record.children:
        return text + f"\nenvctl: logs: `envctl logs {record.id}`; merged JUnit: {run_dir}/junit.xml"
    return text + f"\nenvctl: log: {run_dir}/output.log"


def runs_table(records: list[Any], damaged: list[Any] = ()) -> None:  # type: ignore[assignment]
    """The run history as aligned plain columns. Written by hand, not with Rich: a thousand runs
    render in milliseconds (Rich's table took ~0.5 s), and a pipe gets the same text."""
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    by_id = {record.id: record for record in records}
    shown = []  # each --shards parent followed by its shards, indented
    for record in records:
        if record.parent is None or record.parent not in by_id:
            shown.append((record.id, record))
            shown += [(f"  └ {by_id[c].shard} {c}", by_id[c]) for c in record.children if c in by_id]
    kinds = ("passed", "failed", "errors", "skipped", "xfailed", "xpassed")  # pytest's categories
    rows = [["run", "state", "started", "duration", *kinds, "exit"]]
    for label, record in shown:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.started_at or record.created_at))
        rows.append([label, record.state.value, started,
                     format_duration(record.duration) if record.duration else "-",
                     *(str(getattr(record.counts, kind)) for kind in kinds),
                     str(record.exit_code) if record.state.terminal else "-"])
    rows += [[error.run_id, "damaged", *["-"] * (len(rows[0]) - 2)] for error in damaged]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = set(range(4, len(rows[0])))
    lines = ["  ".join(cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
                       for i, cell in enumerate(row)).rstrip() for row in rows]
    sys.stdout.write("\n".join(lines) + "\n")
    for error in damaged:
        print(f"envctl: {error.message}", file=sys.stderr)


def shorten(text: str, room: int) -> str:
    """``text`` in ``room`` characters, keeping its end (a test's name is at the end of its id)."""
    if room <= 0:
        return ""
    return text if len(text) <= room else "…" + text[-(room - 1):] if room > 1 else "…"


def watch_line(status: Any, width: int, *, bar: bool = True) -> str:
    """The live line of `status --watch` in ``width`` columns: the run, done/total, failures and
    the ETA always show; a bar when there is room; the test running now takes what is left."""
    record = status.record
    progress = status.progress
    counts = progress.counts
    total = counts.total if counts.total is not None else "?"
    pct = f" {progress.fraction:.0%}" if progress.fraction is not None else ""
    eta = format_duration(progress.eta) if progress.eta is not None and not record.state.terminal else "-"
    bad = f" failed {counts.failed}" + (f" errors {counts.errors}" if counts.errors else "")
    fixed = f"{record.id} {record.state.value} {counts.done}/{total}{pct}{bad} ETA {eta}"
    bar_width = min(24, width - len(fixed) - 30)
    if bar and bar_width >= 8:
        filled = round(bar_width * (progress.fraction or 0.0))
        fixed = f"{fixed} {'━' * filled}{'╺' * (bar_width - filled)}"
    current = progress.current if progress.current and not record.state.terminal else ""
    room = width - len(fixed) - 1
    return f"{fixed} {shorten(current, room)}".rstrip() if room >= 8 else fixed[:width]


def watch_run(run: Any, *, interval: float = 0.5, plain_every: float = 5.0) -> None:
    """Progress until the run ends: a live line on a terminal (stderr); on anything else a plain
    line when something changed, at most every ``plain_every`` seconds, with no control codes."""
    import sys  # noqa: PLC0415
    import time  # noqa: PLC0415

    from rich.live import Live  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    out = console(stderr=True)
    live = Live(console=out, refresh_per_second=4, transient=False) if sys.stderr.isatty() else None
    orphaned_since: float | None = None
    printed, printed_at = "", 0.0
    if live is not None:
        live.start()
    try:
        while True:
            status = run.status(lines=0)
            # A reader: it does not take the run over. A run nobody records ends the watch.
            orphaned_since = (orphaned_since or time.monotonic()) if status.orphaned else None
            ended = status.record.state.terminal or (
                orphaned_since is not None and time.monotonic() - orphaned_since > 10)
            if live is not None:
                live.update(Text(watch_line(status, out.width), no_wrap=True, overflow="crop"))
            else:
                line = watch_line(status, 200, bar=False)
                if ended or (line != printed and time.monotonic() - printed_at >= plain_every):
                    print(line, file=sys.stderr, flush=True)
                    printed, printed_at = line, time.monotonic()
            if ended:
                break
            time.sleep(interval)
    finally:
        if live is not None:
            live.stop()


def gc_lines(collected: Any) -> list[str]:
    """What `envctl gc` removed (verbs.gc.Collected), a line each."""
    runs = collected.runs
    lines = [f"envctl: removed {len(runs)} run(s)" + (f": {', '.join(runs)}" if runs else "")]
    lines += [f"envctl: removed isolated project {project}: {objects}"
              for project, objects in collected.projects.items()]
    if collected.cgroups:
        lines.append(f"envctl: removed the cgroups of host run(s) {', '.join(collected.cgroups)}")
    return lines
