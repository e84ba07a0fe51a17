"""`envctl mcp`: envctl's runs as tools for a coding agent, over the Model Context Protocol (stdio).

The runs belong to the engine and the run directory, not to this server: `start_run` returns as
`test --detach` does, and a server started again later finds every run and its result. Each tool
answers with structured content (the `--json` views, envctl/schemas/) and a one-line summary.
Every Docker call and file read runs in a worker thread, so the event loop keeps answering;
`wait` is bounded by its `seconds` and reports progress while it waits.

The SDK is an optional extra (``pip install 'envctl[mcp]'``), imported only by this command.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envctl.errors import EnvctlError, UsageError

WAIT_DEFAULT = 50.0  # seconds: under the ~60 s at which MCP clients cut a call by default
WAIT_MAX = 600.0
LOGS_DEFAULT_BYTES = 16 * 1024
LOGS_MAX_BYTES = 256 * 1024

INSTRUCTIONS = """\
envctl runs this project's pytest suite inside its Docker Compose environment, in runs that
outlive this conversation. Start a run with start_run (it returns a run_id at once), then call
wait (it returns within `seconds`, 50 by default) until `ended` is true; read failures for a
compact list of what failed, and logs for output. Never run the suite with a bare pytest.
A run id of "latest" means the most recent run."""

# Patterns end with (?![\s\S]) (nothing after), not $: in Python's re, which checks them here,
# $ also matches before a final newline ("latest\n" would pass). It means the same in ECMA-262.
_END = r"(?![\s\S])"
_RUN = {"type": "string", "description": "A run id (or its end, e.g. 9d09), or 'latest'.",
        "default": "latest",
        "pattern": r"^(latest|[0-9]{8}-[0-9]{6}-[0-9a-f]{4}|([0-9]{1,8}-)?([0-9]{1,6}-)?[0-9a-f]{4})" + _END}
_DURATION = {"type": "string", "description": "A duration: 90s, 20m, 1h (at most a year).",
             "pattern": r"^[0-9]{1,7}(\.[0-9]{1,3})?[smhd]?" + _END}
UP_TIMEOUT_MAX = 3600.0  # an `up` call holds the project's start lock: at most an hour


def _input(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    input_schema: dict[str, Any]
    output: str  # the name of its output schema (envctl/schemas/<output>.json)
    read_only: bool = True
    destructive: bool = False


TOOLS = (
    ToolSpec("start_run", "Start a test run in the background (like `envctl test --detach`) and "
             "return its run_id within about a second; the environment is brought up by the run.",
             _input({
                 "pytest_args": {"type": "array", "items": {"type": "string"}, "maxItems": 1000,
                                 "description": "Arguments for pytest, e.g. ['-k', 'smoke', 'tests/api']."},
                 "timeout": {**_DURATION, "description": "Stop the run after this long (e.g. 20m)."},
                 "memory": {"type": "string", "pattern": r"^[0-9.]{1,20}[kKmMgGtT]?[bB]?" + _END,
                            "description": "Memory limit of the test container, e.g. 2g."},
                 "cpus": {"type": "number", "exclusiveMinimum": 0, "maximum": 1024},
                 "pids": {"type": "integer", "minimum": 1, "maximum": 1 << 22},
                 "shard": {"type": "string", "pattern": r"^[0-9]{1,4}/[0-9]{1,4}" + _END,
                           "description": "Run shard K/N."},
                 "shards": {"type": "integer", "minimum": 1, "maximum": 64,
                            "description": "Run N isolated shards at once and merge them."},
                 "no_up": {"type": "boolean", "description": "Do not bring the environment up."},
                 "host": {"type": "boolean", "description": (
                     "Run pytest on this machine (the host_command setting) against the environment, "
                     "with its services' addresses in ENVCTL_<SERVICE>_* variables.")},
             }), "started", read_only=False),
    ToolSpec("status", "Where a run is: state, done/total, counts, rate, ETA, the test running now, "
             "elapsed, limits and its last output lines. Instant; changes nothing.",
             _input({"run_id": _RUN, "lines": {"type": "integer", "minimum": 0, "maximum": 200,
                                               "default": 10}}), "status"),
    ToolSpec("wait", "Wait for a run to end, at most `seconds` (50 by default): returns as soon as it "
             "ends, or at the deadline with its state and progress (`ended` false: call wait again). "
             "Takes over recording a run whose recorder died.",
             _input({"run_id": _RUN, "seconds": {"type": "number", "minimum": 0, "maximum": WAIT_MAX,
                                                 "default": WAIT_DEFAULT}}), "wait", read_only=False),
    ToolSpec("failures", "The failed and errored tests of a run, compact: node id, file:line, message, "
             "the last lines of each traceback, and its history: new since the last run of the same "
             "command, old (failed then too) or flaky (failed and passed at the same code) "
             "(20 tests within 16 KB by default).",
             _input({"run_id": _RUN, "limit": {"type": "integer", "minimum": 0, "maximum": 100_000},
                     "tail": {"type": "integer", "minimum": 0, "maximum": 12, "default": 6}}), "failures"),
    ToolSpec("logs", "A piece of a run's output: the last `tail` lines (default 50), or the bytes "
             "from `offset` (give the previous answer's `end` to read on).",
             _input({"run_id": _RUN, "tail": {"type": "integer", "minimum": 0, "maximum": 5000},
                     "offset": {"type": "integer", "minimum": 0},
                     "max_bytes": {"type": "integer", "minimum": 1024, "maximum": LOGS_MAX_BYTES,
                                   "default": LOGS_DEFAULT_BYTES}}), "logs"),
    ToolSpec("rerun_failed", "Start a run of exactly the failed and errored tests of a run "
             "(returns its run_id at once).",
             _input({"run_id": _RUN, "pytest_args": {"type": "array", "items": {"type": "string"},
                                                     "maxItems": 1000},
                     "no_up": {"type": "boolean"}}), "started", read_only=False),
    ToolSpec("stop", "Cancel a run: interrupt, then terminate, then kill its container.",
             _input({"run_id": {k: v for k, v in _RUN.items() if k != "default"}}, ("run_id",)), "run",
                    read_only=False,
             destructive=True),
    ToolSpec("runs", "The recent runs: id, state, counts, exit code, duration (newest last).",
             _input({"limit": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 20}}), "runs"),
    ToolSpec("up", "Bring the compose services up and wait until every one is ready (or say which "
             "failed and why).",
             _input({"services": {"type": "array", "items": {"type": "string"}, "maxItems": 200},
                     "timeout": {**_DURATION, "description": "How long to wait for readiness (at "
                                                             "most 1h; default: health_timeout)."}}),
             "services", read_only=False),
    ToolSpec("down", "Remove the project's containers and networks (volumes too with volumes=true).",
             _input({"volumes": {"type": "boolean"}}), "down", read_only=False, destructive=True),
    ToolSpec("ps", "The project's services, their state and health.", _input({}), "services"),
    ToolSpec("env", "How this machine reaches each running service: host and published port per "
             "container port, a URL for ports that answer HTTP, and the ENVCTL_* variables.",
             _input({"probe": {"type": "boolean", "default": True,
                               "description": "Try each TCP port with an HTTP GET (0.5 s) for its URL."}}),
             "env"),
)
SPECS = {spec.name: spec for spec in TOOLS}


@dataclass
class Answer:
    """A tool's answer: the structured value, and one line for a person or a model."""

    data: dict[str, Any]
    summary: str


