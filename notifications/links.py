"""Action links for messages: `{base_url}/a/{token}`. Pure (HMAC only, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifications.digest import DigestItem, DigestLinks, ItemLinks
from notifications.tokens import sign_token


def action_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/a/{token}"


@dataclass(frozen=True)
class LinkBuilder:
    """Signs the links of a digest. Usable directly as `group_into_digests(links=...)`."""

    secret: str | bytes
    base_url: str
    expires_at: datetime

    @classmethod
    def with_ttl(
        cls, secret: str | bytes, base_url: str, *, now: datetime, ttl_days: int
    ) -> LinkBuilder:
        """Links valid for `ttl_days` from `now` (settings.link_ttl_days)."""
        return cls(secret, base_url, now + timedelta(days=ttl_days))

    def url(
        self,
        staff_id: int,
        action: str,
        step_ids: Iterable[int] = (),
        selector: Mapping[str, int] | None = None,
    ) -> str:
        token = sign_token(
            self.secret,
            staff_id=staff_id,
            action=action,
            step_ids=tuple(step_ids),
            expires_at=self.expires_at,
            selector=selector,
        )
        return action_url(self.base_url, token)

    def tasks_url(self, staff_id: int) -> str:
        return self.url(staff_id, "tasks")

    def for_digest(
        self,
        staff_id: int,
        items: Iterable[DigestItem],
        *,
        delivery_id: int | None = None,
        report: bool = False,
        shown: Iterable[int] | None = None,
    ) -> DigestLinks:
        """Links for the actions each item offers (`DigestItem.actions`), for the items
        `shown` (default all). "Acknowledge all" signs the digest's delivery row as a
        selector when `delivery_id` is known (any number of steps), else the step ids."""
        items = tuple(items)
        wanted = None if shown is None else set(shown)
        per_item: dict[int, ItemLinks] = {}
        for item in items:
            if item.step_id in per_item or (wanted is not None and item.step_id not in wanted):
                continue
            offered = set(item.actions)
            per_item[item.step_id] = ItemLinks(
                **{
                    action: self.url(staff_id, action, (item.step_id,))
                    for action in ("acknowledge", "complete", "snooze")
                    if action in offered
                }
            )
        ackable = tuple(
            dict.fromkeys(item.step_id for item in items if "acknowledge" in item.actions)
        )
        acknowledge_all = None
        if len(ackable) > 1:
            acknowledge_all = (
                self.url(staff_id, "acknowledge", selector={"delivery": delivery_id})
                if delivery_id is not None
                else self.url(staff_id, "acknowledge", ackable)
            )
        return DigestLinks(
            tasks=self.tasks_url(staff_id),
            items=per_item,
            acknowledge_all=acknowledge_all,
            report=self.url(staff_id, "report") if report else None,
        )

    def __call__(self, staff_id: int, items: tuple[DigestItem, ...]) -> DigestLinks:
        return self.for_digest(staff_id, items)
