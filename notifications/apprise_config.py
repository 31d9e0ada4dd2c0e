"""Apprise targets: who gets a message, as Apprise's own YAML config with tags.

Tag convention (see notifications/README.md):

- `staff-<id>`                       one person (a staff row's id)
- `role-<role>`                      everyone holding a role, district-wide
- `role-<role>-school-<school_id>`   a role at one school (e.g. `role-principal-school-3`)
- `fallback-staff-<id>`              where a person's messages go when their own target fails
- `fallback`                         the catch-all fallback

Apprise tags are lower case (`[a-z0-9_-]`); the helpers below build them. A staff row's own
notify URL (e.g. `mailto://...` or `json://127.0.0.1:8701/messages`) is added at runtime with
`add_staff_target`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import apprise
import yaml

from lifecycle.types import Role

FALLBACK_TAG = "fallback"


class AppriseConfigError(ValueError):
    """The Apprise YAML file is missing or not in Apprise's YAML format."""


class InvalidTargetError(ValueError):
    """Apprise does not understand a notify URL."""


# -- tags ----------------------------------------------------------------------------------------
def staff_tag(staff_id: int) -> str:
    return f"staff-{int(staff_id)}"


def role_tag(role: Role | str, school_id: int | None = None) -> str:
    name = str(role.value if isinstance(role, Role) else role).strip().lower()
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise ValueError(f"role {role!r} cannot be used in a tag")
    return f"role-{name}" if school_id is None else f"role-{name}-school-{int(school_id)}"


def fallback_tag(staff_id: int | None = None) -> str:
    return FALLBACK_TAG if staff_id is None else f"fallback-staff-{int(staff_id)}"


# -- loading -------------------------------------------------------------------------------------
def _validate_yaml(text: str, source: str) -> None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise AppriseConfigError(f"{source}: not valid YAML: {exc}") from exc
    if data is None:
        return  # an empty file: no targets, which is allowed
    if not isinstance(data, dict):
        raise AppriseConfigError(f"{source}: expected a mapping with 'version: 1' and 'urls:'")
    if data.get("version", 1) != 1:
        raise AppriseConfigError(f"{source}: Apprise YAML 'version' must be 1")
    urls = data.get("urls", [])
    if not isinstance(urls, list):
        raise AppriseConfigError(f"{source}: 'urls' must be a list")
    for no, entry in enumerate(urls, start=1):
        if isinstance(entry, dict):
            if len(entry) != 1:
                raise AppriseConfigError(
                    f"{source}: urls entry #{no} must be one 'url: options' pair"
                )
            url = next(iter(entry))
        else:
            url = entry
        if not isinstance(url, str) or apprise.Apprise.instantiate(url) is None:
            raise AppriseConfigError(f"{source}: urls entry #{no}: Apprise cannot use {url!r}")


def load_config(config_path: str | Path) -> apprise.AppriseConfig:
    """Read an Apprise YAML file (Apprise's own format), checking it first for clear errors."""
    path = Path(config_path)
    if not path.is_file():
        raise AppriseConfigError(f"Apprise config {path} does not exist")
    text = path.read_text(encoding="utf-8")
    _validate_yaml(text, str(path))
    config = apprise.AppriseConfig()
    if text.strip() and not config.add_config(text, format="yaml"):
        raise AppriseConfigError(f"{path}: Apprise could not load this YAML")
    return config


def build_apprise(
    config_path: str | Path | None = None,
    extra_urls: Mapping[str, str | Iterable[str]] | None = None,
    *,
    asset: apprise.AppriseAsset | None = None,
) -> apprise.Apprise:
    """An Apprise object with the YAML config's targets plus `{tag: url(s)}` from `extra_urls`.

    `config_path=None` means no file (e.g. only runtime staff targets).
    """
    apobj = apprise.Apprise(asset=asset)
    if config_path is not None:
        apobj.add(load_config(config_path))
    for tag, urls in (extra_urls or {}).items():
        for url in [urls] if isinstance(urls, str) else list(urls):
            add_target(apobj, url, tag)
    return apobj


# -- runtime targets -----------------------------------------------------------------------------
def add_target(apobj: apprise.Apprise, url: str, tags: str | Iterable[str]) -> bool:
    """Add `url` under `tags`. Returns False if it was already there (nothing added).

    Raises `InvalidTargetError` if Apprise cannot parse the URL.
    """
    tag_list = [tags] if isinstance(tags, str) else list(tags)
    server = apprise.Apprise.instantiate(url, tag=tag_list)
    if server is None:
        # Never echo the URL back: it may carry a password.
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise InvalidTargetError(f"Apprise cannot use this notify URL (scheme {scheme!r})")
    wanted = server.url(privacy=False)  # type: ignore[no-untyped-call]
    for existing in apobj.find(tag_list, match_always=False):
        same_url = existing.url(privacy=False) == wanted  # type: ignore[no-untyped-call]
        if same_url and set(map(str, existing.tags)) >= set(tag_list):
            return False
    apobj.add(server)
    return True


def add_staff_target(
    apobj: apprise.Apprise, staff_id: int, notify_url: str, *, fallback: bool = False
) -> str:
    """Add a staff row's notify URL as `staff-<id>` (or `fallback-staff-<id>`); returns the tag.

    Adding the same URL again is a no-op, so a long-lived Apprise object can be topped up on
    every sweep.
    """
    tag = fallback_tag(staff_id) if fallback else staff_tag(staff_id)
    add_target(apobj, notify_url, tag)
    return tag


def has_target(apobj: apprise.Apprise, tag: str) -> bool:
    """Whether any loaded target carries `tag`."""
    return any(True for _ in apobj.find(tag, match_always=False))


def configured_tags(apobj: apprise.Apprise) -> set[str]:
    """Every tag any loaded target carries (handy for config checks and the admin page)."""
    return {str(t) for server in apobj.find(match_always=True) for t in server.tags}
