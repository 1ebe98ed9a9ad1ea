"""`/aws/reference/<service>/<id>`: parameters that are really another service's values.

`GetParameter(Name="/aws/reference/secretsmanager/<secret>", WithDecryption=True)` answers with the
secret, through the Secrets Manager bridge (secrets/bridge.py), which reads it with GetSecretValue.
"""
from __future__ import annotations

from ..errors import ValidationException
from ..secrets import bridge
from .errors import ParameterNotFound

PREFIX = "/aws/reference/"
# service -> fn(call, id, selector) -> the `Parameter` dict, or None when there is no such resource
RESOLVERS = {"secretsmanager": bridge.resolve}


def lookup(call, raw: str, with_decryption: bool) -> dict | None:
    """The `Parameter` a reference names, None when `raw` is not a reference."""
    name = raw.strip()
    if not name.startswith(PREFIX):
        return None
    service, _, rest = name[len(PREFIX):].partition("/")
    if not rest:
        raise ParameterNotFound(None)       # the code alone, as for any missing parameter
    if service == "secretsmanager" and not with_decryption:
        raise ValidationException("WithDecryption flag must be True for retrieving a Secret Manager secret.")
    selector = None
    if ":" in rest:
        rest, selector = rest.split(":", 1)
    resolver = RESOLVERS.get(service)
    if resolver is None:
        raise ParameterNotFound(None)
    found = resolver(call, rest, selector)
    if found is None:
        # AWS's text names the reference without its leading slash, followed by the selector asked
        # for, or "null" without one: "An error occurred (ParameterNotFound) when referencing Secrets
        # Manager: Secret aws/reference/secretsmanager/netflownull not found."
        # (https://github.com/aws/aws-dotnet-extensions-configuration/issues/199)
        reference = f"{PREFIX}{service}/{rest}"[1:]
        raise ParameterNotFound(f"An error occurred (ParameterNotFound) when referencing Secrets Manager: "
                                f"Secret {reference}{selector if selector is not None else 'null'} not found.")
    return found
