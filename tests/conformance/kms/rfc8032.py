"""Ed25519ph verification straight from RFC 8032 (sections 5.1 and 5.1.7), in plain integers and
hashlib: an oracle for the tests that shares no code with keyplane (which signs with libsodium).
Slow and not constant-time, which is fine for checking a handful of signatures.
https://www.rfc-editor.org/rfc/rfc8032#section-5.1
"""
from __future__ import annotations

import hashlib

P = 2 ** 255 - 19
L = 2 ** 252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)
# dom2(phflag=1, context=""): what makes Ed25519ph signatures differ from pure Ed25519 ones
DOM2_PH = b"SigEd25519 no Ed25519 collisions" + bytes([1, 0])


def _add(a, b):
    """Points in extended coordinates (X, Y, Z, T), x = X/Z, y = Y/Z, x*y = T/Z (RFC 8032 5.1.4)."""
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % P
    bb = (y1 + x1) * (y2 + x2) % P
    cc = 2 * t1 * t2 * D % P
    dd = 2 * z1 * z2 % P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % P, g * h % P, f * g % P, e * h % P


def _multiply(scalar: int, point):
    result = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _decode(s: bytes):
    """RFC 8032 5.1.3; None if `s` encodes no point."""
    if len(s) != 32:
        return None
    y = int.from_bytes(s, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P or (x == 0 and sign):
        return None
    if x & 1 != sign:
        x = P - x
    return x, y, 1, x * y % P


def _encode(point) -> bytes:
    x, y, z, _ = point
    zi = pow(z, P - 2, P)
    x, y = x * zi % P, y * zi % P
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


_BY = 4 * pow(5, P - 2, P) % P
BASE = _decode(_BY.to_bytes(32, "little"))


def ed25519ph_verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """Ed25519ph (RFC 8032 5.1.7 with PH = SHA-512, empty context): does `signature` sign `message`?"""
    a = _decode(public)
    if a is None or len(signature) != 64:
        return False
    r = _decode(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if r is None or s >= L:
        return False
    prehashed = hashlib.sha512(message).digest()
    k = int.from_bytes(hashlib.sha512(DOM2_PH + signature[:32] + public + prehashed).digest(), "little") % L
    return _encode(_multiply(s, BASE)) == _encode(_add(r, _multiply(k, a)))
