"""The Parameter Store bridge: `GetParameter(Name="/aws/reference/secretsmanager/<secret>[:<stage or
version id>]", WithDecryption=True)` answers with the secret, read through Secrets Manager's own
GetSecretValue (so its authorisation, audit and KMS context apply, and the caller needs
secretsmanager:GetSecretValue as on AWS)."""
from __future__ import annotations

import base64
import json
import re

from ..errors import AwsError
from ..ssm import references

_VERSION_ID = re.compile(r"^[0-9A-Za-z-]{32,64}$")


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
    name = f"{references.PREFIX}secretsmanager/{secret_id}" + (f":{selector}" if selector else "")
    source = {"ARN": out["ARN"], "Name": out["Name"], "VersionId": out["VersionId"],
              "VersionStages": out["VersionStages"], "CreatedDate": out["CreatedDate"].isoformat()}
    return {"Name": name, "Type": "SecureString", "Value": value, "Version": 0,
            "SourceResult": json.dumps(source), "LastModifiedDate": out["CreatedDate"], "ARN": out["ARN"],
            "DataType": "text"}


references.RESOLVERS["secretsmanager"] = resolve
