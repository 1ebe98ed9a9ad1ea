"""PKCS#11 tokens (through python-pkcs11): the sessions keyplane holds on them, AES keys generated
and used inside them, and an engine root key that never leaves its token.

A token is named by its module (the PKCS#11 library, e.g. SoftHSM2's libsofthsm2.so) and its label.
PKCS#11 logs in per application and token, so this process keeps one `TokenSession` per token and
serialises the operations on it. A module loads once per process; a token created after that (say
with `softhsm2-util --init-token`) is found by re-initialising the module, after which every
session is re-opened on its next use.

Root key URIs (`keyplane init --root-key pkcs11:...`), RFC 7512 attribute names or short ones:

    pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=keyplane;object=keyplane-root-key?pin-value=1234

`module`/`module-path`, `token`, `object` (default `keyplane-root-key`), and the user PIN as
`pin`/`pin-value`, or `pin-source` = a file holding it or `env:VAR`. The root key is an AES-256 key
created in the token on first use as sensitive and non-extractable; sealing and unsealing run in
the token (AES-GCM), so the root key is never in this process's memory. Its `source` (printed by
`keyplane init`, written to the state folder) never includes the PIN value.
"""
from __future__ import annotations

import os
import threading
from urllib.parse import unquote

from . import extras
from .sealing import RootKey, RootKeyError

DEFAULT_ROOT_OBJECT = "keyplane-root-key"
NONCE_LEN = 12


class TokenError(Exception):
    """A token could not be reached or used; `code` is the custom-key-store ConnectionErrorCode."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class TokenDecryptError(Exception):
    """The token refused a decryption: wrong key, context or a tampered ciphertext."""


def _pkcs11():
    try:
        import pkcs11
    except ImportError:
        raise TokenError("INTERNAL_ERROR", extras.message("pkcs11", "A PKCS#11 token")) from None
    return pkcs11


_lock = threading.RLock()
_generations: dict[str, int] = {}          # module path -> times re-initialised
_sessions: dict[tuple[str, str], "TokenSession"] = {}


def load_module(path: str):
    """The PKCS#11 module at `path`, initialised (once per process)."""
    pkcs11 = _pkcs11()
    if not path or not os.path.isfile(path):
        raise TokenError("NETWORK_ERRORS", f"PKCS#11 module {path!r} does not exist")
    try:
        return pkcs11.lib(path)
    except Exception as exc:
        raise TokenError("NETWORK_ERRORS", f"PKCS#11 module {path} could not be loaded: {exc}") from None


def find_token(module_path: str, label: str):
    """The token labelled `label`, re-scanning the module once if it is not (yet) known."""
    pkcs11 = _pkcs11()
    lib = load_module(module_path)
    with _lock:
        for attempt in (0, 1):
            try:
                return lib.get_token(token_label=label)
            except pkcs11.exceptions.NoSuchToken:
                if attempt:
                    break
                lib.reinitialize()            # tokens created since the module loaded appear now
                _generations[module_path] = _generations.get(module_path, 0) + 1
            except pkcs11.exceptions.MultipleTokensReturned:
                raise TokenError("CLUSTER_NOT_FOUND", f"more than one token is labelled {label!r}") from None
    raise TokenError("CLUSTER_NOT_FOUND", f"no token labelled {label!r} in {module_path}")


def token_ready(module_path: str, label: str) -> bool:
    """Whether the token is initialised and has a user PIN (a crypto user can log in)."""
    from pkcs11 import TokenFlag
    flags = find_token(module_path, label).flags
    return bool(flags & TokenFlag.TOKEN_INITIALIZED) and bool(flags & TokenFlag.USER_PIN_INITIALIZED)


