"""AWS managed keys: the key behind `alias/aws/<service>`, created the first time it is used."""
from __future__ import annotations

import json

from .records import Key, get_key, insert_key, key_arn, lookup_alias, new_key_id, ts, write_key, write_material
from .specs import SYMMETRIC_DEFAULT
from .tables import aliases as aliases_table

SERVICE_TITLES = {"ssm": "SSM", "secretsmanager": "SecretsManager", "ebs": "EBS", "s3": "S3",
                  "rds": "RDS", "lambda": "Lambda", "dynamodb": "DynamoDB", "acm": "ACM",
                  "elasticfilesystem": "EFS", "redshift": "Redshift", "glue": "Glue", "xray": "X-Ray",
                  "es": "Elasticsearch", "kinesisvideo": "KinesisVideo", "sns": "SNS", "sqs": "SQS"}
PREDEFINED = sorted(f"alias/aws/{s}" for s in SERVICE_TITLES)


def managed_policy(account: str, region: str, service: str) -> str:
    """The policy AWS gives its managed keys: use only through the service, for the account."""
    via = f"{service}.{region}.amazonaws.com"
    return json.dumps({
        "Version": "2012-10-17",
        "Id": f"auto-{service}-1",
        "Statement": [
            {"Sid": f"Allow access through {SERVICE_TITLES.get(service, service)} for all principals "
                    "in the account that are authorized to use it",
             "Effect": "Allow", "Principal": {"AWS": "*"},
             "Action": ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
                        "kms:CreateGrant", "kms:DescribeKey"],
             "Resource": "*",
             "Condition": {"StringEquals": {"kms:ViaService": via, "kms:CallerAccount": account}}},
            {"Sid": "Allow direct access to key metadata to the account",
             "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
             "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"],
             "Resource": "*"},
        ],
    }, indent=2)


def ensure_managed_key(call, alias_name: str) -> Key:
    """The AWS managed key for `alias/aws/<service>` in the caller's account and Region."""
    service = alias_name[len("alias/aws/"):]
    with call.store.write() as conn:
        row = lookup_alias(call, call.account, alias_name)
        if row is not None:
            key = get_key(call, key_arn(call.region, call.account, row.target_key_id))
            if key is not None:
                return key
        key_id = new_key_id()
        key = Key(arn=key_arn(call.region, call.account, key_id), key_id=key_id, account=call.account,
                  region=call.region, key_manager="AWS", creation_date=ts(call.now),
                  description=f"Default key that protects my {SERVICE_TITLES.get(service, service)} "
                              "data when no other key is defined",
                  policy=managed_policy(call.account, call.region, service),
                  rotation_enabled=True, rotation_period_days=365)
        insert_key(call, key)
        # an AWS managed key is never multi-Region: nothing to tell replicas, so the raw writes
        key.current_material_id = write_material(call, key, SYMMETRIC_DEFAULT.generate())
        write_key(call, key)
        now = ts(call.now)
        conn.execute(aliases_table.insert().values(account=call.account, region=call.region,
                                                   name=alias_name, target_key_id=key_id,
                                                   creation_date=now, last_updated_date=now))
        call.invalidate(("kms-alias", call.account, call.region, alias_name))
    return key
