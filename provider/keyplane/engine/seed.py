"""Seed files: what a keyplane starts with (`keyplane serve --seed FILE`, `KEYPLANE_SEED`).

A seed names identities, KMS keys (fixed key ids, and optionally fixed key material), their
aliases, policies and tags, parameters and secrets (`schemas/seed.schema.json`). It is applied at
every start and creates only what is missing: what exists is left as it is, so a restarted server
(dev mode's throw-away state included) has the same key ids, and with fixed material decrypts the
ciphertexts made against an earlier start. A seeded key whose stored material differs from the
seed's is an error, never overwritten. Every error names the file, the line and the JSON path.

Keys are created here (an API call cannot choose a key id or its material) and recorded in the
audit trail as a service event; everything else goes through the operations themselves (CreateAlias,
PutKeyPolicy, TagResource, PutParameter, CreateSecret), validated and audited like any call.
"""
from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass, field

import yaml
from cryptography.hazmat.primitives import serialization

from . import registry
from .calls import Call
from .errors import AwsError
from .identity import Principal
from .kms import specs
from .kms.imports import check_material, material_id_for
from .kms.model import (Key, add_material, get_key, insert_key, key_arn, lookup_alias, material_secret, save_key,
                        ts)

DEFAULT_REGION = "us-east-1"
SECRET_FIELDS = ("material", "secret_string", "secret_binary")
_SEED_NAMESPACE = uuid.UUID("6a0c1f0e-5d2b-4c47-9f51-6b65797061e6")


class SeedError(ValueError):
    """A seed file that cannot be applied: the message names file, line and JSON path."""


@dataclass
class Seed:
    source: str
    data: dict
    _root: yaml.Node | None = None

    def where(self, path: list) -> str:
        """`file:line: $.json.path` for an element of the seed."""
        line = _line_of(self._root, path)
        json_path = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
        return f"{self.source}:{line}: {json_path}" if line else f"{self.source}: {json_path}"


@dataclass
class Applied:
    created: list = field(default_factory=list)     # ("key", id), ("alias", name), ...
    kept: list = field(default_factory=list)


def _line_of(node, path: list) -> int | None:
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            return None
    return node.start_mark.line + 1 if node is not None else None


def load(path: str) -> Seed:
    """Read and validate a seed file (YAML or JSON)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise SeedError(f"{path}: cannot read the seed file: {exc.strerror}") from None
    return parse(text, path)


def parse(text: str, source: str = "<seed>") -> Seed:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise SeedError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    seed = Seed(source, data if data is not None else {}, root)
    _validate(seed)
    return seed


def _validate(seed: Seed) -> None:
    from keyplane.schemas import validator
    errors = sorted(validator("seed").iter_errors(seed.data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = list(e.absolute_path)
        # jsonschema quotes the offending value: never for key material or a secret's value
        secret = any(p in SECRET_FIELDS for p in path) or (
            path[:1] == ["parameters"] and "value" in path)
        message = f"does not satisfy the schema ({e.validator})" if secret else e.message
        raise SeedError(f"{seed.where(path)}: {message}")
    for i, entry in enumerate(seed.data.get("keys", [])):
        spec = specs.SPECS.get(entry.get("key_spec", "SYMMETRIC_DEFAULT"))
        if spec is None:
            raise SeedError(f"{seed.where(['keys', i, 'key_spec'])}: keyplane does not serve this key spec")
        usage = entry.get("key_usage")
        if usage is not None and usage not in spec.usages:
            raise SeedError(f"{seed.where(['keys', i, 'key_usage'])}: {spec.name} keys take "
                            f"{', '.join(spec.usages)}")
        if "material" in entry:
            _material(seed, i, entry, spec)


def _material(seed: Seed, i: int, entry: dict, spec) -> bytes:
    """The entry's material as keyplane stores it: the key bytes, or PKCS#8 DER for a key pair."""
    text = entry["material"]
    where = seed.where(["keys", i, "material"])
    if getattr(spec, "public_key", None) is not None:        # a key pair: PEM
        try:
            private = serialization.load_pem_private_key(text.encode(), password=None)
        except (ValueError, TypeError):
            raise SeedError(f"{where}: not a PEM private key (unencrypted)") from None
        if not spec.fits(private):
            raise SeedError(f"{where}: the private key is not a {spec.name} key")
        return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SeedError(f"{where}: not base64") from None
    try:
        check_material(Key(arn="", key_id=entry["id"], account="", region="", key_spec=spec.name), raw)
    except AwsError as err:
        raise SeedError(f"{where}: {err.message}") from None
    return raw


