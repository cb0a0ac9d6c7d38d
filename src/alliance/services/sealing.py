"""Secrets kept in the database sealed with the install's secret key (Fernet, AES-128 + HMAC).

Each use has its own key, derived from the secret key and a purpose, so a sealed link can never
be opened as a sealed password and the other way round. A copy of the database without the
secret key opens neither.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken


def _fernet(key: str, purpose: str) -> Fernet:
    digest = hashlib.sha256(f"alliance {purpose}\x00{key}".encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal(key: str, purpose: str, text: str) -> str:
    return _fernet(key, purpose).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(key: str, purpose: str, sealed: str) -> str | None:
    """The text, or None when it was sealed with another key (the secret key was changed)."""
    try:
        return _fernet(key, purpose).decrypt(sealed.encode("ascii")).decode("utf-8")
    except InvalidToken:
        return None
