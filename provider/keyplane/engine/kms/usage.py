"""When a KMS key was last used: GetKeyLastUsage, and the kms:TrailingDaysWithoutKeyUsage
condition key that DisableKey and ScheduleKeyDeletion offer key policies.

A use is a successful call of a cryptographic operation (those marked `tracks_use`: Encrypt,
Decrypt, ReEncrypt (both keys), the GenerateDataKey* family, Sign, Verify, GenerateMac, VerifyMac,
DeriveSharedSecret ...). The audit trail keeps each key's newest one as it writes the records
(audit.py `last_use`), so Encrypt pays nothing for it and every server on a store sees the same
answer; AWS allows the record up to an hour to appear, keyplane's is there with the next flush.
"""
from __future__ import annotations

import math

from ..authz import authorize
from ..registry import operation
from .model import Key, dt, resolve_key

DAY = 86400.0


def last_use(call, key: Key) -> dict | None:
    return call.engine.audit.last_use(call.store, key.arn)


def tracking_start(call, key: Key) -> float:
    """TrackingStartDate: "the date from which KMS began recording cryptographic activity for this
    key, or the date the KMS key was created, whichever is later"."""
    return max(key.creation_date, call.engine.audit.uses_tracked_since(call.store))


@operation("kms", "GetKeyLastUsage", readonly=True)
def get_key_last_usage(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, "kms:GetKeyLastUsage", key=key)
    used = last_use(call, key)
    usage = {}
    if used is not None:
        # the CloudTrail event's time, which is to the second
        usage = {"Operation": used["event_name"], "Timestamp": dt(float(math.floor(used["event_time"]))),
                 "CloudTrailEventId": used["event_id"]}
        if used["request_id"]:
            usage["KmsRequestId"] = used["request_id"]
    return {"KeyId": key.key_id, "KeyLastUsage": usage, "TrackingStartDate": dt(tracking_start(call, key)),
            "KeyCreationDate": dt(key.creation_date)}


def days_without_use(call, key: Key) -> int:
    """kms:TrailingDaysWithoutKeyUsage: whole days since the key's last use, or, never used since
    tracking began, since the key was created or tracking began, whichever is later."""
    used = last_use(call, key)
    since = used["event_time"] if used is not None else tracking_start(call, key)
    return max(0, int((call.now.timestamp() - since) // DAY))


def unused_days_condition(call, key: Key) -> dict:
    """The condition key, computed only if a policy asks for it."""
    return {"kms:TrailingDaysWithoutKeyUsage": lambda: days_without_use(call, key)}
