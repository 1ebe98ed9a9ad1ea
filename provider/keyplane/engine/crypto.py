"""Cryptographic primitives and the symmetric ciphertext format.

Every primitive is `cryptography` (OpenSSL). Symmetric KMS keys are AES-256-GCM.

Ciphertext blob (version 1), all of it authenticated:

    0x01 | flags | account(12) | len+region | len+key id | material id (32) | nonce (12) | ct+tag

The header names the key (so Decrypt needs no KeyId) and the key-material version (so rotated
keys still decrypt old data); it is the GCM associated data together with the canonical encryption
context, so any flipped bit, a truncation or a different context fails authentication. The region
is recorded so a single-Region key's ciphertext is refused elsewhere, while a multi-Region key
(flag bit 0) is looked up by id in whichever Region decrypts it.
"""
from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import InvalidCiphertextException

VERSION = 1
FLAG_MULTI_REGION = 0x01
NONCE_LEN = 12
TAG_LEN = 16
MATERIAL_ID_LEN = 32


_pool = threading.local()


def random_bytes(n: int) -> bytes:
    """Random bytes from the OS CSPRNG, drawn in 4 KiB batches (one syscall per ~300 nonces)."""
    try:
        buf, pos = _pool.buf, _pool.pos
    except AttributeError:
        buf, pos = b"", 0
    if pos + n > len(buf):
        buf, pos = os.urandom(max(4096, n)), 0
        _pool.buf = buf
    _pool.pos = pos + n
    return buf[pos:pos + n]


def random_uuid() -> str:
    """A random (version 4) UUID string, from the batched CSPRNG (uuid.uuid4 costs a syscall)."""
    b = bytearray(random_bytes(16))
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    h = b.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _forget_pool() -> None:   # a forked child must never reuse its parent's random bytes
    _pool.buf, _pool.pos = b"", 0


os.register_at_fork(after_in_child=_forget_pool)


def canonical_context(context: dict | None) -> bytes:
    """The encryption context as AAD: order-independent, exact (case-sensitive) keys and values."""
    if not context:
        return b""
    return json.dumps(sorted(context.items()), ensure_ascii=False, separators=(",", ":")).encode()


@dataclass(frozen=True)
class BlobHeader:
    account: str
    region: str
    key_id: str
    material_id: bytes
    multi_region: bool

    def encode(self) -> bytes:
        region, key_id = self.region.encode(), self.key_id.encode()
        return b"".join([
            bytes([VERSION, FLAG_MULTI_REGION if self.multi_region else 0]),
            self.account.encode().ljust(12, b"\0")[:12],
            bytes([len(region)]), region,
            bytes([len(key_id)]), key_id,
            self.material_id,
        ])


def parse_blob(blob: bytes) -> tuple[BlobHeader, bytes, bytes, bytes]:
    """Split a blob into (header, header bytes, nonce, ciphertext+tag); malformed → InvalidCiphertext."""
    try:
        if blob[0] != VERSION:
            raise ValueError("version")
        flags = blob[1]
        account = blob[2:14].rstrip(b"\0").decode("ascii")
        pos = 14
        rlen = blob[pos]; pos += 1
        region = blob[pos:pos + rlen].decode("ascii"); pos += rlen
        klen = blob[pos]; pos += 1
        key_id = blob[pos:pos + klen].decode("ascii"); pos += klen
        material_id = blob[pos:pos + MATERIAL_ID_LEN]; pos += MATERIAL_ID_LEN
        if len(material_id) != MATERIAL_ID_LEN or len(blob) < pos + NONCE_LEN + TAG_LEN:
            raise ValueError("short")
        header = BlobHeader(account, region, key_id, material_id, bool(flags & FLAG_MULTI_REGION))
        return header, blob[:pos], blob[pos:pos + NONCE_LEN], blob[pos + NONCE_LEN:]
    except (IndexError, ValueError, UnicodeDecodeError):
        raise InvalidCiphertextException("") from None


def seal_blob(aead: AESGCM, header: BlobHeader | bytes, plaintext: bytes, context: dict | None) -> bytes:
    head = header if isinstance(header, bytes) else header.encode()
    nonce = random_bytes(NONCE_LEN)
    return head + nonce + aead.encrypt(nonce, plaintext, head + canonical_context(context))


def open_blob(aead: AESGCM, head: bytes, nonce: bytes, ct: bytes, context: dict | None) -> bytes:
    try:
        return aead.decrypt(nonce, ct, head + canonical_context(context))
    except InvalidTag:
        raise InvalidCiphertextException("") from None


