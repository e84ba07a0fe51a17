"""What the on_finish hook depends on must be out of the tests' reach: its settings file, its
program, its files and its PATH; a writable mount of any is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from envctl.docker.models import ComposeProject, ServiceSpec, reduce_config
from envctl.errors import ConfigError
from envctl.runs.hook_guard import hook_path, refuse_a_writable_hook, settings_file
from envctl.settings import Settings, load_settings


def test_the_file_a_source_names() -> None:
    """A file for the project's files; none for the environment, a flag or the default."""
    assert settings_file("/p/envctl.toml") == Path("/p/envctl.toml")
    assert settings_file("/p/pyproject.toml [tool.envctl]") == Path("/p/pyproject.toml")
    assert settings_file("env ENVCTL_ON_FINISH") is None
    assert settings_file("flag --timeout") is None
    assert settings_file("default") is None


def spec_with(volumes: list[dict[str, object]]) -> ServiceSpec:
    return ServiceSpec.from_config("test", {"image": "python:3.11-slim", "volumes": volumes})


def test_a_hook_in_a_file_the_tests_can_write_is_refused(tmp_path: Path) -> None:
    """envctl.toml under a read-write mount of the project: refused, saying which mount and how."""
    (tmp_path / "envctl.toml").write_text('on_finish = ["notify-send", "done"]\n')
    settings = load_settings(tmp_path, environ={})
    spec = spec_with([{"type": "bind", "source": str(tmp_path), "target": "/src"}])
    assert spec.writable_binds == (str(tmp_path),)
    with pytest.raises(ConfigError) as caught:
        refuse_a_writable_hook(settings, "test", spec.writable_binds)
    assert str(caught.value) == (
        f"on_finish is set in {tmp_path / 'envctl.toml'}, which the test service 'test' can write "
        f"(it mounts {tmp_path} read-write): the tests could change what envctl runs on this machine")


def test_a_read_only_mount_another_folder_or_the_environment_is_fine(tmp_path: Path) -> None:
    """Mounted `:ro`, a folder that does not hold the file, or the hook from the environment: no refusal."""
    (tmp_path / "envctl.toml").write_text('on_finish = ["notify-send", "done"]\n')
    (tmp_path / "suite").mkdir()
    settings = load_settings(tmp_path, environ={})
    read_only = spec_with([{"type": "bind", "source": str(tmp_path), "target": "/src", "read_only": True}])
    suite_only = spec_with([{"type": "bind", "source": str(tmp_path / "suite"), "target": "/suite"}])
    assert read_only.writable_binds == ()
    refuse_a_writable_hook(settings, "test", read_only.writable_binds)
    refuse_a_writable_hook(settings, "test", suite_only.writable_binds)
    (tmp_path / "envctl.toml").write_text("")
    from_env = load_settings(tmp_path, environ={"ENVCTL_ON_FINISH": "notify-send done"})
    refuse_a_writable_hook(from_env, "test", (str(tmp_path),))


def hooked(project: Path, command: str) -> Settings:
    """Settings whose hook comes from the environment (so only what it runs is in question)."""
    return load_settings(project, environ={"ENVCTL_ON_FINISH": command})


def refusal(settings: Settings, writable: tuple[str, ...], path: str) -> str | None:
    try:
        refuse_a_writable_hook(settings, "test", writable, environ={"PATH": path})
    except ConfigError as error:
        return str(error)
    return None


