"""E-mail by default: the Apprise URL that delivers one person's digest through `ILP_SMTP_URL`.

`ILP_SMTP_URL` is either a plain SMTP server URL or an Apprise e-mail URL:

- `smtp://[user:password@]host[:port]`        no TLS (port 25), e.g. a relay on the LAN
- `smtp+starttls://user:password@host[:port]`  STARTTLS (port 587)
- `smtps://user:password@host[:port]`          TLS from the start (port 465)
- `mailto://...` or `mailtos://...`            Apprise's own e-mail URL; `{email}` in it is
  replaced by the recipient's address, otherwise `to=<address>` is added

Pure: string work only; Apprise parses the result (`notifications.sender`).
"""

from __future__ import annotations

from urllib.parse import quote, unquote, urlsplit

SCHEMES = {  # ILP_SMTP_URL scheme: (Apprise scheme, mode, default port)
    "smtp": ("mailto", "", 25),
    "smtp+starttls": ("mailtos", "starttls", 587),
    "smtps": ("mailtos", "ssl", 465),
}


class MailConfigError(ValueError):
    """`ILP_SMTP_URL` is not a URL this module understands (the message never echoes it)."""


def _q(value: str) -> str:
    return quote(value, safe="@")


def mail_url(smtp_url: str, email: str, mail_from: str = "") -> str:
    """The Apprise URL sending to `email` through the server `smtp_url` describes."""
    smtp_url = smtp_url.strip()
    email = email.strip()
    if not email or "@" not in email:
        raise MailConfigError("the staff member has no usable e-mail address")
    scheme = smtp_url.split("://", 1)[0].lower() if "://" in smtp_url else ""
    if scheme in ("mailto", "mailtos"):
        if "{email}" in smtp_url:
            return smtp_url.replace("{email}", _q(email))
        joiner = "&" if "?" in smtp_url else "?"
        return f"{smtp_url}{joiner}to={_q(email)}"
    if scheme not in SCHEMES:
        raise MailConfigError(
            f"ILP_SMTP_URL: scheme {scheme or '?'!r} is not one of smtp, smtp+starttls, smtps, "
            "mailto, mailtos"
        )
    apprise_scheme, mode, default_port = SCHEMES[scheme]
    parts = urlsplit(smtp_url)
    if not parts.hostname:
        raise MailConfigError("ILP_SMTP_URL names no host")
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    sender = mail_from.strip() or (user if "@" in user else f"ilp@{parts.hostname}")
    params = [f"to={_q(email)}", f"from={_q(sender)}"]
    if user:
        params.append(f"user={_q(user)}")
    if password:
        params.append(f"pass={quote(password, safe='')}")
    if mode:
        params.append(f"mode={mode}")
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{apprise_scheme}://{host}:{parts.port or default_port}?{'&'.join(params)}"
