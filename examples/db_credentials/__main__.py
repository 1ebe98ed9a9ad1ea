"""keyplane db_credentials: the credentials of a database user as a Secrets Manager secret,
attached to its database and rotated by keyplane's managed single-user rotator, which really
changes the user's password in the database: PostgreSQL, or MySQL / MariaDB.

Config (`pulumi config set ...`, passwords with --secret):
  db_credentials:engine                                             postgres (default), mysql or mariadb
  db_credentials:host, db_credentials:port, db_credentials:dbname   the database server
  db_credentials:username, db_credentials:password                  an existing login role and its
                                                                    current password (used once:
                                                                    rotation replaces it at once)
Applications then read the secret with any AWS SDK (see app.py); the rotation runs again every
`rotation_days` days on keyplane's scheduler.
"""
import json

import pulumi

import keyplane

# engine -> (rotator, SecretAttachment target type, default port, default database)
ENGINES = {
    "postgres": ("keyplane:postgres-single-user", "postgresql", 5432, "postgres"),
    "mysql": ("keyplane:mysql-single-user", "mysql", 3306, None),
    "mariadb": ("keyplane:mariadb-single-user", "mariadb", 3306, None),
}

config = pulumi.Config("db_credentials")
engine = config.get("engine") or "postgres"
rotator, target_type, default_port, default_dbname = ENGINES[engine]
host = config.get("host") or "127.0.0.1"
port = config.get_int("port") or default_port
dbname = config.get("dbname") or default_dbname
username = config.require("username")
password = config.require_secret("password")
rotation_days = config.get_int("rotation_days") or 30

secret = keyplane.Secret(
    "app-db",
    name=f"db/{username}",
    description=f"{engine} credentials of {username}",
    secret_string=password.apply(lambda pw: json.dumps({"username": username, "password": pw})),
    rotation={"rotator": rotator, "automatically_after_days": rotation_days},
    recovery_window_in_days=7,
    tags={"app": "orders"},
)

# merges engine, host, port, dbname and the identifier into the secret; the first rotation then runs
target = {"identifier": f"{host}-{port}-{dbname or engine}", "host": host, "port": port, "engine": engine}
if dbname:
    target["dbname"] = dbname
attachment = keyplane.SecretAttachment("app-db", secret_id=secret.arn, target_type=target_type, target=target)

pulumi.export("secret_arn", secret.arn)
pulumi.export("secret_name", secret.name)
pulumi.export("attached_to", attachment.secret_arn)
