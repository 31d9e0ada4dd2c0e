"""Secrets the engine generates for itself, so no installation ever shares a constant one.

The signing secret (action links), the webhook token (POST /enrollments) and the Prefect API
auth string are each read from their ILP_* variable when set, else from a file under
`<data_dir>/secrets/`, created on first use with 32 random bytes (`secrets.token_urlsafe`) and
mode 0600. Creation is atomic (write a private temp file, then `os.link`), so two processes
starting at once end up with the same value.

`secret_weakness` is the one strength rule every process applies before it signs or verifies:
at least 32 characters that do not look typed (estimated entropy of 128 bits or more).
"""

from __future__ import annotations

import math
import os
import secrets
import stat
from collections import Counter
from pathlib import Path

SECRETS_DIR = "secrets"
MIN_LENGTH = 32
MIN_ENTROPY_BITS = 128
WEAK_WORDS = ("changeme", "change-me", "secret", "password", "insecure", "default", "example")


class InsecureSecretError(RuntimeError):
    """A secret is missing, weak or readable by others; the message is one line for the operator."""


def generate_secret() -> str:
    """32 random bytes, URL-safe (43 characters)."""
    return secrets.token_urlsafe(32)


def estimated_entropy_bits(value: str) -> float:
    """Shannon entropy of the characters times the length: a typed or repeated value scores low
    (`"x" * 64` is 0), 32 random bytes in base64 score well above 128."""
    if not value:
        return 0.0
    counts = Counter(value)
    n = len(value)
    per_char = -sum(c / n * math.log2(c / n) for c in counts.values())
    return per_char * n


def secret_weakness(value: str | bytes) -> str | None:
    """Why `value` is not a safe secret, or None if it is."""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else value
    if not text or not text.strip():
        return "is empty"
    if len(text) < MIN_LENGTH:
        return f"is {len(text)} characters; at least {MIN_LENGTH} random ones are needed"
    if any(ch.isspace() for ch in text):
        return "contains spaces"
    lowered = text.lower()
    if any(word in lowered for word in WEAK_WORDS):
        return "contains a guessable word"
    if estimated_entropy_bits(text) < MIN_ENTROPY_BITS:
        return "looks typed or repetitive, not random"
    return None


def check_secret(value: str | bytes, *, name: str, dev_mode: bool) -> None:
    """Raise `InsecureSecretError` (one line): empty, or weak outside dev mode."""
    problem = secret_weakness(value)
    if problem is None:
        return
    if dev_mode and problem != "is empty":
        return
    raise InsecureSecretError(
        f"{name} {problem}; unset it to use the generated one in the data directory, or set "
        "it to `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
    )


def secret_path(data_dir: Path, name: str) -> Path:
    return Path(data_dir) / SECRETS_DIR / name


def load_or_create(data_dir: Path, name: str, make: str | None = None) -> str:
    """The secret stored as `<data_dir>/secrets/<name>`, created (0600) on first use.

    `make` is the value to store when there is none yet (default: `generate_secret()`). A file
    that group or others may read is refused: whoever could read it can sign links.
    """
    path = secret_path(data_dir, name)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        value = make if make is not None else generate_secret()
        temp = path.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(value + "\n")
            try:
                os.link(temp, path)  # atomic; fails if another process got there first
            except FileExistsError:
                pass
        finally:
            temp.unlink(missing_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise InsecureSecretError(
            f"{path} is readable by others (mode {mode:o}); run `chmod 600 {path}` "
            "(or delete it to generate a new one)"
        )
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise InsecureSecretError(f"{path} is empty; delete it to generate a new one")
    return value
