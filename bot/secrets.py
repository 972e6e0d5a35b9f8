"""Secrets at rest: `TRUSTBOT_SECRETS_KEY` is one Fernet key, or several comma-separated for rotation.

The first key encrypts; every key listed decrypts (`cryptography`'s MultiFernet), so a new key is added
in front, stored values are re-encrypted, and then the old key is dropped.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_HINT = "must be one or more comma-separated Fernet keys (Fernet.generate_key(): 44 url-safe base64 characters)"


class SecretUnreadable(Exception):
    """A stored secret no configured key decrypts (the key that wrote it was dropped, or the value was altered)."""


def parse_keys(raw: str) -> list[Fernet]:
    """The Fernet keys in `raw`, first (the encrypting one) first; ValueError naming the problem."""
    parts = [part.strip() for part in raw.split(",") if part.strip()]
    if not parts:
        raise ValueError(KEY_HINT)
    try:
        return [Fernet(part.encode()) for part in parts]
    except (ValueError, TypeError):
        raise ValueError(KEY_HINT) from None


class SecretBox:
    """Encrypts with the first key, decrypts with any."""

    def __init__(self, raw_keys: str) -> None:
        self._fernet = MultiFernet(parse_keys(raw_keys))

    def seal(self, value: str) -> str:
        """The ciphertext of `value`, as text."""
        return self._fernet.encrypt(value.encode()).decode()

    def open(self, sealed: str) -> str:
        """The clear value of `sealed`; `SecretUnreadable` when no key decrypts it."""
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret cannot be decrypted with TRUSTBOT_SECRETS_KEY") from None

    def reseal(self, sealed: str) -> str:
        """`sealed` encrypted again with the first key (after a new key was put in front)."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SecretUnreadable("a stored secret cannot be decrypted with TRUSTBOT_SECRETS_KEY") from None
