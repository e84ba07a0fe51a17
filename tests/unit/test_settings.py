"""Settings: precedence of the five layers, and a clear error for every bad input."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from envctl import setting_values
from envctl.errors import ConfigError, ExitCode, UsageError
from envctl.settings import FIELDS, ServiceWait, Settings, load_settings, normalize_project_name


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    """With no file, variable or flag, every field has its documented default."""
    settings = load_settings(tmp_path, environ={})
    assert settings.test_service == "test"
    assert settings.test_command == ("pytest",)
    assert settings.memory == 2 << 30
    assert settings.cpus == 2.0
    assert settings.pids == 1024
    assert settings.compose_files == ()
    assert set(settings.sources.values()) == {"default"}


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    """defaults < pyproject [tool.envctl] < envctl.toml < ENVCTL_* < flags, field by field."""
    write(tmp_path / "pyproject.toml",
          '[tool.envctl]\nmemory = "1g"\ncpus = 1\npids = 100\nkeep_runs = 5\n')
    write(tmp_path / "envctl.toml", 'cpus = 1.5\npids = 200\nkeep_runs = 6\n')
    environ = {"ENVCTL_PIDS": "300", "ENVCTL_KEEP_RUNS": "7"}
    settings = load_settings(tmp_path, environ=environ, flags={"keep_runs": 8})
    assert settings.memory == 1 << 30
    assert settings.cpus == 1.5
    assert settings.pids == 300
    assert settings.keep_runs == 8
    assert settings.sources["memory"].endswith("pyproject.toml [tool.envctl]")
    assert settings.sources["cpus"].endswith("envctl.toml")
    assert settings.sources["pids"] == "env ENVCTL_PIDS"
    assert settings.sources["keep_runs"] == "flag --keep-runs"
    assert settings.sources["test_service"] == "default"


def test_none_flags_do_not_override(tmp_path: Path) -> None:
    """A flag the user did not give (None) leaves the lower layer in place."""
    settings = load_settings(tmp_path, environ={"ENVCTL_CPUS": "3"}, flags={"cpus": None})
    assert settings.cpus == 3.0


def test_kebab_case_keys_are_accepted(tmp_path: Path) -> None:
    """TOML keys may be written test-service or test_service."""
    write(tmp_path / "envctl.toml", 'test-service = "tests"\n')
    assert load_settings(tmp_path, environ={}).test_service == "tests"


def test_compose_files_from_env_are_colon_separated(tmp_path: Path) -> None:
    """ENVCTL_COMPOSE_FILES separates files with ':' as COMPOSE_FILE does."""
    settings = load_settings(tmp_path, environ={"ENVCTL_COMPOSE_FILES": "a.yaml:b.yaml"})
    assert settings.compose_files == ("a.yaml", "b.yaml")


def test_test_command_is_split_without_a_shell(tmp_path: Path) -> None:
    """A command string becomes an argv list by shell-like splitting, never a shell."""
    command = "python -m pytest -p 'no:cacheprovider'"
    settings = load_settings(tmp_path, environ={"ENVCTL_TEST_COMMAND": command})
    assert settings.test_command == ("python", "-m", "pytest", "-p", "no:cacheprovider")


def test_units_are_parsed(tmp_path: Path) -> None:
    """Sizes and durations accept human units."""
    write(tmp_path / "envctl.toml",
          'memory = "512m"\nhealth_timeout = "2m30s"\nmax_age = "7d"\nmax_log_size = "1g"\n')
    settings = load_settings(tmp_path, environ={})
    assert settings.memory == 512 << 20
    assert settings.health_timeout == 150
    assert settings.max_age == 7 * 86400
    assert settings.max_log_size == 1 << 30


def test_relative_log_dir_is_under_the_project(tmp_path: Path) -> None:
    """A relative log_dir resolves under the project directory."""
    settings = load_settings(tmp_path, environ={"ENVCTL_LOG_DIR": "out/runs"})
    assert settings.resolved_log_dir == tmp_path.resolve() / "out" / "runs"


def test_project_names_are_normalized_as_compose_does() -> None:
    """A folder's name made a project name: lowercase, [a-z0-9_-], starting with one of a-z0-9."""
    assert normalize_project_name("My Project.v2") == "myprojectv2"
    assert normalize_project_name("__") == "envctl"


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Nobody can change resolved settings behind the resolver's back."""
    settings = load_settings(tmp_path, environ={})
    with pytest.raises(AttributeError):
        settings.cpus = 4  # type: ignore[misc]


