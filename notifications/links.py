"""Action links for messages: `{base_url}/a/{token}`. Pure (HMAC only, no clock)."""

from __future__ import annotations

from collections.abc import Iterable
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

    def url(self, staff_id: int, action: str, step_ids: Iterable[int] = ()) -> str:
        token = sign_token(
            self.secret,
            staff_id=staff_id,
            action=action,
            step_ids=tuple(step_ids),
            expires_at=self.expires_at,
        )
        return action_url(self.base_url, token)

    def tasks_url(self, staff_id: int) -> str:
        return self.url(staff_id, "tasks")

    def for_digest(self, staff_id: int, items: Iterable[DigestItem]) -> DigestLinks:
        items = tuple(items)
        step_ids = tuple(dict.fromkeys(item.step_id for item in items))
        per_item = {
            sid: ItemLinks(
                acknowledge=self.url(staff_id, "acknowledge", (sid,)),
                complete=self.url(staff_id, "complete", (sid,)),
                snooze=self.url(staff_id, "snooze", (sid,)),
            )
            for sid in step_ids
        }
        return DigestLinks(
            tasks=self.tasks_url(staff_id),
            items=per_item,
            acknowledge_all=(
                self.url(staff_id, "acknowledge", step_ids) if len(step_ids) > 1 else None
            ),
        )

    def __call__(self, staff_id: int, items: tuple[DigestItem, ...]) -> DigestLinks:
        return self.for_digest(staff_id, items)
