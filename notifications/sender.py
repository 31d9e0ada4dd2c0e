"""The sweep's sender: one recorded digest in, one Apprise delivery (with fallback) out.

Which target a recipient's digest goes to, first match wins:

1. the staff row's own `notify_url` (tag `staff-<id>`);
2. a target tagged `staff-<id>` in the Apprise YAML;
3. e-mail to the address the feed gave the person, through `ILP_SMTP_URL` when it is set
   (`notifications.mail`), with no per-person configuration;
4. a YAML target for one of the person's roles: `role-<role>-school-<school_id>`, then
   `role-<role>`;
5. the default notify URL template (settings `default_notify_url`, e.g. the local sink's
   `json://127.0.0.1:8701/staff/{staff_id}`).

The fallback after N failed attempts: the row's `fallback_url` (`fallback-staff-<id>`), else a
YAML target tagged `fallback-staff-<id>`, else the YAML catch-all `fallback`.

A target that takes HTML (e-mail: Apprise then adds the text part) gets the HTML digest; the
others (the local sink, chat webhooks) the plain-text one. Both list at most `digest_max_items`
items. Each digest gets its own small Apprise object holding only its targets (the YAML is
parsed once per sender), so thousands of staff cost nothing extra. No database, no Prefect here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Protocol

import apprise

from notifications.apprise_config import (
    FALLBACK_TAG,
    InvalidTargetError,
    add_staff_target,
    build_apprise,
    configured_tags,
    fallback_tag,
    role_tag,
    staff_tag,
)
from notifications.deliver import DeliveryResult, send_digest
from notifications.digest import Digest, layout
from notifications.links import LinkBuilder
from notifications.mail import MailConfigError, mail_url
from notifications.render import RenderedMessage, render_digest


class SenderConfig(Protocol):
    """What the sender reads from `services.sweep.SweepConfig` (a layer above this one)."""

    @property
    def secret_key(self) -> str: ...
    @property
    def base_url(self) -> str: ...
    @property
    def link_ttl_days(self) -> int: ...
    @property
    def apprise_config(self) -> str | None: ...
    @property
    def default_notify_url(self) -> str | None: ...
    @property
    def attempts(self) -> int: ...
    @property
    def backoff(self) -> float: ...
    @property
    def backoff_factor(self) -> float: ...
    @property
    def smtp_url(self) -> str | None: ...
    @property
    def mail_from(self) -> str: ...
    @property
    def digest_max_items(self) -> int: ...


class Addressee(Protocol):
    """Who a digest goes to, as `services.sweep.Recipient` describes them."""

    @property
    def staff_id(self) -> int: ...
    @property
    def roles(self) -> tuple[str, ...]: ...
    @property
    def school_id(self) -> int | None: ...
    @property
    def notify_url(self) -> str | None: ...
    @property
    def fallback_url(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


class OutgoingDigest(Protocol):
    """One digest to send, as `services.sweep.Outgoing` carries it."""

    @property
    def digest(self) -> Digest: ...
    @property
    def recipient(self) -> Addressee: ...
    @property
    def now(self) -> datetime: ...
    @property
    def ack_pause_days(self) -> int: ...
    @property
    def delivery_id(self) -> int: ...


class AppriseSender:
    """Callable `sender(outgoing) -> DeliveryResult` for `services.sweep.run_sweep`.

    `config` is a `services.sweep.SweepConfig` (secret, base URL, Apprise YAML path, default URL
    template, attempts and backoff). `sleep` is injectable so tests can make the backoff instant.
    """

    def __init__(
        self, config: SenderConfig, *, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.config = config
        self.sleep = sleep
        self._yaml = build_apprise(config.apprise_config) if config.apprise_config else None
        self._yaml_tags = configured_tags(self._yaml) if self._yaml is not None else set()
        self._lock = threading.Lock()

    def _add_yaml(self, apobj: apprise.Apprise, tag: str) -> bool:
        if self._yaml is None or tag not in self._yaml_tags:
            return False
        with self._lock:
            servers = list(self._yaml.find(tag, match_always=False))
        for server in servers:
            apobj.add(server)
        return bool(servers)

    def targets(self, recipient: Addressee) -> tuple[apprise.Apprise, str, str | None]:
        """(Apprise object, primary tag, fallback tag or None) for one recipient."""
        apobj = apprise.Apprise()
        sid = int(recipient.staff_id)
        primary = staff_tag(sid)
        placed = False
        if recipient.notify_url:
            try:
                add_staff_target(apobj, sid, recipient.notify_url)
                placed = True
            except InvalidTargetError:
                placed = False
        if not placed:
            placed = self._add_yaml(apobj, primary)
        if not placed and self.config.smtp_url and recipient.email:
            try:
                add_staff_target(
                    apobj,
                    sid,
                    mail_url(self.config.smtp_url, recipient.email, self.config.mail_from),
                )
                placed = True
            except (InvalidTargetError, MailConfigError):
                placed = False
        if not placed:
            for role in recipient.roles:
                candidates = [role_tag(role)]
                if recipient.school_id is not None:
                    candidates.insert(0, role_tag(role, recipient.school_id))
                for tag in candidates:
                    if self._add_yaml(apobj, tag):
                        primary, placed = tag, True
                        break
                if placed:
                    break
        if not placed and self.config.default_notify_url:
            add_staff_target(apobj, sid, self.config.default_notify_url.format(staff_id=sid))
        fallback: str | None = None
        if recipient.fallback_url:
            try:
                fallback = add_staff_target(apobj, sid, recipient.fallback_url, fallback=True)
            except InvalidTargetError:
                fallback = None
        if fallback is None and self._add_yaml(apobj, fallback_tag(sid)):
            fallback = fallback_tag(sid)
        if fallback is None and self._add_yaml(apobj, FALLBACK_TAG):
            fallback = FALLBACK_TAG
        return apobj, primary, fallback

    def render(self, outgoing: OutgoingDigest) -> RenderedMessage:
        """The digest with freshly signed links: title, plain-text and HTML body. Only the
        listed items get links; "acknowledge all" signs the delivery row, not the ids."""
        links = LinkBuilder.with_ttl(
            self.config.secret_key,
            self.config.base_url,
            now=outgoing.now,
            ttl_days=self.config.link_ttl_days,
        )
        digest = outgoing.digest
        shown = layout(digest, self.config.digest_max_items)
        listed = [i.step_id for g in (*shown.groups, *shown.top) for i in g.items]
        digest = replace(
            digest,
            links=links.for_digest(
                digest.recipient_staff_id,
                digest.items,
                delivery_id=outgoing.delivery_id,
                report=bool(digest.summarise_by),
                shown=listed,
            ),
        )
        return render_digest(
            digest,
            ack_pause_days=outgoing.ack_pause_days,
            max_items=self.config.digest_max_items,
        )

    def __call__(self, outgoing: OutgoingDigest) -> DeliveryResult:
        message = self.render(outgoing)
        apobj, primary, fallback = self.targets(outgoing.recipient)
        html = message.html is not None and takes_html(apobj, primary)
        return send_digest(
            apobj,
            message.title,
            message.html if html and message.html is not None else message.body,
            body_format=apprise.NotifyFormat.HTML if html else apprise.NotifyFormat.TEXT,
            tag=primary,
            fallback_tag=fallback,
            attempts=self.config.attempts,
            backoff=self.config.backoff,
            backoff_factor=self.config.backoff_factor,
            sleep=self.sleep,
        )


def takes_html(apobj: apprise.Apprise, tag: str) -> bool:
    """Whether every target under `tag` asks for HTML (Apprise's e-mail does, and then sends
    a text part next to it); the sink and chat webhooks get the plain-text digest."""
    servers = list(apobj.find(tag, match_always=False))
    return bool(servers) and all(
        getattr(server, "notify_format", None) == apprise.NotifyFormat.HTML for server in servers
    )
