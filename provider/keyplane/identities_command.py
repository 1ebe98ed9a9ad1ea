"""`keyplane identities`: the identities every server on one store shares (engine/identity_store.py).

    import FILE          make FILE (an identities file, as `keyplane init` writes) the store's identities
    export [-o FILE]     write them out as such a file (0600; secrets included: it is what import reads)
    add-user NAME        an IAM user (--admin: AdministratorAccess; --policy FILE: an inline policy)
    add-key USER         a new access key for USER; prints it once
    deactivate-key ID    the key stops working (every server refuses it within a second)

Each change is validated as a whole before it is stored, so a bad one changes nothing, and is
recorded in the audit trail in the same transaction, as CloudTrail records the IAM call that makes
the same change (engine/identity_store.change_event).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

from keyplane.engine.identity import (ADMIN_POLICY, Identities, IdentitiesFileError, new_access_key_id,
                                      new_secret_access_key, write_private)
from keyplane.engine.identity_store import change_event

HEADER = "# keyplane identities: access key secrets are in this file; keep it 0600.\n"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", default=None,
                   help="state folder or store URL (default: $KEYPLANE_STATE or ./.keyplane)")
    sub = p.add_subparsers(dest="identities_command", required=True)
    imp = sub.add_parser("import", help="make an identities file the store's identities")
    imp.add_argument("file")
    exp = sub.add_parser("export", help="write the store's identities as an identities file")
    exp.add_argument("-o", "--output", default=None, help="file to write (0600; default: standard output)")
    user = sub.add_parser("add-user", help="add an IAM user")
    user.add_argument("name")
    user.add_argument("--account", default=None, help="account id (default: the first account)")
    user.add_argument("--admin", action="store_true", help="attach AdministratorAccess")
    user.add_argument("--policy", action="append", default=[], metavar="FILE",
                      help="attach this JSON policy document as an inline policy named after the file")
    key = sub.add_parser("add-key", help="add an access key to a user (printed once)")
    key.add_argument("user")
    key.add_argument("--account", default=None, help="account id (default: the first account)")
    off = sub.add_parser("deactivate-key", help="make an access key inactive")
    off.add_argument("access_key_id")
    p.set_defaults(run=run)


def run(args) -> int:
    from keyplane.engine.core import Engine
    from keyplane.engine.identity_store import StoredIdentities
    engine = Engine(args.state)
    try:
        stored = StoredIdentities.of(engine)
        return COMMANDS[args.identities_command](stored, args, _recorder(engine, stored))
    except (IdentitiesFileError, LookupError, ValueError) as exc:
        print(f"keyplane identities: {str(exc).strip(chr(39))}", file=sys.stderr)
        return 2
    finally:
        engine.close()


def _recorder(engine, stored):
    """record(account, name, request, response, resources): the audit record of a change, written
    in the transaction that stores it (engine/identity_store.change_event)."""
    def record(account, name, request, response=None, resources=()):
        engine.audit.record(stored.store, change_event(engine.clock.now(), account, name, request, response,
                                                       list(resources)))
    return record


def _import(stored, args, record) -> int:
    data = Identities._read(Path(args.file))

    def audit(new):
        # no single IAM call replaces every identity: keyplane's own event name, one per account
        for account in new["accounts"]:
            keys = [k["id"] for k in account.get("root_access_keys", [])] + [
                k["id"] for u in account.get("users", []) for k in u.get("access_keys", [])]
            record(account["id"], "ImportIdentities", {
                "file": Path(args.file).name, "users": [u["name"] for u in account.get("users", [])],
                "roles": [r["name"] for r in account.get("roles", [])], "accessKeyIds": keys})
    version = stored.change(lambda _current: data, create=True, record=audit)
    print(f"identities: {len(data['accounts'])} account(s) from {args.file} are the store's (version {version})")
    return 0


def _export(stored, args, record) -> int:
    found = stored.load()
    if found is None:
        raise LookupError("the store holds no identities; run `keyplane identities import FILE` first")
    text = HEADER + yaml.safe_dump(found[1], sort_keys=False)
    if args.output:
        write_private(Path(args.output), text)
    else:
        sys.stdout.write(text)
    return 0


def _account(data: dict, account_id: str | None) -> dict:
    for account in data["accounts"]:
        if account_id is None or account["id"] == account_id:
            return account
    raise LookupError(f"no account {account_id} in the store's identities")


def _user(account: dict, name: str) -> dict:
    for user in account.get("users", []):
        if user["name"].lower() == name.lower():
            return user
    raise LookupError(f"no user {name} in account {account['id']}")


def _add_user(stored, args, record) -> int:
    policies = [{"name": "AdministratorAccess", "document": ADMIN_POLICY}] if args.admin else []
    for path in args.policy:
        policies.append({"name": Path(path).stem, "document": json.loads(Path(path).read_text())})

    def edit(data):
        account = _account(data, args.account)
        user = {"name": args.name}
        if policies:
            user["policies"] = policies
        account.setdefault("users", []).append(user)   # a duplicate name fails validation
        return data

    def audit(data):
        account = _account(data, args.account)["id"]
        arn = f"arn:aws:iam::{account}:user/{args.name}"
        record(account, "CreateUser", {"userName": args.name}, {"user": {"userName": args.name, "path": "/",
                                                                          "arn": arn}}, [("AWS::IAM::User", arn)])
        for policy in policies:
            record(account, "PutUserPolicy", {"userName": args.name, "policyName": policy["name"],
                                              "policyDocument": json.dumps(policy["document"])},
                   None, [("AWS::IAM::User", arn)])
    version = stored.change(edit, record=audit)
    print(f"user {args.name} added (identities version {version})")
    return 0


def _add_key(stored, args, record) -> int:
    key = {"id": new_access_key_id(), "secret": new_secret_access_key(), "status": "Active",
           "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}

    def edit(data):
        _user(_account(data, args.account), args.user).setdefault("access_keys", []).append(key)
        return data

    def audit(data):      # the secret is never in the record
        account = _account(data, args.account)
        name = _user(account, args.user)["name"]
        record(account["id"], "CreateAccessKey", {"userName": name}, {"accessKey": {
            "accessKeyId": key["id"], "status": "Active", "userName": name, "createDate": key["created"]}},
            [("AWS::IAM::User", f"arn:aws:iam::{account['id']}:user/{name}")])
    version = stored.change(edit, record=audit)
    print(f"# access key of {args.user} (identities version {version}); the secret is shown only now")
    print(f"export AWS_ACCESS_KEY_ID={key['id']} AWS_SECRET_ACCESS_KEY={key['secret']}")
    return 0


def _deactivate_key(stored, args, record) -> int:
    def holder(data) -> tuple[dict, dict | None, dict]:
        """(account, user or None for the root, key) holding the access key."""
        for account in data["accounts"]:
            holders = [(None, account.get("root_access_keys", []))] + [(u, u.get("access_keys", []))
                                                                       for u in account.get("users", [])]
            for user, keys in holders:
                for key in keys:
                    if key["id"] == args.access_key_id:
                        return account, user, key
        raise LookupError(f"no access key {args.access_key_id} in the store's identities")

    def edit(data):
        holder(data)[2]["status"] = "Inactive"
        return data

    def audit(data):
        account, user, _ = holder(data)
        request = {"accessKeyId": args.access_key_id, "status": "Inactive"}
        if user is not None:
            request["userName"] = user["name"]
        record(account["id"], "UpdateAccessKey", request)
    version = stored.change(edit, record=audit)
    print(f"access key {args.access_key_id} is inactive (identities version {version})")
    return 0


COMMANDS = {"import": _import, "export": _export, "add-user": _add_user, "add-key": _add_key,
            "deactivate-key": _deactivate_key}
