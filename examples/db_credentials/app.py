"""What an application does with the secret: read it with plain boto3 and connect.

    AWS_ENDPOINT_URL=http://127.0.0.1:8787 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
        AWS_DEFAULT_REGION=us-east-1 python app.py db/app_user

boto3 takes the endpoint from AWS_ENDPOINT_URL, so the code is what it would be against AWS.
The secret is read on every connect, so a rotated password is picked up with no restart.
"""
import json
import sys

import boto3


def connection_params(secretsmanager, secret_id: str) -> dict:
    """psycopg keyword arguments from the secret's rotation-ready JSON."""
    value = json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])
    return {"host": value["host"], "port": int(value["port"]), "dbname": value.get("dbname", "postgres"),
            "user": value["username"], "password": value["password"]}


def connect(secretsmanager, secret_id: str):
    import psycopg
    return psycopg.connect(**connection_params(secretsmanager, secret_id), connect_timeout=5)


if __name__ == "__main__":
    with connect(boto3.client("secretsmanager"), sys.argv[1]) as conn:
        print(conn.execute("SELECT current_user, now()").fetchone())