def executable(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def said(what: str, folder: Path) -> str:
    """The refusal's text for ``what`` (what the hook depends on, and where) in ``folder``."""
    return (f"{what}, which the test service 'test' can write (it mounts {folder} read-write): "
            "the tests could change what envctl runs on this machine")


def test_a_program_of_the_project_in_a_writable_mount_is_refused(tmp_path: Path) -> None:
    """`./notify.sh` is the project folder's: mounted read-write, refused; read-only, fine."""
    executable(tmp_path / "notify.sh")
    settings = hooked(tmp_path, "./notify.sh")
    assert refusal(settings, (str(tmp_path),), "/usr/bin") == \
        said(f"on_finish runs {tmp_path}/notify.sh", tmp_path)
    assert refusal(settings, (), "/usr/bin") is None


def test_a_script_the_hook_is_given_in_a_writable_mount_is_refused(tmp_path: Path) -> None:
    """`python ci/x.py`: the script (relative to the project folder) is what runs; an argument
    that names nothing there (`-u`, a message) is no path."""
    (tmp_path / "ci").mkdir()
    (tmp_path / "ci" / "x.py").write_text("print('done')\n")
    settings = hooked(tmp_path, "python -u ci/x.py done")
    assert refusal(settings, (str(tmp_path / "ci"),), "/usr/bin") == \
        said(f"on_finish names {tmp_path}/ci/x.py", tmp_path / "ci")


def test_a_program_path_finds_in_a_writable_virtualenv_is_refused(tmp_path: Path) -> None:
    """`sh -c ...` with PATH led by the project's `.venv/bin` holding `sh`: refused. Without
    one there, fine: that entry is dropped from the hook's PATH, so one put there later is not run."""
    venv_bin = tmp_path / ".venv" / "bin"
    executable(venv_bin / "python")
    settings = hooked(tmp_path, "sh -c 'echo done'")
    assert refusal(settings, (str(tmp_path),), f"{venv_bin}:/usr/bin:/bin") is None
    executable(venv_bin / "sh")
    assert refusal(settings, (str(tmp_path),), f"{venv_bin}:/usr/bin:/bin") == \
        said(f"on_finish runs {venv_bin}/sh", tmp_path)


def test_a_writable_folder_on_the_hooks_path_outside_the_project_is_refused(tmp_path: Path) -> None:
    """A PATH folder the hook keeps (outside the project) that the tests can write could hold
    any program the hook runs by name."""
    project, cache = tmp_path / "p", tmp_path / "cache"
    project.mkdir()
    settings = hooked(project, "/bin/true")
    assert refusal(settings, (str(cache),), f"{cache}/bin:/usr/bin") == \
        said(f"on_finish's PATH holds {cache}/bin", cache)


def test_a_symlink_into_a_writable_mount_is_refused(tmp_path: Path) -> None:
    """A program outside the mount that links into it is what the link resolves to."""
    project, tools = tmp_path / "p", tmp_path / "tools"
    target = executable(project / "notify.sh")
    tools.mkdir()
    (tools / "notify").symlink_to(target)
    settings = hooked(project, f"{tools}/notify")
    assert refusal(settings, (str(project),), "/usr/bin") == \
        said(f"on_finish runs {tools}/notify", project)


def test_the_hooks_path_drops_relative_and_project_entries(tmp_path: Path) -> None:
    """Empty and relative entries name the current folder; the project's may be written by tests."""
    path = f"{tmp_path}/.venv/bin::bin:/usr/local/bin:{tmp_path}:/usr/bin"
    assert hook_path(path, tmp_path) == "/usr/local/bin:/usr/bin"
    assert hook_path(path, None) == f"{tmp_path}/.venv/bin:/usr/local/bin:{tmp_path}:/usr/bin"


def test_the_folders_checked_include_volumes_from_and_bind_type_named_volumes(tmp_path: Path) -> None:
    """A service's writable folders: its own binds not read-only, named volumes that bind a
    folder, and those of the services it takes volumes_from (not `:ro`), followed through."""
    config = {"services": {
        "test": {"image": "x", "volumes_from": ["tools", "docs:ro"], "volumes": [
            {"type": "bind", "source": "/own", "target": "/o"},
            {"type": "bind", "source": "/readonly", "target": "/r", "read_only": True},
            {"type": "volume", "source": "bound", "target": "/b"},
            {"type": "volume", "source": "real", "target": "/v"}]},
        "tools": {"image": "x", "volumes_from": ["base"], "volumes": ["/tools:/t", "/ro:/ro:ro"]},
        "base": {"image": "x", "volumes": [{"type": "bind", "source": "/base", "target": "/b"}]},
        "docs": {"image": "x", "volumes": [{"type": "bind", "source": "/docs", "target": "/d"}]}},
        "volumes": {"bound": {"driver_opts": {"type": "none", "o": "bind", "device": "/bound"}},
                    "real": {}}}
    project = ComposeProject.from_config(config)
    assert project.services["test"].writable_binds == ("/own", "/bound", "/tools", "/base")
    assert ComposeProject.from_config(reduce_config(config)).services["test"].writable_binds == \
        ("/own", "/bound", "/tools", "/base")


def test_a_script_in_shell_text_and_code_the_hook_loads_count(tmp_path: Path) -> None:
    """Absolute paths in a shell text (after `;`, in `$(...)`, not made yet) and absolute entries of
    PYTHONPATH, LD_PRELOAD, NODE_OPTIONS... under the mounted project: refused; the same outside
    it, relative ones (the run folder's), and plain words that happen to name a folder: not."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "tests").mkdir(parents=True)
    outside.mkdir()
    writable = (str(project),)
    plain_env = {"PATH": "/usr/bin"}
    for text in (f"true;{project}/hook.sh", f"echo $(cat {project}/x)", f"python3 {project}/later.py"):
        hook = load_settings(project, environ={"ENVCTL_ON_FINISH": f"sh -c '{text}'"})
        with pytest.raises(ConfigError, match=f"on_finish names {project}/"):
            refuse_a_writable_hook(hook, "test", writable, environ=plain_env)
    for text in (f"python3 {outside}/notify.py", "python3 ./notify.py", 'notify-send "tests done"',
                 'curl -d "$ENVCTL_SUMMARY" https://hooks.example/x', "cd . && true"):
        hook = load_settings(project, environ={"ENVCTL_ON_FINISH": f"sh -c '{text}'"})
        refuse_a_writable_hook(hook, "test", writable, environ=plain_env)
    plain = load_settings(project, environ={"ENVCTL_ON_FINISH": "notify-send done"})
    for variable, value in (("PYTHONPATH", f"/usr/lib:{project}/lib"),
                            ("LD_PRELOAD", f"/a.so {project}/x.so"), ("BASH_ENV", f"{project}/.bashrc"),
                            ("NODE_OPTIONS", f"--require={project}/r.js")):
        with pytest.raises(ConfigError, match=f"on_finish's {variable} (?:holds|names) {project}"):
            refuse_a_writable_hook(plain, "test", writable, environ={**plain_env, variable: value})
    for variable, value in (("PYTHONPATH", f"src:{outside}"), ("ENV", "production"),
                            ("NODE_PATH", "node_modules"), ("PYTHONPATH", "/opt/my libs")):
        refuse_a_writable_hook(plain, "test", writable, environ={**plain_env, variable: value})