class TokenSession:
    """A logged-in session on one token; every operation on it holds its lock."""

    def __init__(self, module_path: str, label: str, pin: str):
        self.module_path, self.label, self._pin = module_path, label, pin
        self._lock = threading.RLock()
        self._session = None
        self._generation = -1
        self._keys: dict[bytes, object] = {}

    def _open(self):
        pkcs11 = _pkcs11()
        if self._session is not None and self._generation == _generations.get(self.module_path, 0):
            return self._session
        self._session, self._keys = None, {}
        token = find_token(self.module_path, self.label)
        try:
            session = token.open(user_pin=self._pin, rw=True)
        except pkcs11.exceptions.UserAlreadyLoggedIn:
            session = token.open(rw=True)        # login is per token: another session holds it
        except pkcs11.exceptions.PinLocked:
            raise TokenError("USER_LOCKED_OUT", f"the user PIN of token {self.label!r} is locked") from None
        except (pkcs11.exceptions.PinIncorrect, pkcs11.exceptions.PinInvalid, pkcs11.exceptions.PinLenRange):
            raise TokenError("INVALID_CREDENTIALS", f"the PIN for token {self.label!r} is incorrect") from None
        except pkcs11.exceptions.UserPinNotInitialized:
            raise TokenError("USER_NOT_FOUND", f"token {self.label!r} has no user PIN") from None
        except pkcs11.exceptions.PKCS11Error as exc:
            raise TokenError("NETWORK_ERRORS", f"token {self.label!r} is not reachable: {type(exc).__name__}") from None
        self._session, self._generation = session, _generations.get(self.module_path, 0)
        return session

    def _run(self, fn):
        """Run fn(session) on a live session, re-opening once if the token dropped it."""
        pkcs11 = _pkcs11()
        with self._lock:
            for attempt in (0, 1):
                session = self._open()
                try:
                    return fn(session)
                except (pkcs11.exceptions.SessionHandleInvalid, pkcs11.exceptions.SessionClosed,
                        pkcs11.exceptions.UserNotLoggedIn, pkcs11.exceptions.DeviceRemoved,
                        pkcs11.exceptions.TokenNotPresent, pkcs11.exceptions.ObjectHandleInvalid,
                        pkcs11.exceptions.KeyHandleInvalid) as exc:
                    self._session = None
                    if attempt:
                        raise TokenError("NETWORK_ERRORS", f"token {self.label!r} dropped the session: "
                                                           f"{type(exc).__name__}") from None

    def check(self) -> None:
        """Log in now (ConnectCustomKeyStore): raises TokenError with the reason it cannot."""
        self._run(lambda s: s.generate_random(8))

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                try:
                    self._session.close()            # logs the user out
                except Exception:
                    pass
            self._session, self._keys = None, {}

    # ---- keys ---------------------------------------------------------------------------------
    def generate_aes_key(self, key_id: bytes, label: str) -> None:
        """A 256-bit AES key inside the token: token object, sensitive, never extractable."""
        from pkcs11 import Attribute, KeyType

        def gen(s):
            s.generate_key(KeyType.AES, 256, id=key_id, label=label, store=True,
                           template={Attribute.SENSITIVE: True, Attribute.EXTRACTABLE: False,
                                     Attribute.PRIVATE: True, Attribute.ENCRYPT: True, Attribute.DECRYPT: True,
                                     Attribute.WRAP: False, Attribute.UNWRAP: False})
        self._run(gen)

    def _key(self, s, key_id: bytes):
        key = self._keys.get(key_id)
        if key is None:
            from pkcs11 import KeyType, ObjectClass
            key = s.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES, id=key_id)
            self._keys[key_id] = key
        return key

    def has_key(self, key_id: bytes) -> bool:
        pkcs11 = _pkcs11()

        def look(s):
            try:
                self._key(s, key_id)
                return True
            except pkcs11.exceptions.NoSuchKey:
                return False
        return self._run(look)

    def destroy_key(self, key_id: bytes) -> bool:
        pkcs11 = _pkcs11()

        def destroy(s):
            try:
                self._key(s, key_id).destroy()
            except pkcs11.exceptions.NoSuchKey:
                return False
            self._keys.pop(key_id, None)
            return True
        return self._run(destroy)

    def destroy_labelled(self, label: str) -> int:
        from pkcs11 import Attribute

        def destroy(s):
            found = list(s.get_objects({Attribute.LABEL: label}))
            for obj in found:
                obj.destroy()
            self._keys.clear()
            return len(found)
        return self._run(destroy)

    def encrypt(self, key_id: bytes, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """AES-GCM in the token: ciphertext with its 16-byte tag appended."""
        from pkcs11 import GCMParams, Mechanism
        return self._run(lambda s: self._key(s, key_id).encrypt(
            data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, 128)))

    def decrypt(self, key_id: bytes, nonce: bytes, ct: bytes, aad: bytes) -> bytes:
        pkcs11 = _pkcs11()
        from pkcs11 import GCMParams, Mechanism

        def dec(s):
            key = self._key(s, key_id)
            try:
                return key.decrypt(ct, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad, 128))
            except (pkcs11.exceptions.GeneralError, pkcs11.exceptions.EncryptedDataInvalid,
                    pkcs11.exceptions.EncryptedDataLenRange, pkcs11.exceptions.DataLenRange,
                    pkcs11.exceptions.FunctionFailed):
                raise TokenDecryptError() from None
        return self._run(dec)

    def check_value(self, key_id: bytes) -> str:
        """The classic key check value: the key's AES encryption of a zero block."""
        from pkcs11 import Mechanism
        return self._run(lambda s: self._key(s, key_id).encrypt(bytes(16), mechanism=Mechanism.AES_ECB)).hex()

    def random(self, n: int) -> bytes:
        return self._run(lambda s: bytes(s.generate_random(n * 8)))


