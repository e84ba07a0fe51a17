"""A tcp:// engine named by a docker context gets that context's TLS settings, read from the
CLI's context store as `docker context create` lays it out; anything else keeps the user's."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from envctl.docker.cli_config import engine_environment, engine_prefix
from envctl.docker.connection import client_kwargs
from envctl.docker.context_tls import context_tls


def make_context(config: Path, name: str, host: str, *, certs: bool = True, skip_verify: bool = False,
                 ) -> Path:
    """A context as the CLI stores one: meta/<sha256 of name>/meta.json, tls/<same>/docker/*.pem."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    meta = config / "contexts" / "meta" / digest
    meta.mkdir(parents=True)
    endpoint: dict[str, object] = {"Host": host, "SkipTLSVerify": skip_verify}
    (meta / "meta.json").write_text(json.dumps({"Name": name, "Endpoints": {"docker": endpoint}}))
    folder = config / "contexts" / "tls" / digest / "docker"
    if certs:
        folder.mkdir(parents=True)
        for file in ("ca.pem", "cert.pem", "key.pem"):
            (folder / file).write_text("-----BEGIN CERTIFICATE-----\n")
    return folder


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty DOCKER_CONFIG, and the user's own TLS variables for some other engine."""
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("DOCKER_TLS_VERIFY", "1")
    monkeypatch.setenv("DOCKER_CERT_PATH", "/home/u/.docker/theirs")
    return tmp_path


def test_a_contexts_tcp_engine_gets_its_certificates_for_compose_the_cli_and_the_sdk(config: Path) -> None:
    """Its folder and verification replace the user's, in the environment, the env(1) prefix
    and the SDK's parameters (a TLS configuration with the context's files)."""
    certs = make_context(config, "build-box", "tcp://10.0.0.5:2376")
    env = engine_environment("tcp://10.0.0.5:2376")
    assert env is not None
    assert (env["DOCKER_CERT_PATH"], env["DOCKER_TLS_VERIFY"]) == (str(certs), "1")
    assert engine_prefix("tcp://10.0.0.5:2376") == [
        "env", "-u", "DOCKER_CONTEXT", "DOCKER_HOST=tcp://10.0.0.5:2376", f"DOCKER_CERT_PATH={certs}"]
    tls = client_kwargs("tcp://10.0.0.5:2376")["tls"]
    assert (tls.cert, tls.ca_cert, tls.verify) == (
        (str(certs / "cert.pem"), str(certs / "key.pem")), str(certs / "ca.pem"), True)


def test_a_context_that_skips_verification_still_talks_tls(config: Path) -> None:
    """SkipTLSVerify: TLS on (DOCKER_TLS for the CLI, the folder for the SDK), nothing verified."""
    certs = make_context(config, "lab", "tcp://10.0.0.6:2376", skip_verify=True)
    env = engine_environment("tcp://10.0.0.6:2376")
    assert env is not None
    assert (env["DOCKER_CERT_PATH"], env["DOCKER_TLS"]) == (str(certs), "1")
    assert "DOCKER_TLS_VERIFY" not in env
    assert engine_prefix("tcp://10.0.0.6:2376") == [
        "env", "-u", "DOCKER_CONTEXT", "-u", "DOCKER_TLS_VERIFY", "DOCKER_HOST=tcp://10.0.0.6:2376",
        "DOCKER_TLS=1", f"DOCKER_CERT_PATH={certs}"]
    assert client_kwargs("tcp://10.0.0.6:2376")["tls"].verify is False


def test_without_a_context_with_certificates_the_users_settings_stay(config: Path) -> None:
    """No context for the address, one without certificates, a damaged or misplaced meta.json,
    or an engine that is not tcp://: nothing is changed."""
    make_context(config, "bare", "tcp://10.0.0.7:2376", certs=False)
    (config / "contexts" / "meta" / "junk").mkdir()
    (config / "contexts" / "meta" / "junk" / "meta.json").write_text("{not json")
    misplaced = config / "contexts" / "meta" / "elsewhere"
    misplaced.mkdir()
    (misplaced / "meta.json").write_text(json.dumps({"Name": "x", "Endpoints": {
        "docker": {"Host": "tcp://10.0.0.8:2376"}}}))
    for host in ("tcp://10.0.0.7:2376", "tcp://10.0.0.8:2376", "tcp://10.0.0.9:2376", "ssh://ci@box"):
        assert context_tls(host, config) is None
        env = engine_environment(host)
        assert env is not None
        assert (env["DOCKER_CERT_PATH"], env["DOCKER_TLS_VERIFY"]) == ("/home/u/.docker/theirs", "1")
