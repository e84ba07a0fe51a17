"""Reading compose's output: versions and the one line that says what went wrong."""

from envctl.docker.compose import first_error_line, parse_version
from envctl.doctor import dockerfile_bases


def test_parse_version() -> None:
    """Compose prints versions in several shapes."""
    assert parse_version("Docker Compose version v2.40.3") == (2, 40, 3)
    assert parse_version("2.20") == (2, 20, 0)
    assert parse_version("nothing") is None


def test_first_error_line_prefers_the_error() -> None:
    """Progress lines are skipped; the daemon prefix is dropped."""
    output = (" Container p-web-1  Creating\n Container p-web-1  Created\n"
              "Error response from daemon: driver failed: Bind for 0.0.0.0:80 failed: "
              "port is already allocated\n")
    assert first_error_line(output).startswith("driver failed: Bind for 0.0.0.0:80")
    assert first_error_line("") == "no output"


def test_dockerfile_bases(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """External FROM images, without stage names, scratch or ARG-built names."""
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG V=1\nFROM --platform=linux/amd64 python:3.11-slim AS base\n"
                          "FROM base\nFROM scratch\nFROM debian:${V}\nfrom redis:7 as r\n")
    assert dockerfile_bases(dockerfile) == ["python:3.11-slim", "redis:7"]


def test_first_error_line_prefers_the_engines_reason() -> None:
    """compose ends with "failed to start containers: <id>"; the daemon's line says why."""
    output = ("Error response from daemon: OCI runtime create failed: cgroup busy\n"
              "Error: failed to start containers: 8349980a36ce\n")
    assert first_error_line(output) == "OCI runtime create failed: cgroup busy"


def test_a_failed_pull_names_the_service_and_its_image() -> None:
    """compose's " SERVICE Pulling" then " SERVICE Error ...": the message names both."""
    from envctl.env.diagnosis import compose_failure  # noqa: PLC0415

    output = (' sidecar Pulling \n sidecar Error Get "http://localhost:5999/v2/": connection refused\n'
              'Error response from daemon: Get "http://localhost:5999/v2/": connection refused\n')
    assert compose_failure(output, ["sidecar", "db"], {"sidecar": "localhost:5999/nope:1", "db": "pg"}) == (
        'the image of sidecar (localhost:5999/nope:1) cannot be pulled: Get "http://localhost:5999/v2/": '
        'connection refused')
