"""The root key and key material sealed at rest.

Key material never touches a store in plaintext: it is sealed under the store's root key with
AES-256-GCM, the associated data binding the key ARN and the material id, so a sealed blob cannot
be swapped onto another key or material version. The root key comes from (first match):
`KEYPLANE_ROOT_KEY` (base64 of 32 bytes, or a `pkcs11:` URI), or a key file created by `keyplane init` with mode 0600.
A PKCS#11 token can hold it instead (`pkcs11:` sources, hsm.py); root_keys.py picks the source. Each store records a
key-check value, so opening a store with the wrong root key fails loudly instead of corrupting it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT_KEY_ENV = "KEYPLANE_ROOT_KEY"
ROOT_KEY_FILE = "root.key"


class RootKeyError(Exception):
    pass


class RootKey:
    """Seals and unseals small secrets (key material) under a 256-bit root key."""

    def __init__(self, key: bytes, source: str = "memory"):
        if len(key) != 32:
            raise RootKeyError("a root key is 32 bytes")
        self._aead = AESGCM(key)
        self._kcv = hmac.new(key, b"keyplane root key check", hashlib.sha256).hexdigest()[:32]
        self.source = source

    @property
    def check_value(self) -> str:
        return self._kcv

    def seal(self, secret: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(12)
        return b"\x01" + nonce + self._aead.encrypt(nonce, secret, aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        if not sealed or sealed[0] != 1:
            raise RootKeyError("unknown sealed-material format")
        try:
            return self._aead.decrypt(sealed[1:13], sealed[13:], aad)
        except InvalidTag:
            raise RootKeyError("sealed material does not open under this root key") from None


def material_aad(key_arn: str, material_id: str) -> bytes:
    return f"keyplane:v1:{key_arn}:{material_id}".encode()


def write_private(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def create_key_file(path: str) -> bytes:
    """Create a fresh root key file, readable by its owner only. Refuses to overwrite."""
    key = os.urandom(32)
    write_private(path, base64.b64encode(key) + b"\n")
    return key


def read_key_file_raw(path: str) -> bytes:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        raise RootKeyError(f"{path} is readable by others (mode {mode:o}); chmod 600 it")
    with open(path, "rb") as f:
        return f.read().strip()


def read_key_file(path: str) -> bytes:
    return base64.b64decode(read_key_file_raw(path))
