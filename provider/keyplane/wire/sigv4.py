"""SigV4 verification of incoming requests: who signed it, for which region and service.

Both forms are accepted: the `Authorization: AWS4-HMAC-SHA256 ...` header and the presigned query
string (`X-Amz-Algorithm`, `X-Amz-Credential`, ...). The expected signature is computed from what
arrived (the client's own list of signed headers, its timestamp and credential scope) by
`canonical_request` below, which builds the canonical request as botocore's `SigV4Auth` does:
botocore's path normalisation and quoting, and a test that holds the two equal over generated
requests (tests/unit/test_sigv4.py). botocore's signer itself, built per request around an
`AWSRequest`, cost half of keyplane's CPU per Encrypt. Errors carry AWS's codes and wording; the
caller's protocol layer renders them.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Callable, Container, Iterable, Mapping
from urllib.parse import quote, unquote

from botocore.auth import SIGV4_TIMESTAMP
from botocore.utils import normalize_url_path

from keyplane.engine.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from keyplane.engine.identity import INVALID_TOKEN, Principal

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 604800  # a week, AWS's limit

SIGNATURE_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
                      "Check your AWS Secret Access Key and signing method. "
                      "Consult the service documentation for details.")
MISSING_TOKEN = "Missing Authentication Token"

Lookup = Callable[[str], "tuple[Principal, str, str | None] | None"]


class _Headers(dict):
    """Received headers: lower-case name -> list of values, with the two methods botocore's signer
    uses (`get_all`, case-insensitive `in`). email.message-based HTTPHeaders costs more than the
    rest of the verification together."""

    def get_all(self, name, default=None):
        return dict.get(self, name.lower(), default)

    def __contains__(self, name):
        return dict.__contains__(self, name.lower())

    def __getitem__(self, name):
        return dict.__getitem__(self, name.lower())[0]

    def first(self, name):
        values = dict.get(self, name)
        return values[0] if values else None


def canonical_request(method: str, path: str, query: list[tuple[str, str]], headers: "_Headers",
                      signed: list[str], payload_hash: str) -> str:
    """SigV4's canonical request for the headers the client says it signed, as botocore forms it:
    the path normalised and quoted (safe '/~'), the query's decoded pairs re-quoted (safe '-_.~')
    and sorted, each signed header as `name:value` with runs of whitespace collapsed and repeated
    values joined by ',', names sorted and de-duplicated."""
    canonical_path = "/" if path in ("", "/") else quote(normalize_url_path(path), safe="/~")
    canonical_query = "&".join(f"{k}={v}" for k, v in sorted(
        (quote(k, safe="-_.~"), quote(str(v), safe="-_.~")) for k, v in query)) if query else ""
    names, signed_list = _signed_names(signed)
    lines = []
    for name in names:
        values = dict.get(headers, name) or ()
        if len(values) == 1:
            lines.append(f"{name}:{' '.join(values[0].split())}")
        else:
            lines.append(f"{name}:" + ",".join(" ".join(v.split()) for v in values))
    declared = headers.first("x-amz-content-sha256")
    return "\n".join((method.upper(), canonical_path, canonical_query, "\n".join(lines) + "\n",
                      signed_list, declared if declared is not None else payload_hash))


_SIGNED_NAMES: dict = {}


def _signed_names(signed: list[str]) -> tuple[list[str], str]:
    """(names sorted and de-duplicated, the canonical request's SignedHeaders line); a client
    signs the same headers on every call, so this is worked out once per list."""
    key = tuple(signed)
    hit = _SIGNED_NAMES.get(key)
    if hit is None:
        names = sorted(set(signed))
        hit = (names, ";".join(n.strip() for n in names))
        if len(_SIGNED_NAMES) > 1024:
            _SIGNED_NAMES.clear()
        _SIGNED_NAMES[key] = hit
    return hit


def expected_signature(secret: str, stamp: str, region: str, service: str, canonical: str) -> str:
    """The signature of a canonical request: the string to sign, HMAC'd with the day's signing key."""
    scope = f"{stamp[0:8]}/{region}/{service}/aws4_request"
    to_sign = f"{ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    key = _signing_key(secret, stamp[0:8], region, service)
    return hmac.digest(key, to_sign.encode("utf-8"), "sha256").hex()


_KEYS: dict = {}


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.digest(key, msg.encode("utf-8"), "sha256")


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    # four HMACs derive it, and it only changes daily: kept per (secret, day, Region, service)
    cache_key = (secret, date, region, service)
    key = _KEYS.get(cache_key)
    if key is None:
        key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret}".encode("utf-8"), date), region), service), "aws4_request")
        if len(_KEYS) > 4096:
            _KEYS.clear()
        _KEYS[cache_key] = key
    return key


def _ts(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime(SIGV4_TIMESTAMP)


def _parse_query(query_string: str) -> list[tuple[str, str]]:
    # RFC 3986 decoding (a '+' is a plus): SigV4 canonicalises from the decoded names and values.
    pairs = []
    for part in query_string.split("&") if query_string else ():
        if not part:
            continue
        k, _, v = part.partition("=")
        pairs.append((unquote(k), unquote(v)))
    return pairs


def _as_headers(headers) -> _Headers:
    if isinstance(headers, _Headers):
        return headers
    out = _Headers()
    items = headers.items() if isinstance(headers, Mapping) else headers
    for k, v in items:
        if isinstance(k, bytes):
            k = k.decode("latin-1")
        if isinstance(v, bytes):
            v = v.decode("latin-1")
        out.setdefault(k.lower(), []).append(v)
    return out


def _parse_authorization(value: str) -> dict:
    algorithm, _, rest = value.strip().partition(" ")
    fields = {}
    for part in rest.split(","):
        k, eq, v = part.strip().partition("=")
        if eq:
            fields[k.strip()] = v.strip()
    fields["_algorithm"] = algorithm
    return fields


def headers_from_asgi(raw: list) -> _Headers:
    """An ASGI scope's headers (lower-case byte pairs) as `verify` takes them."""
    out = _Headers()
    for k, v in raw:
        name = k.decode("latin-1")
        values = out.get(name)
        if values is None:
            out[name] = [v.decode("latin-1")]
        else:
            values.append(v.decode("latin-1"))
    return out


def _request_time(headers: _Headers) -> str | None:
    amz = headers.first("x-amz-date")
    if amz:
        return amz
    date = headers.first("date")
    if date:
        try:
            return _ts(parsedate_to_datetime(date))
        except (TypeError, ValueError):
            return None
    return None


_last_stamp: tuple = (None, None)     # requests signed in the same second share their stamp


def _parse_time(stamp: str) -> datetime | None:
    global _last_stamp
    last = _last_stamp
    if stamp == last[0]:
        return last[1]
    when = _parse_stamp(stamp)
    if when is not None:
        _last_stamp = (stamp, when)
    return when


def _parse_stamp(stamp: str) -> datetime | None:
    # YYYYMMDDTHHMMSSZ by hand: strptime costs as much as the HMACs
    if len(stamp) != 16 or stamp[8] != "T" or stamp[15] != "Z" or not (stamp[:8] + stamp[9:15]).isdigit():
        return None
    try:
        return datetime(int(stamp[0:4]), int(stamp[4:6]), int(stamp[6:8]), int(stamp[9:11]),
                        int(stamp[11:13]), int(stamp[13:15]), tzinfo=timezone.utc)
    except ValueError:
        return None


def _check_scope(credential: str, stamp: str, services, regions) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5:
        raise IncompleteSignatureException(
            f"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, "
            f"got '{credential}'")
    akid, date, region, service, term = parts
    if term != "aws4_request":
        raise InvalidSignatureException(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{term}'.")
    if date != stamp[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{date}' != '{stamp[:8]}', from '{stamp}'.")
    named = region.replace("-", "")   # every character alphanumeric or '-'
    if not region or (named and not named.isalnum()) or (regions is not None and region not in regions):
        raise InvalidSignatureException("Credential should be scoped to a valid region. ")
    if services is not None and service not in services:
        expected = sorted(services)[0] if len(services) == 1 else "/".join(sorted(services))
        raise InvalidSignatureException(f"Credential should be scoped to correct service: '{expected}'. ")
    return akid, date, region, service


def _check_skew(signed_at: datetime, stamp: str, now: datetime) -> None:
    age = now - signed_at
    if -MAX_SKEW <= age <= MAX_SKEW:
        return
    if signed_at < now - MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature expired: {stamp} is now earlier than {_ts(now - MAX_SKEW)} ({_ts(now)} - 15 min.)")
    if signed_at > now + MAX_SKEW:
        raise InvalidSignatureException(
            f"Signature not yet current: {stamp} is still later than {_ts(now + MAX_SKEW)} ({_ts(now)} + 15 min.)")


# Headers a signature must cover whenever the request carries them. AWS: "the host and any x-amz-*
# headers are required" in the signed headers (SigV4 canonical request rules); a request whose
# X-Amz-Target is not signed could be retargeted in transit (DescribeKey -> DisableKey).
def _unsigned_required(hdrs: "_Headers", signed: list[str], time_header: str | None) -> str | None:
    if "host" not in signed:
        return "Host"
    if time_header is not None and time_header not in signed:
        return time_header
    for name in hdrs:
        if name.startswith("x-amz-") and name not in signed:
            return name
    return None


class Pending:
    """A request whose headers passed every check; `verify_body` settles the signature.

    When the client declared its payload hash (`x-amz-content-sha256`), the signature is checked
    before the body arrives and the body only has to match that hash; otherwise the signature
    (which covers the body's hash) is checked once the body is in. Either way nothing is trusted
    until `verify_body` returns."""

    def __init__(self, principal: Principal, region: str, service: str, secret: str | None, stamp: str,
                 request: tuple, signature: str, declared_hash: str | None):
        self.principal, self.region, self.service = principal, region, service
        self._secret, self._stamp = secret, stamp   # secret None: a dev-mode key nobody knows the secret of
        self._request = request                     # (method, path, query pairs, headers, signed names)
        self._signature = signature
        self._declared = declared_hash
        # the signature is known good before the body when the client declared its payload hash
        self.signature_checked = declared_hash is not None and self._check(declared_hash)

    def _check(self, body_hash: str) -> bool:
        if self._secret is None:
            if not _is_sha256_hex(self._signature):
                raise IncompleteSignatureException("The signature is not 64 hexadecimal characters.")
            return True
        expected = expected_signature(self._secret, self._stamp, self.region, self.service,
                                      canonical_request(*self._request, body_hash))
        if not hmac.compare_digest(expected, self._signature.lower()):
            raise InvalidSignatureException(SIGNATURE_MISMATCH)
        return True

    def verify_body(self, body: bytes) -> tuple[Principal, str, str]:
        body_hash = hashlib.sha256(body or b"").hexdigest()
        if self._declared is not None:
            if not hmac.compare_digest(self._declared, body_hash):
                raise InvalidSignatureException(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.")
        else:
            self._check(body_hash)
        return self.principal, self.region, self.service


def verify(method: str, path: str, query_string: str, headers, body: bytes, lookup: Lookup,
           now: datetime | None = None, *, services: Iterable[str] | None = None,
           regions: Container[str] | None = None) -> tuple[Principal, str, str]:
    """Verify one request's SigV4 signature; return (principal, region, service) of the signer."""
    return verify_headers(method, path, query_string, headers, lookup, now, services=services,
                          regions=regions).verify_body(body)


def verify_headers(method: str, path: str, query_string: str, headers, lookup: Lookup,
                   now: datetime | None = None, *, services: Iterable[str] | None = None,
                   regions: Container[str] | None = None) -> Pending:
    """Every check SigV4 allows before the body: form, required signed headers, scope (service and
    Region), time, the access key and its session token; the signature itself too when the payload
    hash is declared.

    `headers` is a mapping or a list of (name, value) pairs as received; `lookup(access_key_id)`
    returns (principal, secret, session token or None) or raises the AWS error for a bad key;
    `services`, when given, are the signing names this endpoint answers to, `regions` the Regions
    it serves.
    """
    now = now or datetime.now(timezone.utc)
    if now.tzinfo is not timezone.utc:
        now = now.astimezone(timezone.utc)
    hdrs = _as_headers(headers)
    query = _parse_query(query_string) if query_string else []
    qdict = dict(query)
    if services is not None and not isinstance(services, (set, frozenset)):
        services = set(services)

    auth = hdrs.first("authorization")
    time_header = None
    if auth is not None:
        fields = _parse_authorization(auth)
        amz_date = hdrs.first("x-amz-date")
        stamp = amz_date or _request_time(hdrs)
        time_header = "x-amz-date" if amz_date else "date"
        missing = [f"Authorization header requires '{name}' parameter."
                   for name in ("Credential", "Signature", "SignedHeaders") if not fields.get(name)]
        if stamp is None:
            missing.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
        if fields["_algorithm"] != ALGORITHM and not missing:
            missing.append(f"Unsupported AWS 'algorithm': '{fields['_algorithm']}'.")
        if missing:
            raise IncompleteSignatureException(" ".join(missing) + f" Authorization={auth.split(' ')[0]}")
        credential, signature = fields["Credential"], fields["Signature"]
        signed = fields["SignedHeaders"].lower().split(";")
        token = hdrs.first("x-amz-security-token")
        expires = None
        canonical_query = query
    elif "X-Amz-Algorithm" in qdict or "X-Amz-Credential" in qdict or "X-Amz-Signature" in qdict:
        for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-SignedHeaders", "X-Amz-Date"):
            if not qdict.get(name):
                raise IncompleteSignatureException(
                    f"AWS query-string parameters must include '{name}'. Re-examine the query-string parameters.")
        if qdict["X-Amz-Algorithm"] != ALGORITHM:
            raise IncompleteSignatureException(
                f"Unsupported AWS 'algorithm': '{qdict['X-Amz-Algorithm']}'.")
        credential, signature, stamp = qdict["X-Amz-Credential"], qdict["X-Amz-Signature"], qdict["X-Amz-Date"]
        signed = qdict["X-Amz-SignedHeaders"].lower().split(";")
        token = qdict.get("X-Amz-Security-Token")
        try:
            expires = int(qdict.get("X-Amz-Expires", MAX_PRESIGN_EXPIRES))
        except ValueError:
            raise IncompleteSignatureException("X-Amz-Expires must be a number of seconds.") from None
        if not 0 <= expires <= MAX_PRESIGN_EXPIRES:
            raise IncompleteSignatureException(
                f"X-Amz-Expires must be less than a week (in seconds) that is {MAX_PRESIGN_EXPIRES}")
        # The signature cannot sign itself.
        canonical_query = [(k, v) for k, v in query if k != "X-Amz-Signature"]
    else:
        raise MissingAuthenticationTokenException(MISSING_TOKEN)

    signed_at = _parse_time(stamp)
    if signed_at is None:
        raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. Got '{stamp}'. "
                                           "See http://en.wikipedia.org/wiki/ISO_8601")
    unsigned = _unsigned_required(hdrs, signed, time_header)
    if unsigned == "Host":
        raise IncompleteSignatureException("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
    if unsigned is not None:
        raise IncompleteSignatureException(f"'{unsigned}' must be a 'SignedHeader' in the AWS Authorization.")
    akid, _date, region, service = _check_scope(credential, stamp, services, regions)
    if expires is None:
        _check_skew(signed_at, stamp, now)
    else:
        if signed_at > now + MAX_SKEW:
            _check_skew(signed_at, stamp, now)
        if now > signed_at + timedelta(seconds=expires):
            raise InvalidSignatureException(
                f"Signature expired: {stamp} is now earlier than {_ts(now - timedelta(seconds=expires))} "
                f"({_ts(now)} - {expires} sec.)")

    found = lookup(akid)
    if found is None:
        raise UnrecognizedClientException(INVALID_TOKEN)
    principal, secret, session_token = found
    # A session key is only good with its own token; a long-term key never comes with one.
    # (secret None: a dev-mode key nobody knows the secret of, see identity.UNVERIFIED; a session
    # token with it means a session keyplane would have issued, and no longer knows: refused)
    if (session_token is None) != (token is None) or (
            token is not None and not hmac.compare_digest(token.encode(), session_token.encode())):
        raise UnrecognizedClientException(INVALID_TOKEN)

    declared = hdrs.first("x-amz-content-sha256")
    if declared is not None and not _is_sha256_hex(declared):
        # UNSIGNED-PAYLOAD and the streaming forms are S3's; these APIs always sign the payload
        raise InvalidSignatureException(
            "The provided 'x-amz-content-sha256' header does not match what was computed.")

    return Pending(principal, region, service, secret, stamp, (method, path, canonical_query, hdrs, signed),
                   signature, declared.lower() if declared is not None else None)


def _is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value)
