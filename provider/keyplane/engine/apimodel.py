"""botocore's service models: the API spec, read from the installed package, never copied.

The wire layer validates and (de)serialises with these shapes; the engine uses them to decide what
may enter the audit trail (blobs and members marked `sensitive` never do).
"""
from __future__ import annotations

import functools

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

# how each service is named in X-Amz-Target and in botocore
TARGET_PREFIXES = {"TrentService": "kms", "AmazonSSM": "ssm", "secretsmanager": "secretsmanager"}
EVENT_SOURCES = {"kms": "kms.amazonaws.com", "ssm": "ssm.amazonaws.com",
                 "secretsmanager": "secretsmanager.amazonaws.com", "sts": "sts.amazonaws.com"}

_session = None


def botocore_session():
    global _session
    if _session is None:
        _session = botocore.session.get_session()
    return _session


@functools.lru_cache(maxsize=None)
def service_model(service: str) -> ServiceModel:
    return botocore_session().get_service_model(service)


@functools.lru_cache(maxsize=None)
def operation_model(service: str, operation: str) -> OperationModel:
    return service_model(service).operation_model(operation)


def lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


# members that authorise by possession and therefore are as secret as a key
_SECRET_MEMBER_NAMES = {"GrantToken", "GrantTokens", "ImportToken", "SecretAccessKey", "SessionToken",
                        "KeyStorePassword", "RotationToken"}


def audit_view(shape: Shape | None, value):
    """`value` with everything that must not be logged removed: blobs, sensitive shapes and
    possession tokens. Member names become lowerCamel as CloudTrail writes them."""
    if shape is None or value is None:
        return None
    if shape.type_name == "structure":
        out = {}
        for name, camel, member, plain in _plan(shape):
            v = value.get(name)
            if v is None:
                continue
            if not plain:
                v = audit_view(member, v)
                if v is None:
                    continue
            out[camel] = v
        return out
    if shape.type_name == "blob" or shape.metadata.get("sensitive"):
        return None
    if shape.type_name == "list":
        items = [audit_view(shape.member, v) for v in value]
        return [i for i in items if i is not None]
    if shape.type_name == "map":
        return {k: audit_view(shape.value, v) for k, v in value.items()}
    if shape.type_name == "timestamp":
        return value.isoformat() if hasattr(value, "isoformat") else value
    return value


_PLANS: dict = {}


def _plan(shape: Shape) -> list:
    """Per structure: (member, lowerCamel name, shape, copied-as-is) for each loggable member."""
    plan = _PLANS.get(id(shape))
    if plan is None:
        plan = []
        for name, member in shape.members.items():
            if name in _SECRET_MEMBER_NAMES or member.type_name == "blob" or member.metadata.get("sensitive"):
                continue
            plain = member.type_name in ("string", "integer", "long", "boolean", "double", "float")
            plan.append((name, lower_camel(name), member, plain))
        _PLANS[id(shape)] = plan
    return plan
