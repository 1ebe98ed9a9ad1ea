"""keyplane cross-account example: account A (the owner, 111122223333) shares a KMS key and a secret
with account B (the partner, 444455556666), declared in one stack over both accounts.

- A's key is shared with B by its key policy (B's account may Decrypt and DescribeKey) and by a
  grant to B's `reader` role (GenerateDataKey and Decrypt, only for the `orders` context);
- B's `reader` role uses them through its own identity policy in identities.yaml (AWS needs both
  sides: the key policy naming B, and B's policy allowing its role);
- A's secret, encrypted under that key, is shared with B's `reader` by its resource policy;
- in B, two parameters publish the shared ARNs for B's applications: the stack manages B's
  resources through B's `OrganizationAccountAccessRole` (keyplane:accountRole), as an AWS
  Organizations management account does.

`keyplane init` writes both accounts and both roles (identities.yaml). Then:

    examples/up.sh cross_account          # keyplane serve + pulumi up, or by hand:
    cd examples/cross_account && pulumi stack init dev
    pulumi config set keyplane:endpoint http://127.0.0.1:4566
    pulumi config set keyplane:accessKey AKIA...; printf %s "$SECRET" | pulumi config set --secret keyplane:secretKey
    pulumi up                             # exports cross_account_check

Embedded (keyplane:state instead of an endpoint) works the same, acting as each account's root.
"""
import pulumi

import keyplane

config = pulumi.Config("cross_account")
OWNER = config.get("owner") or "111122223333"      # the accounts `keyplane init` writes
PARTNER = config.get("partner") or "444455556666"
PARTNER_READER = f"arn:aws:iam::{PARTNER}:role/reader"
CONTEXT = {"app": "orders"}

key = keyplane.Key(
    "orders-shared",
    description="orders data, shared with the partner account",
    deletion_window_in_days=7,
    policy={
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "Enable IAM policies", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{OWNER}:root"}, "Action": "kms:*", "Resource": "*"},
            {"Sid": "The partner account decrypts", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
             "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
        ],
    },
)

grant = keyplane.Grant(
    "partner-reader",
    key_id=key.arn,
    grantee_principal=PARTNER_READER,
    operations=["GenerateDataKey", "Decrypt"],
    constraints=[{"encryption_context_subset": CONTEXT}],
)

secret = keyplane.Secret(
    "orders-api-token",
    name="orders/api-token",
    description="the orders API token, readable by the partner",
    kms_key_id=key.arn,     # a customer managed key: the default aws/secretsmanager key cannot be shared
    generate_secret_string={"password_length": 40, "exclude_punctuation": True},
    policy={
        "Version": "2012-10-17",
        "Statement": [{"Sid": "The partner reads it", "Effect": "Allow", "Principal": {"AWS": PARTNER_READER},
                       "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                       "Resource": "*"}],
    },
    recovery_window_in_days=7,
)

# In the partner account: where its applications find what is shared with them.
published = {
    name: keyplane.Parameter(f"partner-{name}", account=PARTNER, name=f"/shared/orders/{name}",
                             type="String", value=value, description=f"{OWNER} shares this with us")
    for name, value in (("key-arn", key.arn), ("secret-arn", secret.arn))
}


def _as_partner_reader():
    """A connection as a session of the partner's reader role, from the stack's own credentials."""
    stack = pulumi.Config("keyplane")
    if not stack.get("endpoint"):
        return keyplane.connect(stack.get("state"), principal=f"arn:aws:sts::{PARTNER}:assumed-role/reader/check")
    conn = keyplane.connect(endpoint=stack.get("endpoint"), access_key=stack.get("accessKey"),
                            secret_key=stack.get("secretKey"))
    role = stack.get("accountRole") or "OrganizationAccountAccessRole"
    for arn in (f"arn:aws:iam::{PARTNER}:role/{role}", PARTNER_READER):   # into the partner, then its reader
        creds = conn.client("sts").assume_role(RoleArn=arn, RoleSessionName="cross-account-check")["Credentials"]
        conn = keyplane.connect(endpoint=stack.get("endpoint"), access_key=creds["AccessKeyId"],
                                secret_key=creds["SecretAccessKey"], session_token=creds["SessionToken"])
    return conn


def _as_owner():
    stack = pulumi.Config("keyplane")
    if not stack.get("endpoint"):
        return keyplane.connect(stack.get("state"), account=OWNER)
    return keyplane.connect(endpoint=stack.get("endpoint"), access_key=stack.get("accessKey"),
                            secret_key=stack.get("secretKey"))


def check(args) -> str:
    """What the partner's reader can do once everything exists: decrypt the owner's data (key
    policy), make data keys for the orders context (grant), read the shared secret (resource policy)."""
    key_arn, secret_arn, _grant, _params = args
    if pulumi.runtime.is_dry_run():
        return "not run in a preview"
    region = pulumi.Config("keyplane").get("region") or "us-east-1"
    owner = _as_owner().client("kms", region=region)
    reader = _as_partner_reader()
    kms, sm = reader.client("kms", region=region), reader.client("secretsmanager", region=region)
    blob = owner.encrypt(KeyId=key_arn, Plaintext=b"order 42", EncryptionContext=CONTEXT)["CiphertextBlob"]
    if kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)["Plaintext"] != b"order 42":
        raise RuntimeError("the partner could not decrypt the owner's data")
    data_key = kms.generate_data_key(KeyId=key_arn, KeySpec="AES_256", EncryptionContext=CONTEXT)
    if owner.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=CONTEXT)["Plaintext"] \
            != data_key["Plaintext"]:
        raise RuntimeError("the partner's data key does not decrypt for the owner")
    if not sm.get_secret_value(SecretId=secret_arn)["SecretString"]:
        raise RuntimeError("the partner read an empty secret")
    return f"account {PARTNER}'s reader decrypted, made a data key and read {secret_arn}"


cross_account_check = pulumi.Output.all(key.arn, secret.arn, grant.grant_id,
                                        *(p.arn for p in published.values())).apply(
    lambda values: check((values[0], values[1], values[2], values[3:])))

pulumi.export("key_arn", key.arn)
pulumi.export("secret_arn", secret.arn)
pulumi.export("grant_id", grant.grant_id)
pulumi.export("partner_parameters", {name: p.name for name, p in published.items()})
pulumi.export("cross_account_check", cross_account_check)