def test_every_field_has_help_and_a_variable() -> None:
    """Each setting documents itself: a help text and its ENVCTL_ variable."""
    for spec in FIELDS:
        assert spec.help
        assert spec.env == "ENVCTL_" + spec.name.upper()
        assert hasattr(Settings, spec.name)


BAD_TOML = [
    ('memory = "2gg"', "memory", "is not a size"),
    ('memory = "1m"', "memory", "at least 6m"),
    ("health_timeout = -5", "health_timeout", "cannot be negative"),
    ('health_timeout = "soon"', "health_timeout", "not a duration"),
    ("health_timeout = 0", "health_timeout", "more than zero"),
    ("cpus = 0", "cpus", "more than zero"),
    ('cpus = "many"', "cpus", "number of CPUs"),
    ("pids = 0", "pids", "at least 1"),
    ("pids = 1.5", "pids", "whole number"),
    ("keep_runs = true", "keep_runs", "whole number"),
    ('project_name = "Bad Name"', "project_name", "lowercase"),
    ('test_service = "no spaces"', "test_service", "service name"),
    ('test_command = ""', "test_command", "empty"),
    ('test_command = "pytest \'unclosed"', "test_command", "cannot split"),
    ("compose_files = 3", "compose_files", "list of paths"),
    ('log_format = "xml"', "log_format", "one of auto, console, json"),
    ('max_log_size = "big"', "max_log_size", "is not a size"),
    ("on_finish = 3", "on_finish", "as a string or a list"),
    ('on_finish = "notify \'unclosed"', "on_finish", "cannot split"),
    ("on_finish_timeout = 0", "on_finish_timeout", "more than zero"),
]


@pytest.mark.parametrize(("line", "key", "why"), BAD_TOML, ids=[b[0] for b in BAD_TOML])
def test_bad_values_in_envctl_toml_name_the_key_and_the_file(
    tmp_path: Path, line: str, key: str, why: str
) -> None:
    """A bad value is one ConfigError line naming the file, the key and what is wrong."""
    path = write(tmp_path / "envctl.toml", line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, environ={})
    message = str(info.value)
    assert str(path) in message
    assert key in message
    assert why in message
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.CONFIG


def test_unknown_key_in_envctl_toml(tmp_path: Path) -> None:
    """A misspelt key is an error naming it and the file, with the known keys as a hint."""
    write(tmp_path / "envctl.toml", 'memroy = "1g"\n')
    with pytest.raises(ConfigError, match=r"envctl.toml: unknown setting 'memroy'") as info:
        load_settings(tmp_path, environ={})
    assert info.value.hint is not None
    assert "memory" in info.value.hint


def test_unknown_key_in_pyproject(tmp_path: Path) -> None:
    """The same holds for [tool.envctl] in pyproject.toml."""
    write(tmp_path / "pyproject.toml", '[tool.envctl]\nbogus = 1\n')
    with pytest.raises(ConfigError, match=r"pyproject.toml \[tool.envctl\]: unknown setting 'bogus'"):
        load_settings(tmp_path, environ={})


def test_tool_envctl_must_be_a_table(tmp_path: Path) -> None:
    """`[tool] envctl = 3` is reported, not crashed on."""
    write(tmp_path / "pyproject.toml", '[tool]\nenvctl = 3\n')
    with pytest.raises(ConfigError, match="must be a table"):
        load_settings(tmp_path, environ={})


def test_malformed_toml_is_a_config_error(tmp_path: Path) -> None:
    """A file that is not TOML gives the file and the parser's position."""
    path = write(tmp_path / "envctl.toml", "memory = \n")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_settings(tmp_path, environ={})
    assert str(path) in str(info.value)


