"""User rotators for the tests, written as rotation Lambda handlers are: `handler(event, context)`."""
from __future__ import annotations

SEEN: list[tuple[str, str]] = []


def rotate_token(event, context):
    """Rotates an opaque API token: createSecret makes it, finishSecret promotes it."""
    sm = context.client("secretsmanager")
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    SEEN.append((step, token))
    if step == "createSecret":
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, VersionStages=["AWSPENDING"],
                            SecretString="token-" + sm.get_random_password(ExcludePunctuation=True)["RandomPassword"])
    elif step == "finishSecret":
        stages = sm.describe_secret(SecretId=arn)["VersionIdsToStages"]
        current = next(v for v, s in stages.items() if "AWSCURRENT" in s)
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                       RemoveFromVersionId=current)


def failing_test(event, context):
    """Creates a pending value, then refuses it in testSecret."""
    if event["Step"] == "testSecret":
        raise RuntimeError("the new token was refused by the service")
    rotate_token(event, context)
