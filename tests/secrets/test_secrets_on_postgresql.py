"""Secrets Manager on the shared PostgreSQL store: the tables, label moves, deletion and rotation
schedules work there as on SQLite (Boolean/Float/LargeBinary columns, scheduler queries)."""
from __future__ import annotations

import os
from datetime import timedelta

import keyplane
from keyplane.engine.core import Engine
from keyplane.engine.sealing import RootKey


def test_secret_versions_rotation_and_deletion_on_a_postgresql_store(postgres_url, clock):
    engine = Engine(postgres_url, clock=clock, root_key=RootKey(os.urandom(32), "test"))
    try:
        sm = keyplane.connect(engine=engine).client("secretsmanager")
        arn = sm.create_secret(Name="pg/one", SecretString="token-initial")["ARN"]
        sm.rotate_secret(SecretId=arn, RotationLambdaARN="python:sample_rotators:rotate_token",
                         RotationRules={"AutomaticallyAfterDays": 2})
        first = sm.get_secret_value(SecretId=arn)["SecretString"]
        assert first != "token-initial"
        clock.advance(timedelta(days=3))
        assert engine.run_due()["secretsmanager.rotate-secrets"] == 1
        assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == first
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
        clock.advance(timedelta(days=8))
        assert engine.run_due()["secretsmanager.delete-secrets"] == 1
        assert sm.list_secrets(IncludePlannedDeletion=True)["SecretList"] == []
    finally:
        engine.close()
