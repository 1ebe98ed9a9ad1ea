"""Lookups of existing keys, aliases, public keys, parameters and secret values inside a Pulumi
program, named and shaped as pulumi-aws's data sources (aws.kms.get_key, aws.kms.get_alias,
aws.kms.get_public_key, aws.ssm.get_parameter, aws.secretsmanager.get_secret_version).

Each returns an Output of a result whose attributes are pulumi-aws's (`keyplane.get_key(key_id=
"alias/orders").arn` is an Output[str]); `get_*_output` is the same function under pulumi-aws's
name for the Output form. Arguments may be Outputs. The lookup runs in the program's process
against what the stack configures (`keyplane:state`, or `keyplane:endpoint` with the access key
pair, and `keyplane:region`), through the same connection the provider builds; values that are
secrets (a SecureString, a secret's value) come back as secret Outputs. Dynamic providers have
no invokes, so unlike pulumi-aws these are not recorded in the Pulumi state: they run on every
preview and update.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import pulumi

from keyplane.resources import base


def _connection(account: Optional[str]):
    config = pulumi.Config("keyplane")
    settings = base.Settings.from_config({key: config.get(key.split(":", 1)[1])
                                          for key in base.Settings.KEYS.values()})
    return settings, base.connect(settings, account)


def _client(service: str, region: Optional[str], account: Optional[str]):
    settings, connection = _connection(account)
    return connection.client(service, region=region or settings.region or connection.region)


def _lookup(fetch: Callable[..., Any], secret: bool, **args) -> pulumi.Output:
    names = list(args)

    def run(values):
        try:
            return fetch(**dict(zip(names, values)))
        except Exception as exc:  # noqa: BLE001 - the program fails with the AWS error in one line
            raise base.ProviderError(f"{fetch.__name__.lstrip('_')}: {base.one_line(exc)}") from None

    out = pulumi.Output.all(*(args[n] for n in names)).apply(run)
    return pulumi.Output.secret(out) if secret else out


def _iso(value) -> Optional[str]:
    return value.isoformat() if value is not None else None


# ---- KMS -------------------------------------------------------------------------------------
def _key_params(key_id, grant_tokens) -> dict:
    """DescribeKey's and GetPublicKey's request: the key, with the grant tokens when there are any."""
    return {"KeyId": key_id, **({"GrantTokens": list(grant_tokens)} if grant_tokens else {})}


@dataclass(frozen=True)
class GetKeyResult:
    """aws.kms.get_key's result."""

    id: str
    key_id: str
    arn: str
    aws_account_id: str
    description: str
    enabled: bool
    key_state: str
    key_usage: str
    key_spec: str
    customer_master_key_spec: str
    key_manager: str
    origin: str
    multi_region: bool
    creation_date: Optional[str]
    deletion_date: Optional[str]
    valid_to: Optional[str]
    expiration_model: Optional[str]


def _get_key(key_id, grant_tokens, region, account) -> GetKeyResult:
    m = _client("kms", region, account).describe_key(**_key_params(key_id, grant_tokens))["KeyMetadata"]
    return GetKeyResult(
        id=m["KeyId"], key_id=m["KeyId"], arn=m["Arn"], aws_account_id=m["AWSAccountId"],
        description=m.get("Description", ""), enabled=m["Enabled"], key_state=m["KeyState"],
        key_usage=m["KeyUsage"], key_spec=m["KeySpec"], customer_master_key_spec=m["CustomerMasterKeySpec"],
        key_manager=m["KeyManager"], origin=m["Origin"], multi_region=bool(m.get("MultiRegion")),
        creation_date=_iso(m.get("CreationDate")), deletion_date=_iso(m.get("DeletionDate")),
        valid_to=_iso(m.get("ValidTo")), expiration_model=m.get("ExpirationModel"))


def get_key(key_id: pulumi.Input[str], grant_tokens: Optional[pulumi.Input[list]] = None,
            region: Optional[pulumi.Input[str]] = None, account: Optional[pulumi.Input[str]] = None,
            ) -> pulumi.Output[GetKeyResult]:
    """A key by id, ARN, alias name or alias ARN (DescribeKey), as aws.kms.get_key."""
    return _lookup(_get_key, False, key_id=key_id, grant_tokens=grant_tokens, region=region, account=account)


@dataclass(frozen=True)
class GetAliasResult:
    """aws.kms.get_alias's result."""

    id: str
    name: str
    arn: str
    target_key_id: str
    target_key_arn: str


def _get_alias(name, region, account) -> GetAliasResult:
    kms = _client("kms", region, account)
    for page in kms.get_paginator("list_aliases").paginate():
        for alias in page["Aliases"]:
            if alias["AliasName"] == name:
                target = alias.get("TargetKeyId")
                key_arn = kms.describe_key(KeyId=target)["KeyMetadata"]["Arn"] if target else ""
                return GetAliasResult(id=alias["AliasArn"], name=name, arn=alias["AliasArn"],
                                      target_key_id=target or "", target_key_arn=key_arn)
    raise base.ProviderError(f"NotFoundException: Alias {name} is not found.")


def get_alias(name: pulumi.Input[str], region: Optional[pulumi.Input[str]] = None,
              account: Optional[pulumi.Input[str]] = None) -> pulumi.Output[GetAliasResult]:
    """An alias and the key it points at, as aws.kms.get_alias."""
    return _lookup(_get_alias, False, name=name, region=region, account=account)


