"""The two long-lived secrets, taken from the settings or generated once into the data folder.

A fresh install must be secure without the operator choosing keys, yet a restart must not change
them: a new `secret_key` would orphan sessions and checkpoints, a new `identifier_key` would make
every stored PESEL/NIP/REGON hash unfindable.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from gateway.config import Settings


@dataclass(frozen=True, slots=True)
class Keys:
    secret: bytes
    previous: tuple[bytes, ...]
    identifier: bytes

    @property
    def all_secrets(self) -> tuple[bytes, ...]:
        """Current first; retired keys still verify what they signed."""
        return (self.secret, *self.previous)

    def sign(self, message: str) -> tuple[str, str]:
        """(key id, MAC) of the message under the current secret. Each kind of thing signed
        starts its message with its own prefix, so no signature stands for another kind."""
        return key_id(self.secret), _mac(self.secret, message)

    def signed(self, signer: str, mac: str, message: str) -> bool:
        """Signed by the key `signer` names, current or retired, compared in constant time."""
        for secret in self.all_secrets:
            if key_id(secret) == signer:
                return hmac.compare_digest(_mac(secret, message), mac)
        return False

    def seal(self, message: str) -> str:
        """The signature as one column: "key id:MAC"."""
        return ":".join(self.sign(message))

    def sealed(self, seal: str | None, message: str) -> bool:
        signer, _, mac = (seal or "").partition(":")
        return self.signed(signer, mac, message)


def _mac(secret: bytes, message: str) -> str:
    return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()


def key_id(key: bytes) -> str:
    """Short public fingerprint so a checkpoint names the key that signed it."""
    return hashlib.sha256(b"gateway-key-id:" + key).hexdigest()[:16]


def load_keys(settings: Settings) -> Keys:
    security = settings.security
    return Keys(
        secret=_configured_or_stored(security.secret_key, settings.data_dir / "secret_key"),
        previous=tuple(k.encode() for k in security.previous_keys if k),
        identifier=_configured_or_stored(
            security.identifier_key, settings.data_dir / "identifier_key"
        ),
    )


def _configured_or_stored(configured: str, path: Path) -> bytes:
    if configured:
        return configured.encode()
    try:
        return path.read_text(encoding="ascii").strip().encode()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(secrets.token_urlsafe(48) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    try:
        # link() fails if the name exists: two processes starting at once agree on one key.
        os.link(staged, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(staged)
    return path.read_text(encoding="ascii").strip().encode()