class Tools:
    """The tools' work, synchronous (run in worker threads), for one project directory."""

    def __init__(self, project_dir: Path | None,
                 report: Callable[[float, float | None, str], None] | None = None,
                 wait_with: Mapping[str, Any] | None = None) -> None:
        self.project_dir = project_dir
        self.report = report or (lambda _done, _total, _message: None)
        self.wait_with = dict(wait_with or {})  # verbs.wait.wait_at_most's wait_for and clock (tests)
        # Set when the client cancels the call: the work under way stops at its next look (an
        # `up` gives the project's start lock back instead of holding it to its deadline).
        self.cancel = threading.Event()

    def settings(self, **flags: object) -> Any:
        from envctl.settings import load_settings  # noqa: PLC0415

        return load_settings(self.project_dir, flags={k: v for k, v in flags.items() if v is not None})

    def run(self, run_id: str) -> Any:
        from envctl.verbs.runs import open_run  # noqa: PLC0415

        return open_run(self.settings(), run_id)

    def start_run(self, args: Mapping[str, Any]) -> Answer:
        from envctl.verbs.test import TestOptions  # noqa: PLC0415

        cpus, pids = args.get("cpus"), args.get("pids")
        settings = self.settings(run_timeout=args.get("timeout"), memory=args.get("memory"),
                                 cpus=None if cpus is None else str(cpus),
                                 pids=None if pids is None else str(pids))
        shards = args.get("shards")
        return self._start(settings, TestOptions(
            pytest_args=tuple(args.get("pytest_args") or ()), detach=True, no_up=bool(args.get("no_up")),
            shard=args.get("shard"), shards=None if shards is None else int(shards),
            host=bool(args.get("host"))))

    def rerun_failed(self, args: Mapping[str, Any]) -> Answer:
        from envctl.verbs.test import TestOptions  # noqa: PLC0415

        return self._start(self.settings(), TestOptions(
            pytest_args=tuple(args.get("pytest_args") or ()), detach=True, no_up=bool(args.get("no_up")),
            rerun_failed=args.get("run_id", "latest")))

    def _start(self, settings: Any, options: Any) -> Answer:
        from envctl.ui.views import started_view  # noqa: PLC0415
        from envctl.verbs.test import start_in_background  # noqa: PLC0415

        started = start_in_background(settings, options)
        view = started_view(started.run_dir, started.record, rerun=started.rerun)
        notes = "; ".join(started.notes)
        return Answer(view, f"run {started.record.id} started" + (f" ({notes})" if notes else "")
                      + f"; call wait(run_id={started.record.id!r}) until it has ended")

    def status(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import progress_line, status_view  # noqa: PLC0415
        from envctl.verbs import runs  # noqa: PLC0415

        status = runs.status(self.settings(), args.get("run_id", "latest"), lines=int(args.get("lines", 10)))
        return Answer(status_view(status), progress_line(status))

    def wait(self, args: Mapping[str, Any]) -> Answer:
        """A wait bounded by ``seconds`` (verbs/wait.py), reporting the seconds waited out of
        ``seconds`` (MCP progress must increase) with the run's own progress as the message."""
        from envctl.ui.views import progress_line, wait_view  # noqa: PLC0415
        from envctl.verbs.wait import wait_at_most  # noqa: PLC0415

        seconds = float(args.get("seconds", WAIT_DEFAULT))
        waited = wait_at_most(self.run(args.get("run_id", "latest")), seconds,
                              on_progress=lambda at, status: self.report(at, seconds, progress_line(status)),
                              **self.wait_with)
        return Answer(wait_view(waited.status, waited=waited.waited), progress_line(waited.status))

    def failures(self, args: Mapping[str, Any]) -> Answer:
        from envctl.history.verdict import MARK_WORDS  # noqa: PLC0415
        from envctl.verbs import runs  # noqa: PLC0415

        limit = None if args.get("limit") is None else int(args["limit"])
        view = runs.failures(self.settings(), args.get("run_id", "latest"), limit=limit,
                             tail=int(args.get("tail", 6)))
        names = ", ".join(item["test"] + (f" ({MARK_WORDS[item['history']]})" if item["history"] else "")
                          for item in view["failures"][:3])
        more = f" and {view['total'] - 3} more" if view["total"] > 3 else ""
        return Answer(view, f"run {view['run']} ({view['state']}): {view['total']} failed"
                      + (f": {names}{more}" if names else ""))

    def logs(self, args: Mapping[str, Any]) -> Answer:
        from envctl.verbs.logs import MCP, LogsOptions, piece  # noqa: PLC0415

        offset, tail = args.get("offset"), args.get("tail")
        view = piece(self.run(args.get("run_id", "latest")), LogsOptions(
            as_json=True, offset=None if offset is None else int(offset),
            tail=None if tail is None else int(tail),
            max_bytes=int(args.get("max_bytes", LOGS_DEFAULT_BYTES))), MCP)
        where = f"bytes {view['start']}-{view['end']}" if view["start"] is not None else "last lines"
        return Answer(view, f"run {view['run']} ({view['state']}): {where} of {view['size']}")

    def stop(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import run_view  # noqa: PLC0415
        from envctl.verbs import runs  # noqa: PLC0415

        record = runs.stop(self.settings(), args.get("run_id", "latest"))
        return Answer(run_view(record), f"run {record.id}: {record.state.value}"
                      + ("" if record.state.terminal else " (stop requested; it ends cancelled)"))

    def runs(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import runs_view  # noqa: PLC0415
        from envctl.verbs.runs import history  # noqa: PLC0415

        found = history(self.settings(), limit=int(args.get("limit", 20)))
        last = found.records[-1] if found.records else None
        return Answer(runs_view(found.records, found.damaged), f"{len(found.records)} run(s)"
                      + (f"; latest {last.id} {last.state.value}" if last else ""))

    def up(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import services_view  # noqa: PLC0415
        from envctl.verbs import env as env_verbs  # noqa: PLC0415

        settings = self.settings(health_timeout=args.get("timeout"))
        if settings.health_timeout > UP_TIMEOUT_MAX:
            raise UsageError(f"timeout {args.get('timeout')}: at most 1h for an up call",
                             hint="a longer wait belongs in `envctl up --timeout` in a shell")
        env = env_verbs.environment(settings)
        options = env_verbs.UpOptions(services=tuple(args.get("services") or ()))
        targets = env.targets(list(options.services))
        ready: set[str] = set()
        changes = [0]

        def progress(service: str, verdict: Any) -> None:
            if verdict.phase.value in ("ready", "completed"):
                ready.add(service)
            changes[0] += 1  # increases with each notification, as MCP asks
            self.report(float(changes[0]), None, f"{service}: {verdict.phase.value} "
                                                 f"({len(ready)}/{len(targets)} ready)")

        reports = env_verbs.up(env, options, on_progress=progress, cancelled=self.cancel.is_set)
        return Answer(services_view(env.project, env.ps()), "ready: " + env_verbs.ready_line(reports))

    def down(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import down_view  # noqa: PLC0415
        from envctl.verbs import env as env_verbs  # noqa: PLC0415

        project = env_verbs.down(self.settings(), volumes=bool(args.get("volumes")))
        return Answer(down_view(project, bool(args.get("volumes"))), f"project {project} is down")

    def ps(self, _args: Mapping[str, Any]) -> Answer:
        from envctl.ui.views import services_view  # noqa: PLC0415
        from envctl.verbs import env as env_verbs  # noqa: PLC0415

        found = env_verbs.ps(self.settings())
        return Answer(services_view(found.project, found.rows),
                      ", ".join(f"{r.service} {r.phase.value}" for r in found.rows) or "no services running")

    def env(self, args: Mapping[str, Any]) -> Answer:
        from envctl.ui.endpoints import env_line, env_view  # noqa: PLC0415
        from envctl.verbs import endpoints  # noqa: PLC0415

        found = endpoints.endpoints(self.settings(), probe=bool(args.get("probe", True)))
        return Answer(env_view(found), env_line(found))

    def call(self, name: str, args: Mapping[str, Any]) -> Answer:
        method: Callable[[Mapping[str, Any]], Answer] = getattr(self, name)
        return method(args)


def argument_errors(spec: ToolSpec, arguments: Mapping[str, Any]) -> list[str]:
    """What is wrong with a call's arguments, checked against the tool's input schema."""
    import jsonschema  # noqa: PLC0415  # the MCP SDK's own dependency

    validator = jsonschema.Draft202012Validator(spec.input_schema)
    return [f"{'.'.join(str(p) for p in error.absolute_path) or 'arguments'}: {error.message}"
            for error in validator.iter_errors(dict(arguments))]


def error_text(exc: BaseException) -> str:
    if isinstance(exc, EnvctlError):
        code = int(exc.exit_code)
        return f"error (envctl exit {code}): {exc.message}" + (f"\nhint: {exc.hint}" if exc.hint else "")
    return f"internal error: {type(exc).__name__}: {exc}"


def tool_list() -> list[Any]:
    import mcp_types as types  # noqa: PLC0415

    from envctl.schemas import load  # noqa: PLC0415

    return [types.Tool(name=spec.name, description=spec.description, input_schema=spec.input_schema,
                       output_schema=load(spec.output),
                       annotations=types.ToolAnnotations(read_only_hint=spec.read_only,
                                                         destructive_hint=spec.destructive,
                                                         open_world_hint=False))
            for spec in TOOLS]


def serve(project_dir: Path | None) -> None:
    """Serve the tools over stdio until the client closes the connection."""
    try:
        import anyio  # noqa: PLC0415
        import mcp_types as types  # noqa: PLC0415
        from mcp.server.lowlevel import Server  # noqa: PLC0415
        from mcp.server.stdio import stdio_server  # noqa: PLC0415
    except ImportError as exc:
        raise UsageError(f"`envctl mcp` needs the MCP SDK, which is not installed ({exc.name})",
                         hint="pip install 'envctl[mcp]'") from None
    from envctl import __version__, log  # noqa: PLC0415

    log.configure(log_format="console", verbosity=-1)  # stdout is the protocol's: logs go to stderr
    tools = tool_list()

    async def list_tools(_ctx: Any, _params: Any) -> Any:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> Any:
        spec = SPECS.get(params.name)
        if spec is None:
            return _error(types, f"no tool {params.name!r}; there are: {', '.join(SPECS)}")
        arguments = dict(params.arguments or {})
        errors = argument_errors(spec, arguments)
        if errors:
            return _error(types, "bad arguments: " + "; ".join(errors[:10]))

        def report(done: float, total: float | None, message: str) -> None:
            # Called from the worker thread: the notification is sent on the event loop.
            anyio.from_thread.run(ctx.session.report_progress, done, total, message)

        worker = Tools(project_dir, report)
        try:
            # A call the client cancels leaves its thread to finish on its own (each step is
            # bounded); the server answers the next call at once.
            answer = await anyio.to_thread.run_sync(worker.call, spec.name, arguments,
                                                    abandon_on_cancel=True)
        except anyio.get_cancelled_exc_class():
            worker.cancel.set()  # the abandoned thread stops its work at its next look
            raise
        except Exception as exc:  # any failure is the call's answer, never the server's end
            if not isinstance(exc, EnvctlError | OSError | ValueError):
                import traceback  # noqa: PLC0415

                traceback.print_exc()  # stderr: stdout is the protocol's
            return _error(types, error_text(exc))
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=answer.summary),
                     types.TextContent(type="text", text=json.dumps(answer.data, default=str))],
            structured_content=answer.data)

    server: Any = Server("envctl", version=__version__, instructions=INSTRUCTIONS,
                         on_list_tools=list_tools, on_call_tool=call_tool)

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)


def _error(types: Any, text: str) -> Any:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


