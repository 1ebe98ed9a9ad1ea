"""KMS key tags: TagResource, UntagResource, ListResourceTags (AWS's tag rules)."""
from __future__ import annotations

from .. import tagging
from ..authz import authorize
from ..errors import TagException
from ..registry import operation
from . import messages
from .model import require_not_pending_deletion, resolve_key
from .paging import page

MAX_TAGS = 50  # https://docs.aws.amazon.com/kms/latest/developerguide/tagging-keys.html


def validate_tags(tags: list[dict]) -> dict[str, str]:
    out: dict[str, str] = {}
    for t in tags:
        k, v = t["TagKey"], t["TagValue"]
        if k.lower().startswith("aws:"):
            raise TagException(messages.RESERVED_TAG_PREFIX)
        if k in out:
            raise TagException(messages.DUPLICATE_TAG_KEYS)
        out[k] = v
    if len(out) > MAX_TAGS:
        raise TagException(messages.TOO_MANY_TAGS)
    return out


@operation("kms", "TagResource")
def tag_resource(call, p):
    # the tags themselves (reserved prefix, duplicates, at most 50) before the key they are for
    new = validate_tags(p["Tags"])
    key = resolve_key(call, p["KeyId"], aliases=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, "kms:TagResource", key=key, context={"aws:TagKeys": list(new),
              **{f"aws:RequestTag/{k}": v for k, v in new.items()}})
    require_not_pending_deletion(key)
    with call.store.write() as conn:
        merged = {**tagging.get_tags(conn, key.arn), **new}
        if len(merged) > MAX_TAGS:
            raise TagException(messages.TOO_MANY_TAGS)
        tagging.set_tags(conn, key.arn, new)
    return {}


@operation("kms", "UntagResource")
def untag_resource(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, "kms:UntagResource", key=key, context={"aws:TagKeys": list(p["TagKeys"])})
    require_not_pending_deletion(key)
    with call.store.write() as conn:
        tagging.remove_tags(conn, key.arn, p["TagKeys"])
    return {}


@operation("kms", "ListResourceTags", readonly=True)
def list_resource_tags(call, p):
    key = resolve_key(call, p["KeyId"], aliases=False)
    call.resource(key.arn, "AWS::KMS::Key", key.account)
    authorize(call, "kms:ListResourceTags", key=key)
    with call.store.read() as conn:
        tags = sorted(tagging.get_tags(conn, key.arn).items())
    chunk, extra = page(tags, p.get("Limit", 50), p.get("Marker"), lambda t: t[0])
    return {"Tags": [{"TagKey": k, "TagValue": v} for k, v in chunk], **extra}