def test_malformed_pyproject_is_a_config_error(tmp_path: Path) -> None:
    """pyproject.toml is read too, so its syntax errors are ours to report."""
    write(tmp_path / "pyproject.toml", "[tool.envctl\n")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: not valid TOML"):
        load_settings(tmp_path, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    """ENVCTL_MEMORY=2gg is reported as that variable."""
    with pytest.raises(ConfigError, match=r"env ENVCTL_MEMORY: ENVCTL_MEMORY = '2gg'"):
        load_settings(tmp_path, environ={"ENVCTL_MEMORY": "2gg"})


def test_unknown_environment_variable_is_an_error(tmp_path: Path) -> None:
    """A misspelt ENVCTL_ variable does not pass silently."""
    with pytest.raises(ConfigError, match="unknown variable ENVCTL_MEMROY"):
        load_settings(tmp_path, environ={"ENVCTL_MEMROY": "1g"})


def test_setup_and_bench_variables_are_not_settings(tmp_path: Path) -> None:
    """ENVCTL_SETUP_* (setup script) and ENVCTL_PROJECT_DIR are someone else's: no error, and
    no setting takes its value from them."""
    settings = load_settings(tmp_path, environ={"ENVCTL_SETUP_CACHE": "/x",
                                                "ENVCTL_PROJECT_DIR": str(tmp_path / "elsewhere")})
    assert set(settings.sources.values()) == {"default"}
    assert settings.project_dir == tmp_path


def test_bad_flag_names_the_flag(tmp_path: Path) -> None:
    """A bad --memory is reported as that flag, a usage error (exit 10) like every bad flag."""
    with pytest.raises(UsageError, match="flag --memory"):
        load_settings(tmp_path, environ={}, flags={"memory": "lots"})


def test_environment_is_read_at_call_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings follow os.environ as it is when load_settings runs, not at import."""
    monkeypatch.setenv("ENVCTL_PIDS", "77")
    assert load_settings(tmp_path).pids == 77
    monkeypatch.setenv("ENVCTL_PIDS", "78")
    assert load_settings(tmp_path).pids == 78


@pytest.mark.parametrize(("text", "error"), [
    ("cpus = inf", "cpus = inf: at most 4096 CPUs"),
    ("cpus = nan", "cpus = nan: must be more than zero"),
    (f"pids = {'9' * 400}",
     "pids = 9999999999999999999999999999999999999999...(400 characters): at most 2147483648"),
    ("run_timeout = 1e400", "run_timeout = inf: inf is too long; at most 366d"),
])
def test_numbers_that_are_no_settings_are_config_errors(tmp_path: Path, text: str, error: str) -> None:
    """Infinity, NaN and 400-digit numbers: exit 11 with one line, never a value JSON cannot hold."""
    (tmp_path / "envctl.toml").write_text(text + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert caught.value.message == f"{tmp_path / 'envctl.toml'}: {error}"
    assert "\n" not in caught.value.message


def test_a_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    """A settings file in another encoding: exit 11 naming it, not a crash."""
    (tmp_path / "envctl.toml").write_bytes(b'cpus = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(tmp_path, environ={})


@pytest.mark.parametrize(("spec", "message"), [
    ({"cache": {"port": 0}}, "cache: port must be a number from 1 to 65535"),
    ({"cache": {"port": True}}, "cache: port must be a number from 1 to 65535"),
    ({"api": {"http": "/health"}}, 'api: http is a path such as "/health" (no spaces), with port set'),
    ({"api": {"port": 80, "http": "/a b"}}, 'api: http is a path such as "/health" (no spaces)'),
    ({"api": {"port": 80, "http": "/a\r\nX: y"}}, 'api: http is a path such as "/health" (no spaces)'),
    ({"w": {"log": "("}}, "w: log '(' is not a regular expression"),
    ({"w": {}}, "w: give port (with http, optionally) or log"),
    ({"w": {"port": 1, "retries": 3}}, "w: unknown key 'retries'"),
    ("not json", 'expected JSON such as {"cache": {"port": 6379}}'),
    (["not a table"], "expected a table per service"),
])
def test_bad_waits_say_what_is_wrong(spec: object, message: str) -> None:
    """Each wrong [wait.X] table is refused with what a right one looks like."""
    with pytest.raises(ValueError, match=re.escape(message)):
        setting_values.waits(spec)


def test_waits_from_toml_and_json_alike(tmp_path: Path) -> None:
    """[wait.X] in envctl.toml and ENVCTL_WAIT (JSON) give the same waits; the environment's wins."""
    (tmp_path / "envctl.toml").write_text('[wait.db]\nport = 5432\ntimeout = "20s"\n')
    from_toml = load_settings(tmp_path, environ={}).wait
    as_json = '{"db": {"port": 5432, "timeout": "20s"}}'
    from_env = load_settings(tmp_path, environ={"ENVCTL_WAIT": as_json}).wait
    assert from_toml == from_env == (ServiceWait("db", 5432, None, None, 20.0),)


def test_a_misspelt_setting_names_the_nearest(tmp_path: Path) -> None:
    """An unknown key suggests the closest known setting, not the whole list."""
    (tmp_path / "envctl.toml").write_text('test_servce = "tests"\n')
    with pytest.raises(ConfigError, match="unknown setting 'test_servce'") as caught:
        load_settings(tmp_path, environ={})
    assert caught.value.hint == "did you mean 'test_service'?"
    with pytest.raises(ConfigError, match="ENVCTL_MEMORYY") as from_env:
        load_settings(tmp_path / "..", environ={"ENVCTL_MEMORYY": "1g"})
    assert from_env.value.hint == "did you mean ENVCTL_MEMORY?"


def test_names_are_matched_to_their_end(tmp_path: Path) -> None:
    """A trailing newline is not part of a valid service or project name."""
    for key in ("test_service", "project_name"):
        (tmp_path / "envctl.toml").write_text(f'{key} = "test\\n"\n')
        with pytest.raises(ConfigError, match=key):
            load_settings(tmp_path, environ={})


def test_a_missing_project_directory_is_a_usage_error(tmp_path: Path) -> None:
    """-C to a folder that does not exist is an error, not the defaults."""
    with pytest.raises(UsageError, match="no such project directory"):
        load_settings(tmp_path / "nope", environ={})


def test_on_finish_is_an_argv_from_a_list_or_a_split_string(tmp_path: Path) -> None:
    """The hook: none by default; a TOML list as given; a variable split like a shell would,
    never evaluated; an empty one is none; its timeout a duration."""
    assert (load_settings(tmp_path, environ={}).on_finish,
            load_settings(tmp_path, environ={}).on_finish_timeout) == ((), 60.0)
    write(tmp_path / "envctl.toml", 'on_finish = ["notify-send", "envctl", "$ENVCTL_SUMMARY"]\n'
                                    'on_finish_timeout = "2m"\n')
    settings = load_settings(tmp_path, environ={})
    assert (settings.on_finish, settings.on_finish_timeout) == \
        (("notify-send", "envctl", "$ENVCTL_SUMMARY"), 120.0)
    variable = load_settings(tmp_path, environ={"ENVCTL_ON_FINISH": "curl -d 'a b' $X"})
    assert variable.on_finish == ("curl", "-d", "a b", "$X")
    assert load_settings(tmp_path, environ={"ENVCTL_ON_FINISH": "  "}).on_finish == ()
    assert Settings.from_json(settings.to_json()).on_finish == ("notify-send", "envctl", "$ENVCTL_SUMMARY")


def test_the_hooks_own_variables_are_not_settings(tmp_path: Path) -> None:
    """A hook that calls envctl keeps ENVCTL_RUN_ID and its siblings: no error, no setting."""
    names = ("ENVCTL_RUN_ID", "ENVCTL_RUN_STATE", "ENVCTL_EXIT_CODE", "ENVCTL_RUN_DIR", "ENVCTL_SUMMARY")
    settings = load_settings(tmp_path, environ=dict.fromkeys(names, "x"))
    assert set(settings.sources.values()) == {"default"}


def test_a_host_runs_variables_are_not_settings(tmp_path: Path) -> None:
    """A test run by `test --host` that calls envctl keeps the plugin's variables: no error."""
    names = ("ENVCTL_PROGRESS_DIR", "ENVCTL_MEMORY_CGROUP", "ENVCTL_SHARD", "ENVCTL_DURATIONS",
             "ENVCTL_SELECT", "ENVCTL_WEB_PORT", "ENVCTL_WEB_URL")
    settings = load_settings(tmp_path, environ=dict.fromkeys(names, "x"))
    assert set(settings.sources.values()) == {"default"}


def test_host_command_and_resource_interval(tmp_path: Path) -> None:
    """host_command: empty by default (found at the run), split like a shell; resource_interval:
    a duration from 0 (off) to an hour."""
    assert load_settings(tmp_path, environ={}).host_command == ()
    assert load_settings(tmp_path, environ={"ENVCTL_HOST_COMMAND": "tox -e 'py 3'"}).host_command == \
        ("tox", "-e", "py 3")
    assert load_settings(tmp_path, environ={"ENVCTL_RESOURCE_INTERVAL": "5s"}).resource_interval == 5.0
    assert load_settings(tmp_path, environ={"ENVCTL_RESOURCE_INTERVAL": "0"}).resource_interval == 0.0
    with pytest.raises(ConfigError, match="at most 3600s"):
        load_settings(tmp_path, environ={"ENVCTL_RESOURCE_INTERVAL": "2h"})


def test_the_history_file_is_beside_the_runs_unless_set(tmp_path: Path) -> None:
    """history_file: unset or empty, history.jsonl in log_dir (wherever that is); a relative one
    under the project directory; it reaches a background process through to_json."""
    from envctl.history import HISTORY_FILE  # noqa: PLC0415

    settings = load_settings(tmp_path, environ={"ENVCTL_LOG_DIR": "/var/runs"})
    assert settings.resolved_history_file == Path("/var/runs") / HISTORY_FILE
    assert load_settings(tmp_path, environ={"ENVCTL_HISTORY_FILE": ""}).resolved_history_file == (
        tmp_path / ".envctl" / "runs" / HISTORY_FILE)
    chosen = load_settings(tmp_path, environ={"ENVCTL_HISTORY_FILE": "ci/history.jsonl"})
    assert chosen.resolved_history_file == tmp_path / "ci" / "history.jsonl"
    assert Settings.from_json(chosen.to_json()).resolved_history_file == tmp_path / "ci" / "history.jsonl"


def test_address_variables_are_not_settings(tmp_path: Path) -> None:
    """After `eval "$(envctl env --format sh)"` envctl still runs: the services' addresses are
    not taken for unknown settings."""
    settings = load_settings(tmp_path, environ={"ENVCTL_SERVICES": "web", "ENVCTL_WEB_HOST": "127.0.0.1",
                                                "ENVCTL_WEB_PORT_80": "8080", "ENVCTL_WEB_URL": "http://x"})
    assert settings.test_service == "test"


def test_engines_are_a_list_or_a_comma_separated_variable(tmp_path: Path) -> None:
    """`engines` in TOML is a list; ENVCTL_ENGINES and --engines separate with commas (an
    address holds colons); each entry may give its CPUs, which ``engine_entry`` reads back."""
    write(tmp_path / "envctl.toml", 'engines = ["default", "ssh://ci@box=16"]\n')
    assert load_settings(tmp_path, environ={}).engines == ("default", "ssh://ci@box=16")
    settings = load_settings(tmp_path, environ={"ENVCTL_ENGINES": "e2, unix:///run/e3/docker.sock"})
    assert settings.engines == ("e2", "unix:///run/e3/docker.sock")
    assert setting_values.engine_entry("ssh://ci@box=16") == ("ssh://ci@box", 16)
    assert setting_values.engine_entry("e2") == ("e2", None)


@pytest.mark.parametrize(("value", "message"), [
    ('["a", "a=4"]', "an engine is named twice"),
    ('["a=0"]', "an engine's CPUs are at least 1"),
    ('["a=b=2"]', "expected a list of docker contexts or engine addresses"),
    ("3", "expected a list of docker contexts or engine addresses"),
])
def test_bad_engines_are_refused_with_the_reason(tmp_path: Path, value: str, message: str) -> None:
    """A repeated engine, a weight below 1 or something that is no list is a config error."""
    write(tmp_path / "envctl.toml", f"engines = {value}\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_settings(tmp_path, environ={})