def _account(seed: Seed, entry: dict, engine) -> str:
    return entry.get("account") or seed.data.get("account") or engine.default_account


def _region(seed: Seed, entry: dict) -> str:
    return entry.get("region") or seed.data.get("region") or DEFAULT_REGION


def _invoke(engine, seed: Seed, path: list, service: str, operation: str, params: dict, account: str, region: str):
    ctx = engine.context(Principal.root(account), region, user_agent="keyplane-seed")
    try:
        return engine.invoke(service, operation, params, ctx)
    except AwsError as err:
        raise SeedError(f"{seed.where(path)}: {operation}: {err.code}: {err.message}") from None


def apply(engine, seed: Seed) -> Applied:
    """Create what the seed names and the store lacks; leave the rest."""
    done = Applied()
    for i, entry in enumerate(seed.data.get("keys", [])):
        _apply_key(engine, seed, i, entry, done)
    for i, entry in enumerate(seed.data.get("parameters", [])):
        _apply_parameter(engine, seed, i, entry, done)
    for i, entry in enumerate(seed.data.get("secrets", [])):
        _apply_secret(engine, seed, i, entry, done)
    return done


def _apply_key(engine, seed: Seed, i: int, entry: dict, done: Applied) -> None:
    account, region = _account(seed, entry, engine), _region(seed, entry)
    spec = specs.SPECS[entry.get("key_spec", "SYMMETRIC_DEFAULT")]
    material = _material(seed, i, entry, spec) if "material" in entry else None
    arn = key_arn(region, account, entry["id"])
    store = engine.store_for(region)
    call = Call(engine, engine.context(Principal.root(account), region), registry.OperationSpec(
        "kms", "CreateKey", None, False), store, {})
    existing = get_key(call, arn)
    if existing is not None:
        if existing.key_spec != spec.name:
            raise SeedError(f"{seed.where(['keys', i, 'key_spec'])}: the stored key {entry['id']} is "
                            f"{existing.key_spec}")
        if material is not None and material_secret(call, existing, existing.current_material_id) != material:
            raise SeedError(f"{seed.where(['keys', i, 'material'])}: the stored key {entry['id']} has other "
                            "key material; a seed never replaces it")
        done.kept.append(("key", entry["id"]))
    else:
        _create_key(engine, call, entry, spec, material, account, region)
        done.created.append(("key", entry["id"]))
        if "policy" in entry:
            import json
            _invoke(engine, seed, ["keys", i, "policy"], "kms", "PutKeyPolicy",
                    {"KeyId": entry["id"], "PolicyName": "default", "Policy": json.dumps(entry["policy"])},
                    account, region)
        if entry.get("tags"):
            _invoke(engine, seed, ["keys", i, "tags"], "kms", "TagResource",
                    {"KeyId": entry["id"], "Tags": [{"TagKey": k, "TagValue": v} for k, v in entry["tags"].items()]},
                    account, region)
        if entry.get("enabled") is False:
            _invoke(engine, seed, ["keys", i, "enabled"], "kms", "DisableKey", {"KeyId": entry["id"]}, account, region)
    for j, alias in enumerate(entry.get("aliases", [])):
        path = ["keys", i, "aliases", j]
        row = lookup_alias(call, account, alias)
        if row is None:
            _invoke(engine, seed, path, "kms", "CreateAlias", {"AliasName": alias, "TargetKeyId": entry["id"]},
                    account, region)
            done.created.append(("alias", alias))
        elif row.target_key_id != entry["id"]:
            raise SeedError(f"{seed.where(path)}: {alias} already names key {row.target_key_id}")
        else:
            done.kept.append(("alias", alias))


def _create_key(engine, call: Call, entry: dict, spec, material: bytes | None, account: str, region: str) -> None:
    from .policy import default_key_policy
    multi_region = entry["id"].startswith("mrk-")
    key = Key(arn=key_arn(region, account, entry["id"]), key_id=entry["id"], account=account, region=region,
              key_usage=entry.get("key_usage") or spec.usages[0], key_spec=spec.name,
              description=entry.get("description", ""), creation_date=ts(call.now),
              policy=default_key_policy(account), multi_region=multi_region,
              primary_region=region if multi_region else None)
    with call.store.write():
        insert_key(call, key)
        if material is None:
            secret = spec.generate()
            public = spec.public_key(secret) if getattr(spec, "public_key", None) else None
            material_id = None
        else:
            secret, public = material, check_material(key, material)
            material_id = material_id_for(key, material)    # same material, same id: ciphertexts last
        extra = {"public_key": public} if public is not None else {}
        key.current_material_id = add_material(call, key, secret, material_id=material_id, **extra)
        save_key(call, key)
        engine.service_event(call.store, "kms", "CreateKey", region, account, [("AWS::KMS::Key", key.arn)],
                             {"seeded": True, "keyId": key.key_id})


