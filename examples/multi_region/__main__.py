"""keyplane multi-Region example: one multi-Region key with its primary in us-east-1 and replicas
in us-west-2, eu-west-1 and ap-southeast-2, the same alias name in every Region, and a check,
once everything exists, that data encrypted in any Region decrypts in every other one.

Each replica holds the key material itself (sealed under its Region's store root key), so an
application decrypts in its own Region without calling another. With a `regions.yaml` in the
keyplane state folder, each Region lives in its own store (see README, "Regions on separate
stores"); without one, all Regions share the state's store and behave the same.

    cd examples/multi_region && pulumi stack init dev
    pulumi config set keyplane:state "$HOME/.keyplane"     # optional: regions.yaml beside its state.db
    pulumi up                                              # exports cross_region_check
"""
import pulumi

import keyplane

PRIMARY = "us-east-1"
REPLICA_REGIONS = ["us-west-2", "eu-west-1", "ap-southeast-2"]
ALIAS = "alias/payments"
CONTEXT = {"app": "payments"}

key = keyplane.Key(
    "payments",
    description="payments data (primary)",
    multi_region=True,
    region=PRIMARY,
    deletion_window_in_days=7,
    tags={"team": "payments"},
)
aliases = {PRIMARY: keyplane.Alias(f"payments-{PRIMARY}", name=ALIAS, target_key_id=key.key_id, region=PRIMARY)}
replicas = {}
for region in REPLICA_REGIONS:
    replicas[region] = keyplane.MultiRegionReplica(
        f"payments-{region}",
        primary_key_arn=key.arn,
        region=region,
        description=f"payments data ({region} replica)",
        deletion_window_in_days=7,
        tags={"team": "payments", "site": region},
    )
    aliases[region] = keyplane.Alias(f"payments-{region}", name=ALIAS,
                                     target_key_id=replicas[region].key_id, region=region)


def connection():
    """The keyplane the provider manages (the same `keyplane:*` stack configuration)."""
    config = pulumi.Config("keyplane")
    if config.get("endpoint"):
        return keyplane.connect(endpoint=config.get("endpoint"), access_key=config.get("accessKey"),
                                secret_key=config.get("secretKey"))
    return keyplane.connect(config.get("state"), account=config.get("account"))


def check_cross_region(_ready) -> str:
    """Encrypt through the alias in each Region, decrypt in each other Region."""
    if pulumi.runtime.is_dry_run():
        return "not run in a preview"
    conn = connection()
    regions = [PRIMARY, *REPLICA_REGIONS]
    checked = 0
    for source in regions:
        plaintext = f"payment made in {source}".encode()
        blob = conn.client("kms", region=source).encrypt(
            KeyId=ALIAS, Plaintext=plaintext, EncryptionContext=CONTEXT)["CiphertextBlob"]
        for target in regions:
            if target == source:
                continue
            out = conn.client("kms", region=target).decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT)
            if out["Plaintext"] != plaintext or f":{target}:" not in out["KeyId"]:
                raise RuntimeError(f"data encrypted in {source} did not decrypt with the key in {target}")
            checked += 1
    return f"{checked} cross-Region decryptions succeeded"


cross_region_check = pulumi.Output.all(key.key_id, *(a.arn for a in aliases.values())).apply(check_cross_region)

pulumi.export("key_id", key.key_id)
pulumi.export("primary_arn", key.arn)
pulumi.export("replica_arns", {region: r.arn for region, r in replicas.items()})
pulumi.export("cross_region_check", cross_region_check)
