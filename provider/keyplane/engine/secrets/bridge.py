"""The Parameter Store bridge: `GetParameter(Name="/aws/reference/secretsmanager/<secret>[:<stage or
version id>]", WithDecryption=True)` answers with the secret, read through Secrets Manager's own
GetSecretValue (so its authorisation, audit and KMS context apply, and the caller needs
secretsmanager:GetSecretValue as on AWS)."""
from __future__ import annotations

import base64
import json
import re

from ..errors import AwsError

_VERSION_ID = re.compile(r"^[0-9A-Za-z-]{32,64}$")
REFERENCE_PREFIX = "/aws/reference/secretsmanager/"


def resolve(call, secret_id: str, selector: str | None) -> dict | None:
    params = {"SecretId": secret_id}
    if selector:
        params["VersionId" if _VERSION_ID.match(selector) and not selector.startswith("AWS") else "VersionStage"] = selector
    try:
        out = call.invoke("secretsmanager", "GetSecretValue", params)
    except AwsError as err:
        if err.code == "ResourceNotFoundException":
            return None
        raise
    value = out["SecretString"] if out.get("SecretString") is not None else \
        base64.b64encode(out["SecretBinary"]).decode()
    # The answer as AWS documents it: the reference's name without the selector, the selector apart,
    # the secret's ARN, and SourceResult = Secrets Manager's GetSecretValue answer as JSON text, with
    # CreatedDate in epoch seconds and no Version member
    # (https://docs.aws.amazon.com/systems-manager/latest/userguide/integration-ps-secretsmanager.html)
    source = {"CreatedDate": out["CreatedDate"].timestamp(), "Name": out["Name"], "VersionId": out["VersionId"]}
    if out.get("SecretString") is not None:
        source["SecretString"] = out["SecretString"]
    else:
        source["SecretBinary"] = value
    source.update(VersionStages=out["VersionStages"], ARN=out["ARN"])
    found = {"Name": f"{REFERENCE_PREFIX}{secret_id}", "Type": "SecureString", "Value": value,
             "SourceResult": json.dumps(source), "LastModifiedDate": out["CreatedDate"], "ARN": out["ARN"],
             "DataType": "text"}
    if selector:
        found["Selector"] = f":{selector}"
    return found
