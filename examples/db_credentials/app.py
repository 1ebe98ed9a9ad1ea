"""What an application does with the secret: read it with plain boto3 and connect.

    AWS_ENDPOINT_URL=http://127.0.0.1:8787 AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... \\
        AWS_DEFAULT_REGION=us-east-1 python app.py db/app_user

boto3 takes the endpoint from AWS_ENDPOINT_URL, so the code is what it would be against AWS.
The secret is read on every connect, so a rotated password is picked up with no restart.
"""
import json
import sys

import boto3


def read_secret(secretsmanager, secret_id: str) -> dict:
    """The secret's rotation-ready JSON (engine, host, port, dbname, username, password)."""
    return json.loads(secretsmanager.get_secret_value(SecretId=secret_id)["SecretString"])


def connect(secretsmanager, secret_id: str):
    """A DB-API connection with what the secret says now: psycopg for PostgreSQL, PyMySQL for
    MySQL and MariaDB."""
    value = read_secret(secretsmanager, secret_id)
    if value.get("engine") in ("mysql", "mariadb", "aurora-mysql"):
        import pymysql
        return pymysql.connect(host=value["host"], port=int(value["port"]), user=value["username"],
                               password=value["password"], database=value.get("dbname"), connect_timeout=5)
    import psycopg
    return psycopg.connect(host=value["host"], port=int(value["port"]), dbname=value.get("dbname", "postgres"),
                           user=value["username"], password=value["password"], connect_timeout=5)


if __name__ == "__main__":
    conn = connect(boto3.client("secretsmanager"), sys.argv[1])
    try:
        cur = conn.cursor()
        cur.execute("SELECT current_user, now()")
        print(cur.fetchone())
    finally:
        conn.close()
