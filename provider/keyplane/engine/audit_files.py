"""CloudTrail's files on disk: gzip-compressed JSON log files of records, and digest files.

Under the audit folder, as CloudTrail lays them out in its bucket ("Finding your CloudTrail log
files", "CloudTrail log file examples", "CloudTrail digest file structure" in the CloudTrail user
guide, https://docs.aws.amazon.com/awscloudtrail/latest/userguide/):

    AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz
    AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/
        <account>_CloudTrail-Digest_<region>_<trail>_<region>_<YYYYMMDDTHHmmssZ>.json.gz

A log file is CloudTrail's `{"Records":[...]}` with one record to a line, each exactly the text
whose hash the store chained, so the chain can be recomputed from the files alone. A digest file's
signature, which CloudTrail keeps in the object's `x-amz-meta-signature`, is the hex text of a
`<digest file>.signature` file beside it. Hash values are SHA-256 of the uncompressed content.
Files are written under a temporary name and renamed when complete, private to keyplane's user.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import secrets
import string
from datetime import datetime, timezone
from typing import Iterator

from .private_dirs import make_private_dirs

_HEAD = b'{"Records":[\n'
_TAIL = b"\n]}\n"
_UNIQUE = string.ascii_letters + string.digits
SIGNATURE_SUFFIX = ".signature"


class LogFileError(Exception):
    """A log file that is not what keyplane wrote: unreadable, truncated, or not framed as one."""


def _name_part(text: str) -> str:
    """An account or Region as it may appear in a path: nothing but letters, digits and '-'."""
    return "".join(c if c.isascii() and (c.isalnum() or c == "-") else "_" for c in str(text)) or "_"


def _day(when: datetime) -> str:
    return when.astimezone(timezone.utc).strftime("%Y/%m/%d")


def log_object(account: str, region: str, when: datetime) -> str:
    """A new log file's key: `when` is the end of the period it closes; 16 random characters keep
    two files of one minute apart, as CloudTrail's UniqueString does."""
    account, region = _name_part(account), _name_part(region)
    unique = "".join(secrets.choice(_UNIQUE) for _ in range(16))
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%MZ")
    return (f"AWSLogs/{account}/CloudTrail/{region}/{_day(when)}/"
            f"{account}_CloudTrail_{region}_{stamp}_{unique}.json.gz")


def digest_object(account: str, region: str, trail: str, when: datetime) -> str:
    account, region, trail = _name_part(account), _name_part(region), _name_part(trail)
    stamp = when.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return (f"AWSLogs/{account}/CloudTrail-Digest/{region}/{_day(when)}/"
            f"{account}_CloudTrail-Digest_{region}_{trail}_{region}_{stamp}.json.gz")


def _private_dirs(folder: str, obj: str) -> str:
    """The path of `obj` in `folder`, every folder on the way made 0700."""
    path = os.path.join(folder, obj)
    make_private_dirs(os.path.dirname(path))
    return path


def _publish(tmp: str, path: str) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, path)


class LogFile:
    """A log file being written: records go in one at a time, `finish` makes it visible."""

    def __init__(self, folder: str, account: str, region: str, period_end: datetime):
        self.object = log_object(account, region, period_end)
        self.period_end = period_end
        self.path = _private_dirs(folder, self.object)
        self._tmp = f"{self.path}.tmp-{os.getpid()}"
        fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self._gz = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)
        self._sha = hashlib.sha256()
        self.count = 0
        self.oldest: float | None = None
        self.newest: float | None = None
        self.ranges: list[list[int]] = []    # [first seq, last seq]: runs of consecutive records
        self.size = 0                        # compressed bytes, once finished
        self.hash_value = ""
        self._write(_HEAD)

    def _write(self, data: bytes) -> None:
        self._sha.update(data)
        self._gz.write(data)

    def add(self, seq: int, when: float, body: bytes) -> None:
        """Append the record at `seq` (records come in chain order)."""
        self._write(body if not self.count else b",\n" + body)
        if self.ranges and self.ranges[-1][1] == seq - 1:
            self.ranges[-1][1] = seq
        else:
            self.ranges.append([seq, seq])
        self.count += 1
        self.oldest = when if self.oldest is None else min(self.oldest, when)
        self.newest = when if self.newest is None else max(self.newest, when)

    def finish(self) -> "LogFile":
        self._write(_TAIL)
        self._gz.close()
        self._raw.close()
        self.size = os.path.getsize(self._tmp)
        self.hash_value = self._sha.hexdigest()
        _publish(self._tmp, self.path)
        return self

    def abort(self) -> None:
        for closing in (self._gz, self._raw):
            try:
                closing.close()
            except Exception:  # noqa: BLE001 - abandoning the file whatever state it is in
                pass
        for path in (self._tmp, self.path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


def read_records(path: str) -> Iterator[bytes]:
    """The records of a log file, each as the exact text the chain hashed (LogFileError if the
    file is not a whole log file as keyplane writes them)."""
    try:
        with gzip.open(path, "rb") as f:
            if f.readline() != _HEAD:
                raise LogFileError(f"{path}: not a CloudTrail log file")
            for line in f:
                if line == b"]}\n":
                    if f.read(1):
                        raise LogFileError(f"{path}: data after the end of the records")
                    return
                if not line.endswith(b"\n"):
                    break
                body = line[:-1]
                yield body[:-1] if body.endswith(b",") else body
    except (OSError, EOFError) as exc:     # gzip.BadGzipFile and zlib errors are OSErrors
        raise LogFileError(f"{path}: {exc}") from exc
    raise LogFileError(f"{path}: the file ends before its records do")


def content_hash(path: str) -> str:
    """SHA-256 (hex) of a gzip file's uncompressed content."""
    sha = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                sha.update(chunk)
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise LogFileError(f"{path}: {exc}") from exc
    return sha.hexdigest()


def write_digest(folder: str, obj: str, body: bytes, signature: str) -> None:
    path = _private_dirs(folder, obj)
    for target, data, compress in ((path, body, True), (path + SIGNATURE_SUFFIX, signature.encode(), False)):
        tmp = f"{target}.tmp-{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(gzip.compress(data, compresslevel=6, mtime=0) if compress else data)
        _publish(tmp, target)


def read_digest(folder: str, obj: str) -> tuple[bytes, str | None]:
    """(uncompressed digest file, its signature or None if the signature file is gone)."""
    path = os.path.join(folder, obj)
    try:
        with gzip.open(path, "rb") as f:
            body = f.read()
    except (EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise LogFileError(f"{path}: {exc}") from exc
    try:
        with open(path + SIGNATURE_SUFFIX, encoding="ascii", errors="replace") as f:
            signature = f.read().strip()
    except FileNotFoundError:
        signature = None
    return body, signature