def _exists(engine, seed: Seed, path: list, service: str, operation: str, params: dict, missing: str,
            account: str, region: str) -> bool:
    """Whether the entry at `path` is already there: `operation` answers, or fails with `missing`."""
    try:
        engine.invoke(service, operation, params, engine.context(Principal.root(account), region))
        return True
    except AwsError as err:
        if err.code != missing:
            raise SeedError(f"{seed.where(path)}: {operation}: {err.code}: {err.message}") from None
        return False


def _optional_members(entry: dict, members) -> dict:
    """The request members a parameter or secret entry gives: each (field, member) of `members`
    present in the entry, then its tags as the Key/Value list PutParameter and CreateSecret take."""
    params = {member: entry[name] for name, member in members if name in entry}
    if entry.get("tags"):
        params["Tags"] = [{"Key": k, "Value": v} for k, v in entry["tags"].items()]
    return params


def _apply_parameter(engine, seed: Seed, i: int, entry: dict, done: Applied) -> None:
    account, region = _account(seed, entry, engine), _region(seed, entry)
    if _exists(engine, seed, ["parameters", i, "name"], "ssm", "GetParameter", {"Name": entry["name"]},
               "ParameterNotFound", account, region):
        done.kept.append(("parameter", entry["name"]))
        return
    params = {"Name": entry["name"], "Value": entry["value"], "Type": entry.get("type", "String")}
    params.update(_optional_members(entry, (("key_id", "KeyId"), ("description", "Description"), ("tier", "Tier"),
                                            ("allowed_pattern", "AllowedPattern"), ("data_type", "DataType"))))
    _invoke(engine, seed, ["parameters", i], "ssm", "PutParameter", params, account, region)
    done.created.append(("parameter", entry["name"]))


def _apply_secret(engine, seed: Seed, i: int, entry: dict, done: Applied) -> None:
    account, region = _account(seed, entry, engine), _region(seed, entry)
    if _exists(engine, seed, ["secrets", i, "name"], "secretsmanager", "DescribeSecret", {"SecretId": entry["name"]},
               "ResourceNotFoundException", account, region):
        done.kept.append(("secret", entry["name"]))
        return
    # a fixed token: the secret's first version has the same id at every start
    params = {"Name": entry["name"], "ClientRequestToken": str(uuid.uuid5(_SEED_NAMESPACE, f"{account}/{region}/{entry['name']}"))}
    if "secret_string" in entry:
        params["SecretString"] = entry["secret_string"]
    else:
        try:
            params["SecretBinary"] = base64.b64decode(entry["secret_binary"], validate=True)
        except (binascii.Error, ValueError):
            raise SeedError(f"{seed.where(['secrets', i, 'secret_binary'])}: not base64") from None
    params.update(_optional_members(entry, (("description", "Description"), ("kms_key_id", "KmsKeyId"))))
    _invoke(engine, seed, ["secrets", i], "secretsmanager", "CreateSecret", params, account, region)
    done.created.append(("secret", entry["name"]))


def merge_identities(identities_data: dict, seed: Seed) -> dict:
    """The identities document with the seed's accounts, users, roles and access keys added
    (matched by account id and by name; nothing already there is changed or removed)."""
    accounts = {a["id"]: a for a in identities_data.setdefault("accounts", [])}
    for account in seed.data.get("identities", {}).get("accounts", []):
        mine = accounts.get(account["id"])
        if mine is None:
            identities_data["accounts"].append(account)
            accounts[account["id"]] = account
            continue
        for kind in ("users", "roles"):
            names = {item["name"].lower() for item in mine.get(kind, [])}
            mine.setdefault(kind, []).extend(i for i in account.get(kind, []) if i["name"].lower() not in names)
        ids = {k["id"] for k in mine.get("root_access_keys", [])}
        mine.setdefault("root_access_keys", []).extend(
            k for k in account.get("root_access_keys", []) if k["id"] not in ids)
        for kind in ("users", "roles"):
            if not mine[kind]:
                del mine[kind]
        if not mine["root_access_keys"]:
            del mine["root_access_keys"]
    return identities_data
