from __future__ import annotations

from pathlib import Path

import pytest

from lifecycle.types import Role
from notifications.apprise_config import (
    AppriseConfigError,
    InvalidTargetError,
    add_staff_target,
    build_apprise,
    configured_tags,
    fallback_tag,
    has_target,
    load_config,
    role_tag,
    staff_tag,
)
from notifications.deliver import send_digest
from notifications.sink import SinkServer

CONFIG = """\
version: 1
urls:
  - json://{host}/messages/staff-12:
      - tag: staff-12
  - json://{host}/messages/principal-3:
      - tag: role-principal-school-3, role-principal
  - form://{host}/messages/coordinator:
      - tag: role-ilp_coordinator-school-3
  - json://{host}/messages/fallback:
      - tag: fallback
"""


def write_config(tmp_path: Path, host: str) -> Path:
    path = tmp_path / "apprise.yaml"
    path.write_text(CONFIG.format(host=host))
    return path


def test_tag_helpers() -> None:
    assert staff_tag(12) == "staff-12"
    assert role_tag(Role.PRINCIPAL) == "role-principal"
    assert role_tag("ilp_coordinator", 3) == "role-ilp_coordinator-school-3"
    assert role_tag(Role.REGIONAL_VP, school_id=7) == "role-regional_vp-school-7"
    assert fallback_tag() == "fallback" and fallback_tag(12) == "fallback-staff-12"
    with pytest.raises(ValueError):
        role_tag("head teacher")


def test_yaml_tags_route_to_the_right_targets(tmp_path: Path, sink: SinkServer) -> None:
    host = f"127.0.0.1:{sink.port}"
    apobj = build_apprise(write_config(tmp_path, host))
    assert configured_tags(apobj) >= {
        "staff-12",
        "role-principal-school-3",
        "role-principal",
        "role-ilp_coordinator-school-3",
        "fallback",
    }
    assert has_target(apobj, "role-principal") and not has_target(apobj, "staff-99")
    assert send_digest(apobj, "t1", "to the principal", tag=role_tag("principal", 3)).ok
    assert send_digest(apobj, "t2", "to the coordinator", tag="role-ilp_coordinator-school-3").ok
    by_path = {m["path"]: m for m in sink.messages()}
    assert set(by_path) == {"/messages/principal-3", "/messages/coordinator"}
    assert by_path["/messages/principal-3"]["message"] == "to the principal"
    assert by_path["/messages/coordinator"]["title"] == "t2"  # form:// body parsed too


def test_extra_urls_and_runtime_staff_targets(sink: SinkServer) -> None:
    apobj = build_apprise(None, {"role-rvp": sink.apprise_url("/rvp")})
    assert has_target(apobj, "role-rvp")
    assert add_staff_target(apobj, 7, sink.apprise_url("/staff-7")) == "staff-7"
    assert add_staff_target(apobj, 7, sink.apprise_url("/staff-7")) == "staff-7"  # no duplicate
    assert add_staff_target(apobj, 7, "mailto://user:pw@example.com", fallback=True) == (
        "fallback-staff-7"
    )
    assert len(list(apobj.find("staff-7", match_always=False))) == 1
    assert send_digest(apobj, "hi", "body", tag="staff-7").ok
    assert [m["path"] for m in sink.messages()] == ["/staff-7"]


def test_invalid_runtime_url_is_refused_without_echoing_it() -> None:
    apobj = build_apprise()
    with pytest.raises(InvalidTargetError) as err:
        add_staff_target(apobj, 1, "nosuchscheme://secret-password@host")
    assert "secret-password" not in str(err.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("urls: [", "not valid YAML"),
        ("- json://x", "mapping"),
        ("version: 2\nurls: []", "version"),
        ("urls: json://x", "must be a list"),
        ("urls:\n  - nosuchscheme://x", "entry #1"),
    ],
)
def test_bad_config_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "apprise.yaml"
    path.write_text(text)
    with pytest.raises(AppriseConfigError, match=message):
        load_config(path)


def test_missing_and_empty_config(tmp_path: Path) -> None:
    with pytest.raises(AppriseConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("")
    assert len(build_apprise(tmp_path / "empty.yaml")) == 0
