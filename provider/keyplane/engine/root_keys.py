"""Where a store's root key comes from: an environment variable, a key file made by `keyplane init`
(mode 0600), or a PKCS#11 token (hsm.py) that a `pkcs11:` source or key file names."""
from __future__ import annotations

import base64
import os

from . import hsm
from .sealing import ROOT_KEY_ENV, RootKey, RootKeyError, write_private, create_key_file, read_key_file_raw


def load_root_key(source: str | None, default_file: str | None, create: bool = True) -> RootKey:
    """Resolve a root key. `source` may be `env:VAR`, `file:PATH`, a plain path, `pkcs11:...`, or None
    (then KEYPLANE_ROOT_KEY, base64 of the key or a `pkcs11:` URI, then `default_file`, created on
    first use when `create`)."""
    if source and source.startswith("pkcs11:"):
        key = hsm.root_key_from_uri(source)
        if default_file and create and not os.path.exists(default_file):
            # the state folder remembers where its root key lives, so later runs need no flag
            write_private(default_file, source.encode() + b"\n")
        return key
    if source and source.startswith("env:"):
        var = source[4:]
        value = os.environ.get(var)
        if not value:
            raise RootKeyError(f"root key variable {var} is not set")
        return RootKey(base64.b64decode(value), f"env:{var}")
    if source:
        path = source[5:] if source.startswith("file:") else source
        return _from_key_file(path)
    if os.environ.get(ROOT_KEY_ENV):
        value = os.environ[ROOT_KEY_ENV]
        if value.startswith("pkcs11:"):     # a token every server reaches: no key file on any of them
            return hsm.root_key_from_uri(value)
        return RootKey(base64.b64decode(value), f"env:{ROOT_KEY_ENV}")
    if default_file is None:
        raise RootKeyError("no root key: set KEYPLANE_ROOT_KEY or run `keyplane init`")
    if os.path.exists(default_file):
        return _from_key_file(default_file)
    if not create:
        raise RootKeyError(f"no root key at {default_file}: run `keyplane init`")
    return RootKey(create_key_file(default_file), f"file:{default_file}")


def _from_key_file(path: str) -> RootKey:
    """A key file holds the key, or (`pkcs11:...`) names the token that holds it."""
    raw = read_key_file_raw(path)
    if raw.startswith(b"pkcs11:"):
        return hsm.root_key_from_uri(raw.decode())
    return RootKey(base64.b64decode(raw), f"file:{path}")
