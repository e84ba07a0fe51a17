"""The services' addresses as ENVCTL_* variables and back: names, collisions, bad values."""

from __future__ import annotations

import pytest

from envctl.addresses import (
    SERVICES,
    Address,
    from_variables,
    is_address_variable,
    to_variables,
    variable_key,
    variable_keys,
)
from envctl.settings import FIELDS

WEB = Address("web", host="127.0.0.1", port=8080, ports={80: 8080, 443: 8443}, url="http://127.0.0.1:8080")
DB = Address("my-db", host="127.0.0.1", port=5432, ports={5432: 5432})


@pytest.mark.parametrize(("name", "key"), [
    ("web", "WEB"), ("my-db", "MY_DB"), ("a.b_c", "A_B_C"), ("$(rm -rf /)", "__RM__RF___"),
    ("é1", "_1"), ("straße", "STRASSE"), ("x\ny", "X_Y"),
])
def test_a_key_is_the_name_upper_cased_with_other_characters_as_underscores(name: str, key: str) -> None:
    """Only [A-Z0-9_] is left, whatever the name holds."""
    assert variable_key(name) == key


def test_names_that_make_one_key_get_numbered_keys_in_order() -> None:
    """The first keeps its key; later ones get _2, _3, past any key already taken."""
    assert variable_keys(["a-b", "a.b", "a_b_2", "a b"]) == {
        "a-b": "A_B", "a.b": "A_B_2", "a_b_2": "A_B_2_2", "a b": "A_B_3"}


def test_the_variables_of_two_services() -> None:
    """Host, first port, each container port, URL; ENVCTL_SERVICES lists the names in order."""
    assert to_variables([WEB, DB]) == {
        SERVICES: "my-db web",
        "ENVCTL_MY_DB_HOST": "127.0.0.1", "ENVCTL_MY_DB_PORT": "5432", "ENVCTL_MY_DB_PORT_5432": "5432",
        "ENVCTL_WEB_HOST": "127.0.0.1", "ENVCTL_WEB_PORT": "8080", "ENVCTL_WEB_PORT_80": "8080",
        "ENVCTL_WEB_PORT_443": "8443", "ENVCTL_WEB_URL": "http://127.0.0.1:8080",
    }


def test_a_service_without_a_published_port_is_only_listed() -> None:
    """No host, port or URL to give: its name in ENVCTL_SERVICES, and no variable of its own."""
    assert to_variables([Address("worker")]) == {SERVICES: "worker"}


def test_colliding_names_never_overwrite_each_other() -> None:
    """my-db and my.db: two sets of variables, read back to the right service each."""
    twin = Address("my.db", host="10.0.0.2", port=6000, ports={5432: 6000})
    variables = to_variables([DB, twin])
    assert (variables["ENVCTL_MY_DB_PORT"], variables["ENVCTL_MY_DB_2_PORT"]) == ("5432", "6000")
    assert from_variables(variables) == {"my-db": DB, "my.db": twin}


def test_variables_read_back_to_the_same_addresses() -> None:
    """from_variables undoes to_variables; other variables around them are ignored."""
    stray = {"ENVCTL_LOG_DIR": "/x", "HOME": "/h"}
    read = from_variables({**to_variables([WEB, DB, Address("worker")]), **stray})
    assert read == {"web": WEB, "my-db": DB, "worker": Address("worker")}
    assert dict(read["web"].ports) == {80: 8080, 443: 8443}


def test_without_the_list_there_are_no_services() -> None:
    """ENVCTL_SERVICES says envctl wrote them: stray ENVCTL_X_HOST variables alone are nothing."""
    assert from_variables({"ENVCTL_WEB_HOST": "h", "ENVCTL_WEB_PORT": "1"}) == {}


def test_values_that_are_not_ports_are_left_out() -> None:
    """A hand-edited or hostile value is read as missing, never as a crash."""
    read = from_variables({SERVICES: "web", "ENVCTL_WEB_HOST": "h", "ENVCTL_WEB_PORT": "http",
                           "ENVCTL_WEB_PORT_80": "99999", "ENVCTL_WEB_PORT_81": "٣", "ENVCTL_WEB_PORT_x": "1",
                           "ENVCTL_WEB_PORT_٣": "3",
                           "ENVCTL_WEB_PORT_82": "82"})
    assert read["web"] == Address("web", host="h", port=None, ports={82: 82})


def test_an_address_is_frozen_all_through() -> None:
    """Its ports cannot be changed behind the fixture's back (one session, many tests)."""
    with pytest.raises(TypeError):
        WEB.ports[80] = 1  # type: ignore[index]  # the point: it refuses


@pytest.mark.parametrize("name", ["ENVCTL_SERVICES", "ENVCTL_WEB_HOST", "ENVCTL_MY_DB_PORT",
                                  "ENVCTL_WEB_PORT_8080", "ENVCTL_WEB_URL", "ENVCTL_HOST_HOST"])
def test_address_variables_are_recognised(name: str) -> None:
    """Each variable `env` writes is one."""
    assert is_address_variable(name)


def test_no_setting_and_no_variable_envctl_passes_is_an_address_variable() -> None:
    """The settings may skip address variables without losing one of theirs."""
    others = [spec.env for spec in FIELDS] + ["ENVCTL_PROJECT_DIR", "ENVCTL_HOST_UID", "ENVCTL_HOST_GID",
                                              "ENVCTL_PROGRESS_DIR", "ENVCTL_GATE_WAIT", "ENVCTL_WEB_PORT_X"]
    assert [name for name in others if is_address_variable(name)] == []


def test_a_name_with_a_space_is_left_out_so_collisions_read_back_the_same(
        caplog: pytest.LogCaptureFixture) -> None:
    """A label `z MY_DB` is skipped (and said): my-db and my.db keep their own ports read back."""
    twin = Address("my.db", host="10.0.0.2", port=6000, ports={5432: 6000})
    spaced = Address("z MY_DB", host="10.0.0.3", port=7000, ports={5432: 7000})
    variables = to_variables([DB, twin, spaced])
    assert variables[SERVICES] == "my-db my.db"
    assert from_variables(variables) == {"my-db": DB, "my.db": twin}
    assert [r.getMessage() for r in caplog.records] == [
        "services left out of ENVCTL_SERVICES (a name outside [A-Za-z0-9._-]): 'z MY_DB'"]