@dataclass(frozen=True)
class GetPublicKeyResult:
    """aws.kms.get_public_key's result (public_key is base64 DER, public_key_pem is PEM)."""

    id: str
    key_id: str
    arn: str
    key_spec: str
    customer_master_key_spec: str
    key_usage: str
    public_key: str
    public_key_pem: str
    encryption_algorithms: list = field(default_factory=list)
    signing_algorithms: list = field(default_factory=list)


def _get_public_key(key_id, grant_tokens, region, account) -> GetPublicKeyResult:
    out = _client("kms", region, account).get_public_key(**_key_params(key_id, grant_tokens))
    der = base64.b64encode(out["PublicKey"]).decode()
    pem = "-----BEGIN PUBLIC KEY-----\n" + "\n".join(der[i:i + 64] for i in range(0, len(der), 64)) + \
        "\n-----END PUBLIC KEY-----\n"
    return GetPublicKeyResult(
        id=out["KeyId"], key_id=out["KeyId"].rsplit("/", 1)[-1], arn=out["KeyId"], key_spec=out["KeySpec"],
        customer_master_key_spec=out["CustomerMasterKeySpec"], key_usage=out["KeyUsage"], public_key=der,
        public_key_pem=pem, encryption_algorithms=out.get("EncryptionAlgorithms", []),
        signing_algorithms=out.get("SigningAlgorithms", []))


def get_public_key(key_id: pulumi.Input[str], grant_tokens: Optional[pulumi.Input[list]] = None,
                   region: Optional[pulumi.Input[str]] = None, account: Optional[pulumi.Input[str]] = None,
                   ) -> pulumi.Output[GetPublicKeyResult]:
    """An asymmetric key's public key (GetPublicKey), as aws.kms.get_public_key."""
    return _lookup(_get_public_key, False, key_id=key_id, grant_tokens=grant_tokens, region=region, account=account)


# ---- Parameter Store -----------------------------------------------------------------------
@dataclass(frozen=True)
class GetParameterResult:
    """aws.ssm.get_parameter's result; `value` is secret, `insecure_value` is the value of a
    String / StringList only (None for a SecureString)."""

    id: str
    name: str
    arn: str
    type: str
    value: str
    insecure_value: Optional[str]
    version: int
    with_decryption: bool


def _get_parameter(name, with_decryption, region, account) -> GetParameterResult:
    decrypt = True if with_decryption is None else bool(with_decryption)
    p = _client("ssm", region, account).get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]
    return GetParameterResult(id=p["Name"], name=p["Name"], arn=p["ARN"], type=p["Type"], value=p["Value"],
                              insecure_value=None if p["Type"] == "SecureString" else p["Value"],
                              version=int(p["Version"]), with_decryption=decrypt)


def get_parameter(name: pulumi.Input[str], with_decryption: Optional[pulumi.Input[bool]] = None,
                  region: Optional[pulumi.Input[str]] = None, account: Optional[pulumi.Input[str]] = None,
                  ) -> pulumi.Output[GetParameterResult]:
    """A parameter (name, name:version or name:label), as aws.ssm.get_parameter; a secret Output."""
    return _lookup(_get_parameter, True, name=name, with_decryption=with_decryption, region=region, account=account)


# ---- Secrets Manager -------------------------------------------------------------------------
@dataclass(frozen=True)
class GetSecretVersionResult:
    """aws.secretsmanager.get_secret_version's result (secret_binary as base64)."""

    id: str
    arn: str
    secret_id: str
    version_id: str
    version_stage: Optional[str]
    version_stages: list
    secret_string: Optional[str]
    secret_binary: Optional[str]
    created_date: Optional[str]


def _get_secret_version(secret_id, version_id, version_stage, region, account) -> GetSecretVersionResult:
    params = {"SecretId": secret_id}
    if version_id:
        params["VersionId"] = version_id
    if version_stage or not version_id:
        params["VersionStage"] = version_stage or "AWSCURRENT"
    v = _client("secretsmanager", region, account).get_secret_value(**params)
    binary = v.get("SecretBinary")
    return GetSecretVersionResult(
        id=f"{v['ARN']}|{v['VersionId']}", arn=v["ARN"], secret_id=secret_id, version_id=v["VersionId"],
        version_stage=params.get("VersionStage"), version_stages=list(v.get("VersionStages", [])),
        secret_string=v.get("SecretString"), secret_binary=base64.b64encode(binary).decode() if binary else None,
        created_date=_iso(v.get("CreatedDate")))


def get_secret_version(secret_id: pulumi.Input[str], version_id: Optional[pulumi.Input[str]] = None,
                       version_stage: Optional[pulumi.Input[str]] = None, region: Optional[pulumi.Input[str]] = None,
                       account: Optional[pulumi.Input[str]] = None) -> pulumi.Output[GetSecretVersionResult]:
    """A secret's value (AWSCURRENT, or the version / stage given), as
    aws.secretsmanager.get_secret_version; a secret Output."""
    return _lookup(_get_secret_version, True, secret_id=secret_id, version_id=version_id,
                   version_stage=version_stage, region=region, account=account)


# pulumi-aws's names for the Output forms: the same functions
get_key_output = get_key
get_alias_output = get_alias
get_public_key_output = get_public_key
get_parameter_output = get_parameter
get_secret_version_output = get_secret_version

LOOKUPS = ("get_key", "get_alias", "get_public_key", "get_parameter", "get_secret_version",
           "get_key_output", "get_alias_output", "get_public_key_output", "get_parameter_output",
           "get_secret_version_output")
