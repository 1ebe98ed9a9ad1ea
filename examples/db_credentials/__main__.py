"""keyplane db_credentials: the credentials of a PostgreSQL role as a Secrets Manager secret,
attached to its database and rotated by keyplane's managed single-user rotator, which really
changes the role's password in PostgreSQL.

Config (`pulumi config set ...`, passwords with --secret):
  db_credentials:host, db_credentials:port, db_credentials:dbname   the PostgreSQL server
  db_credentials:username, db_credentials:password                  an existing login role and its
                                                                    current password (used once:
                                                                    rotation replaces it at once)
Applications then read the secret with any AWS SDK (see app.py); the rotation runs again every
`rotation_days` days on keyplane's scheduler.
"""
import json

import pulumi

import keyplane

config = pulumi.Config("db_credentials")
host = config.get("host") or "127.0.0.1"
port = config.get_int("port") or 5432
dbname = config.get("dbname") or "postgres"
username = config.require("username")
password = config.require_secret("password")
rotation_days = config.get_int("rotation_days") or 30

secret = keyplane.Secret(
    "app-db",
    name=f"db/{username}",
    description=f"PostgreSQL credentials of {username}",
    secret_string=password.apply(lambda pw: json.dumps({"username": username, "password": pw})),
    rotation={"rotator": "keyplane:postgres-single-user", "automatically_after_days": rotation_days},
    recovery_window_in_days=7,
    tags={"app": "orders"},
)

# merges engine, host, port, dbname and the identifier into the secret; the first rotation then runs
attachment = keyplane.SecretAttachment(
    "app-db",
    secret_id=secret.arn,
    target_type="postgresql",
    target={"identifier": f"{host}-{port}-{dbname}", "host": host, "port": port, "dbname": dbname},
)

pulumi.export("secret_arn", secret.arn)
pulumi.export("secret_name", secret.name)
pulumi.export("attached_to", attachment.secret_arn)