def session_for(module_path: str, label: str, pin: str) -> TokenSession:
    """This process's session on a token (opened lazily); a new PIN replaces the old session."""
    with _lock:
        session = _sessions.get((module_path, label))
        if session is not None and session._pin == pin:
            return session
        if session is not None:
            session.close()
        session = _sessions[(module_path, label)] = TokenSession(module_path, label, pin)
        return session


def close_session(module_path: str, label: str) -> None:
    with _lock:
        session = _sessions.pop((module_path, label), None)
    if session is not None:
        session.close()


class TokenAead:
    """The AESGCM interface (`encrypt`/`decrypt` with nonce, data, aad) over a key in a token, so
    the ciphertext format is the same whether the key is sealed in the store or lives in a token."""

    def __init__(self, session: TokenSession, key_id: bytes):
        self.session, self.key_id = session, key_id

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        return self.session.encrypt(self.key_id, nonce, data, aad or b"")

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes | None) -> bytes:
        from cryptography.exceptions import InvalidTag
        try:
            return self.session.decrypt(self.key_id, nonce, data, aad or b"")
        except TokenDecryptError:
            raise InvalidTag() from None


# ---- PKCS#11 URIs -------------------------------------------------------------------------------
_ALIASES = {"module": "module-path", "pin": "pin-value", "label": "object"}


def parse_uri(uri: str) -> dict[str, str]:
    """The attributes of a `pkcs11:` URI (path and query alike), with short names normalised."""
    if not uri.startswith("pkcs11:"):
        raise ValueError("a PKCS#11 URI starts with 'pkcs11:'")
    out: dict[str, str] = {}
    for part in uri[len("pkcs11:"):].replace("?", ";").replace("&", ";").split(";"):
        if not part.strip():
            continue
        if "=" not in part:
            raise ValueError(f"PKCS#11 URI attribute {part!r} has no value")
        name, value = part.split("=", 1)
        name = name.strip().lower()
        out[_ALIASES.get(name, name)] = unquote(value.strip())
    return out


def _pin_from(attrs: dict) -> str:
    if "pin-value" in attrs:
        return attrs["pin-value"]
    source = attrs.get("pin-source")
    if source is None:
        raise RootKeyError("the pkcs11: root key URI needs the user PIN: pin-value=..., or pin-source=FILE "
                           "or pin-source=env:VAR")
    if source.startswith("env:"):
        value = os.environ.get(source[4:])
        if value is None:
            raise RootKeyError(f"the PIN variable {source[4:]} is not set")
        return value
    path = source[len("file:"):] if source.startswith("file:") else source
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError as exc:
        raise RootKeyError(f"cannot read the PIN from {path}: {exc.strerror}") from None


class TokenRootKey(RootKey):
    """A root key held in a PKCS#11 token: seal/unseal are AES-GCM operations inside the token."""

    def __init__(self, session: TokenSession, key_id: bytes, source: str):
        self._session, self._key_id = session, key_id
        self.source = source
        self._kcv = session.check_value(key_id)[:32]

    def seal(self, secret: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_LEN)
        return b"\x01" + nonce + self._session.encrypt(self._key_id, nonce, secret, aad)

    def unseal(self, sealed: bytes, aad: bytes) -> bytes:
        if not sealed or sealed[0] != 1:
            raise RootKeyError("unknown sealed-material format")
        try:
            return self._session.decrypt(self._key_id, sealed[1:13], sealed[13:], aad)
        except TokenDecryptError:
            raise RootKeyError("sealed material does not open under this root key") from None


def public_source(uri: str) -> str:
    """The URI without a PIN value: what may be printed and written down."""
    attrs = parse_uri(uri)
    attrs.pop("pin-value", None)
    return "pkcs11:" + ";".join(f"{k}={v}" for k, v in attrs.items())


def root_key_from_uri(uri: str) -> RootKey:
    """The engine's root key in a token (created there on first use), from a `pkcs11:` URI."""
    try:
        attrs = parse_uri(uri)
    except ValueError as exc:
        raise RootKeyError(str(exc)) from None
    module, label = attrs.get("module-path"), attrs.get("token")
    if not module or not label:
        raise RootKeyError("the pkcs11: root key URI needs module-path=... and token=...")
    obj = attrs.get("object", DEFAULT_ROOT_OBJECT)
    key_id = b"keyplane-root:" + obj.encode()
    try:
        session = session_for(module, label, _pin_from(attrs))
        if not session.has_key(key_id):
            session.generate_aes_key(key_id, obj)
        return TokenRootKey(session, key_id, public_source(uri))
    except TokenError as exc:
        raise RootKeyError(f"root key token: {exc}") from None
