"""keyplane quickstart: a customer managed key with rotation and a key policy, an alias for it,
and a grant letting a reader role decrypt only data of the `orders` application.

`pulumi up` creates them in keyplane (the embedded engine on `keyplane:state`, or the server at
`keyplane:endpoint`); applications then use `alias/orders` through any AWS SDK.
"""
import pulumi

import keyplane

config = pulumi.Config("keyplane")
account = config.get("account") or "111122223333"  # the default account of `keyplane init`
region = config.get("region") or "us-east-1"
reader = f"arn:aws:iam::{account}:role/reader"

key = keyplane.Key(
    "orders",
    description="orders data",
    enable_key_rotation=True,
    deletion_window_in_days=7,
    policy={
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Enable IAM policies",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "Readers decrypt orders data",
                "Effect": "Allow",
                "Principal": {"AWS": reader},
                "Action": "kms:Decrypt",
                "Resource": "*",
                "Condition": {"StringEquals": {"kms:EncryptionContext:app": "orders"}},
            },
        ],
    },
    tags={"team": "orders"},
)

alias = keyplane.Alias("orders", name="alias/orders", target_key_id=key.key_id)

grant = keyplane.Grant(
    "reader",
    key_id=key.key_id,
    grantee_principal=reader,
    operations=["Decrypt", "DescribeKey"],
    constraints={"encryption_context_subset": {"app": "orders"}},
)

pulumi.export("key_id", key.key_id)
pulumi.export("key_arn", key.arn)
pulumi.export("alias_arn", alias.arn)
pulumi.export("grant_id", grant.grant_id)
pulumi.export("grant_token", grant.grant_token)  # secret: shown only with --show-secrets
