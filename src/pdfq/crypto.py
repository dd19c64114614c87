"""Server keys: encryption of PDF passwords while their job may still run (never stored in
clear), and the key that signs webhook calls.

Each key comes from its setting (``PDFQ_SECRET_KEY``, ``PDFQ_WEBHOOK_SECRET``) or, in the
embedded shape, a random key generated once into the data folder (``secret.key``,
``webhook.key``, mode 0600). The encrypted password is wiped when the job ends.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from pdfq.config import Settings


class SecretBox:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, value: str) -> bytes:
        return self._fernet.encrypt(value.encode("utf-8"))

    def decrypt(self, token: bytes) -> str | None:
        """The clear value, or ``None`` if the token was made with another key."""
        try:
            return self._fernet.decrypt(token).decode("utf-8")
        except InvalidToken:
            return None


def _key_file(data_dir: Path, name: str = "secret.key") -> bytes:
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        try:
            os.link(tmp, path)  # first writer wins when processes start together
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def load_secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        raw = settings.secret_key.get_secret_value().encode()
        # Accept any passphrase by deriving a Fernet key from it.
        try:
            return SecretBox(raw)
        except ValueError:
            import base64
            import hashlib

            return SecretBox(base64.urlsafe_b64encode(hashlib.sha256(raw).digest()))
    return SecretBox(_key_file(settings.data_dir))


def load_webhook_secret(settings: Settings) -> bytes:
    """The key that signs webhook calls."""
    if settings.webhook_secret is not None:
        return settings.webhook_secret.get_secret_value().encode()
    return _key_file(settings.data_dir, "webhook.key")
