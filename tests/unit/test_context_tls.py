"""A tcp:// engine named by a docker context gets that context's TLS settings, read from the
CLI's context store as `docker context create` lays it out; anything else keeps the user's."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import requests

from envctl.docker import context
from envctl.docker.cli_config import engine_environment, engine_prefix
from envctl.docker.connection import client_kwargs, verify_as_the_cli
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


def test_the_context_named_wins_over_others_on_the_same_address(config: Path) -> None:
    """Two contexts on one address (an admin's and a restricted identity): the one named is
    taken; unnamed, the first by name."""
    admin = make_context(config, "admin", "tcp://10.0.0.5:2376")
    limited = make_context(config, "limited", "tcp://10.0.0.5:2376")
    assert context_tls("tcp://10.0.0.5:2376", config, "limited") == {
        "DOCKER_CERT_PATH": str(limited), "DOCKER_TLS_VERIFY": "1"}
    assert context_tls("tcp://10.0.0.5:2376", config) == {
        "DOCKER_CERT_PATH": str(admin), "DOCKER_TLS_VERIFY": "1"}


@pytest.mark.parametrize("damage", ["deep", "large", "fifo", "link"])
def test_a_damaged_store_entry_is_passed_over(config: Path, tmp_path: Path, damage: str) -> None:
    """JSON nested past the recursion limit, a file past the cap, a FIFO (never waited on) or
    a link in place of meta.json: that entry is not a context; the others still are."""
    good = make_context(config, "good", "tcp://10.0.0.5:2376")
    make_context(config, "bad", "tcp://10.0.0.5:2376")
    meta = config / "contexts" / "meta" / hashlib.sha256(b"bad").hexdigest() / "meta.json"
    meta.unlink()
    if damage == "deep":
        meta.write_text("[" * 60_000)  # under the cap: the parser gives up
    elif damage == "large":
        meta.write_text(json.dumps({"Name": "bad", "Endpoints": {"docker": {"Host": "tcp://10.0.0.5:2376"}}})
                        + " " * (200 << 10))
    elif damage == "fifo":
        os.mkfifo(meta)
    else:
        target = tmp_path / "elsewhere.json"
        target.write_text(json.dumps({"Name": "bad", "Endpoints": {"docker": {"Host": "tcp://10.0.0.5:2376"}}}))
        meta.symlink_to(target)
    assert context_tls("tcp://10.0.0.5:2376", config, "bad") == {
        "DOCKER_CERT_PATH": str(good), "DOCKER_TLS_VERIFY": "1"}


def test_using_a_tls_context_brings_its_certificates(config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--context build-box` (a tcp:// context with certificates): this process's TLS variables
    become the context's, for every call and process after."""
    certs = make_context(config, "build-box", "tcp://10.0.0.5:2376")
    monkeypatch.setattr(context, "context_host", {"build-box": "tcp://10.0.0.5:2376"}.__getitem__)
    monkeypatch.setenv("DOCKER_TLS", "1")
    assert context.use_context("build-box") == "tcp://10.0.0.5:2376"
    assert (os.environ["DOCKER_CERT_PATH"], os.environ["DOCKER_TLS_VERIFY"], "DOCKER_TLS" in os.environ) == (
        str(certs), "1", False)


def test_a_tls_engine_is_verified_with_its_own_ca_whatever_requests_bundle_says(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """REQUESTS_CA_BUNDLE (a machine's public CAs) would replace the engine's ca.pem on every
    request; the session verifies with its own, as the CLI does; proxies still come from the
    environment."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy:3128")
    session = requests.Session()
    session.verify = "/home/u/.docker/contexts/tls/x/docker/ca.pem"
    assert session.merge_environment_settings("https://10.0.0.5:2376/version", {}, None, None, None)[
        "verify"] == "/etc/ssl/certs/ca-certificates.crt"  # what requests alone would do
    verify_as_the_cli(session)
    settings = session.merge_environment_settings("https://10.0.0.5:2376/version", {}, None, None, None)
    assert (settings["verify"], settings["proxies"]["https"]) == (
        "/home/u/.docker/contexts/tls/x/docker/ca.pem", "http://proxy:3128")
