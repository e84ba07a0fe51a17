"""`.env` files read as compose reads them (never a link or a FIFO), and the standard descriptors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from envctl.files import parse_dotenv, read_dotenv


def test_values_are_read_as_compose_reads_them() -> None:
    """Inline comments after unquoted values, quotes (double ones with escapes, over lines),
    `KEY: value`, `export`, comment lines and lines that are no assignment."""
    text = ("# comment\nDB_PASSWORD=hunter2pw # dev\nAPI_TOKEN=\"tok-abcdef\" # ci\n"
            "REDIS_PASSWORD: r3dispass\nexport A='lit $x \\n'\nB=\"multi\nline \\\"q\\\"\"\n"
            "URL=http://x/#frag\nEMPTY=\nnot an assignment\nA2=first\nA2=second\n")
    assert parse_dotenv(text) == {
        "DB_PASSWORD": "hunter2pw", "API_TOKEN": "tok-abcdef", "REDIS_PASSWORD": "r3dispass",
        "A": "lit $x \\n", "B": 'multi\nline "q"', "URL": "http://x/#frag", "EMPTY": "", "A2": "second"}


def test_a_fifo_or_a_link_is_not_read(tmp_path: Path) -> None:
    """A FIFO (which would block every command) and a link (to /dev/zero, say) read as empty."""
    os.mkfifo(tmp_path / ".env")
    assert read_dotenv(tmp_path / ".env") == {}
    (tmp_path / "real").write_text("A=1\n")
    (tmp_path / "link.env").symlink_to(tmp_path / "real")
    assert read_dotenv(tmp_path / "link.env") == {}
    assert read_dotenv(tmp_path / "real") == {"A": "1"}


def test_values_are_interpolated_as_compose_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """`${VAR}` and `$VAR` from the lines above or the environment, defaults, `$$`; none in
    single quotes: the value compose prints is the one envctl masks."""
    monkeypatch.setenv("CI_DB_URL", "postgres://ci:s3cret@db/app")
    monkeypatch.delenv("UNSET_FOR_TEST", raising=False)
    text = ("DATABASE_URL=${CI_DB_URL}\nUSER=app\nDSN=\"$USER@${HOST:-localhost}\"\n"
            "LITERAL='${CI_DB_URL}'\nPRICE=$$5\nEMPTY=${UNSET_FOR_TEST}\nALT=${USER:+set}\n")
    assert parse_dotenv(text) == {
        "DATABASE_URL": "postgres://ci:s3cret@db/app", "USER": "app", "DSN": "app@localhost",
        "LITERAL": "${CI_DB_URL}", "PRICE": "$5", "EMPTY": "", "ALT": "set"}


def test_closed_standard_descriptors_are_opened_on_dev_null() -> None:
    """`envctl ... <&- >&-`: fd 0 and 1 become /dev/null, so no file envctl opens later takes them."""
    code = ("import os; from envctl.files import ensure_standard_descriptors; "
            "ensure_standard_descriptors(); fd = os.open('/proc/self/status', os.O_RDONLY); "
            "os.write(2, (os.readlink('/proc/self/fd/0') + ' ' + os.readlink('/proc/self/fd/1') + ' '"
            " + str(fd)).encode())")
    proc = subprocess.run(["sh", "-c", 'exec "$0" -c "$1" <&- >&-', sys.executable, code],
                          stderr=subprocess.PIPE, check=True)
    null0, null1, fd = proc.stderr.decode().split()
    assert (null0, null1) == ("/dev/null", "/dev/null")
    assert int(fd) > 2
