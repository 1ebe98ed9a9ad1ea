"""Policy lint at preview: an Action naming no operation of a service keyplane serves.

IAM accepts any string as an action, so a misspelt `kms:Encrpyt` is a valid policy that silently
allows nothing; AWS's IAM Access Analyzer reports such actions ("Unrecognized action"). Here a
preview reports it as a CheckFailure with its JSON path and the nearest real action. The list of
actions is botocore's service model (the API's operations) plus the few IAM actions that are not
operations of the API (KMS's ReEncryptFrom/ReEncryptTo, STS's TagSession...). Actions of services
keyplane does not serve (s3:GetObject) are not judged: a policy may name them.
"""
from __future__ import annotations

import difflib
import fnmatch
from functools import lru_cache
from typing import Any, Iterator

# IAM actions that are permissions, not API operations:
# https://docs.aws.amazon.com/kms/latest/developerguide/kms-api-permissions-reference.html (ReEncryptFrom,
# ReEncryptTo); https://docs.aws.amazon.com/service-authorization/latest/reference/list_awssecuritytokenservice.html;
# https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_cross-account-replication.html
# (AcceptCrossAccountReplication, which AssociateCrossAccountReplica authorizes on the replica)
IAM_ONLY = {
    "kms": ("ReEncryptFrom", "ReEncryptTo"),
    "sts": ("TagSession", "SetSourceIdentity", "SetContext"),
    "ssm": (),
    "secretsmanager": ("AcceptCrossAccountReplication",),
}


@lru_cache(maxsize=None)
def actions(service: str) -> tuple[str, ...]:
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    return tuple(sorted({*model.operation_names, *IAM_ONLY[service]}))


def _statement_actions(document: Any) -> Iterator[tuple[list, str]]:
    statements = document.get("Statement") if isinstance(document, dict) else None
    if isinstance(statements, dict):
        statements = [statements]
    if not isinstance(statements, list):
        return
    for i, statement in enumerate(statements):
        if not isinstance(statement, dict):
            continue
        for member in ("Action", "NotAction"):
            value = statement.get(member)
            if isinstance(value, str):
                yield ["Statement", i, member], value
            elif isinstance(value, list):
                for j, action in enumerate(value):
                    if isinstance(action, str):
                        yield ["Statement", i, member, j], action


def unknown_actions(document: Any) -> list[tuple[list, str]]:
    """(JSON path, message) for each action of a served service that names none of its actions."""
    found = []
    for path, action in _statement_actions(document):
        service, sep, name = action.partition(":")
        service = service.lower()
        if not sep or service not in IAM_ONLY or action == "*":
            continue
        known = actions(service)
        lowered = name.lower()  # IAM matches action names case-insensitively
        if any(fnmatch.fnmatchcase(a.lower(), lowered) for a in known):
            continue
        message = f"{action} names no {service} action"
        nearest = difflib.get_close_matches(name, known, n=1, cutoff=0.6) if "*" not in name else []
        if nearest:
            message += f"; did you mean {service}:{nearest[0]}?"
        found.append((path, message))
    return found
