"""bcrypt (cost 12) off the event loop: one hash costs about a quarter second of CPU."""

from __future__ import annotations

import asyncio

import bcrypt

ROUNDS = 12
MAX_PASSWORD_BYTES = 72  # bcrypt ignores (bcrypt 5: refuses) anything longer


def password_too_long(password: str) -> bool:
    """bcrypt reads at most 72 bytes; longer passwords are refused rather than cut."""
    return len(password.encode()) > MAX_PASSWORD_BYTES


class BcryptHasher:
    """Hashes in a worker thread so a login never stalls the sockets of its process."""

    def __init__(self, rounds: int = ROUNDS) -> None:
        self._rounds = rounds
        # Verifying an unknown email against this costs what a real verify costs.
        self._dummy = bcrypt.hashpw(b"dummy password", bcrypt.gensalt(rounds))

    async def hash(self, password: str) -> str:
        if password_too_long(password):
            raise ValueError("password longer than 72 bytes")
        salt = bcrypt.gensalt(self._rounds)
        digest = await asyncio.to_thread(bcrypt.hashpw, password.encode(), salt)
        return digest.decode()

    async def verify(self, password: str, password_hash: str | None) -> bool:
        candidate = password.encode()
        if password_too_long(password):
            # Still spend the time: the answer must not depend on what was looked up.
            candidate, password_hash = b"x", None
        target = password_hash.encode() if password_hash else self._dummy
        matched = await asyncio.to_thread(bcrypt.checkpw, candidate, target)
        return matched and password_hash is not None
