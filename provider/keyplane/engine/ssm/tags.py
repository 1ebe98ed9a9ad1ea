"""Parameter tags: AddTagsToResource, RemoveTagsFromResource, ListTagsForResource
(ResourceType `Parameter`, ResourceId the parameter's name)."""
from __future__ import annotations

from .. import tagging
from ..authz import authorize
from ..errors import ValidationException
from ..registry import operation
from .errors import InvalidResourceId, InvalidResourceType, TooManyTagsError
from .names import NAME_CHARS, canonical, parameter_arn
from .parameters import MAX_TAGS
from .records import load


def _parameter(call, conn, p, action: str, context: dict | None = None):
    if p["ResourceType"] != "Parameter":
        raise InvalidResourceType("The resource type is not valid. keyplane tags only resources of type Parameter.")
    name = p["ResourceId"].strip()
    if not name or not NAME_CHARS.match(name):
        raise InvalidResourceId()
    arn = parameter_arn(call.region, call.account, name)
    authorize(call, action, resource=arn, context=context)
    row = load(conn, call.account, call.region, canonical(name))
    if row is None:
        raise InvalidResourceId()       # the code alone (errors.SERVICES["ssm"].silent)
    call.resource(row.arn, "AWS::SSM::Parameter")
    return row


@operation("ssm", "AddTagsToResource")
def add_tags_to_resource(call, p):
    new = {t["Key"]: t["Value"] for t in p["Tags"]}
    if any(k.lower().startswith("aws:") for k in new):
        raise ValidationException("Tag keys beginning with 'aws:' are reserved for AWS use.")
    with call.store.write() as conn:
        row = _parameter(call, conn, p, "ssm:AddTagsToResource",
                         {"aws:TagKeys": list(new), **{f"aws:RequestTag/{k}": v for k, v in new.items()}})
        if len({**tagging.get_tags(conn, row.arn), **new}) > MAX_TAGS:
            raise TooManyTagsError("The Targets parameter includes too many tags. Remove one or more tags and try "
                                   "the command again.")
        tagging.set_tags(conn, row.arn, new)
    return {}


@operation("ssm", "RemoveTagsFromResource")
def remove_tags_from_resource(call, p):
    with call.store.write() as conn:
        row = _parameter(call, conn, p, "ssm:RemoveTagsFromResource", {"aws:TagKeys": list(p["TagKeys"])})
        tagging.remove_tags(conn, row.arn, p["TagKeys"])
    return {}


@operation("ssm", "ListTagsForResource", readonly=True)
def list_tags_for_resource(call, p):
    with call.store.read() as conn:
        row = _parameter(call, conn, p, "ssm:ListTagsForResource")
        tags = tagging.get_tags(conn, row.arn)
    return {"TagList": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
