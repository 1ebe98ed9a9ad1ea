"""Request quotas (issue 17, finding 6): per account and Region, per quota, on the injected clock.

Quota numbers: https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html,
https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html,
https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-throughput.html.
KMS's answer: "You have exceeded the rate at which you may call KMS. Reduce the frequency of your
calls." (Error Code: ThrottlingException, Status Code: 400), same page; Parameter Store and Secrets
Manager answer ThrottlingException "Rate exceeded"
(https://repost.aws/knowledge-center/ssm-parameter-store-rate-exceeded)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from botocore.exceptions import ClientError

import keyplane
from keyplane.engine import quotas
from keyplane.engine.quotas import Quotas, Throttled, quota_for


def _throttled(call):
    with pytest.raises(ClientError) as e:
        call()
    r = e.value.response
    return (r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"],
            r["ResponseMetadata"]["HTTPHeaders"].get("retry-after"))


def test_create_key_is_throttled_past_five_a_second_and_the_throttled_call_creates_nothing(engine, clock, kms):
    engine.quotas = Quotas(clock)
    for _ in range(5):
        kms.create_key()
    before = len(kms.list_keys()["Keys"])
    status, code, message, retry_after = _throttled(kms.create_key)
    assert (status, code) == (400, "ThrottlingException")
    assert message == "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls."
    assert retry_after == "1"
    assert len(kms.list_keys()["Keys"]) == before
    clock.advance(timedelta(milliseconds=200))  # one call's worth of a 5/s quota
    kms.create_key()
    assert _throttled(kms.create_key)[1] == "ThrottlingException"


def test_quotas_are_per_account_one_account_cannot_spend_another_s(engine, clock, kms):
    engine.quotas = Quotas(clock)
    for _ in range(5):
        kms.create_key()
    assert _throttled(kms.create_key)[1] == "ThrottlingException"
    other = keyplane.connect(engine=engine, account="444455556666").client("kms")
    other.create_key()   # another account's bucket is full
    eu = keyplane.connect(engine=engine).client("kms", region="eu-west-1")
    eu.create_key()      # and so is another Region's


def test_operations_have_independent_quotas_and_crypto_calls_share_one(engine, clock, kms):
    engine.quotas = Quotas(clock, {quotas.SYMMETRIC: 3})
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"x")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert _throttled(lambda: kms.encrypt(KeyId=key, Plaintext=b"x"))[1] == "ThrottlingException"
    kms.describe_key(KeyId=key)          # DescribeKey has its own quota


def test_generate_data_key_pair_quota_follows_the_key_pair_spec():
    """RSA_4096: 0.1 per second (1 in each 10-second interval); ECC_NIST_P256: 25."""
    from keyplane.engine.clock import ManualClock
    clock = ManualClock()
    q = Quotas(clock)
    q.charge("111122223333", "us-east-1", "kms", "GenerateDataKeyPair", {"KeyPairSpec": "RSA_4096"})
    with pytest.raises(Throttled) as e:
        q.charge("111122223333", "us-east-1", "kms", "GenerateDataKeyPairWithoutPlaintext", {"KeyPairSpec": "RSA_4096"})
    assert quotas.retry_after_header(e.value) == "10"
    for _ in range(25):
        q.charge("111122223333", "us-east-1", "kms", "GenerateDataKeyPair", {"KeyPairSpec": "ECC_NIST_P256"})
    clock.advance(seconds=10)
    q.charge("111122223333", "us-east-1", "kms", "GenerateDataKeyPair", {"KeyPairSpec": "RSA_4096"})


def test_key_type_of_a_cryptographic_call_comes_from_its_algorithm():
    assert quota_for("kms", "Sign", {"SigningAlgorithm": "RSASSA_PSS_SHA_256"}) == quotas.RSA
    assert quota_for("kms", "Verify", {"SigningAlgorithm": "ECDSA_SHA_256"}) == quotas.ECC
    assert quota_for("kms", "Sign", {"SigningAlgorithm": "ED25519_PH_SHA_512"}) == quotas.ECC
    assert quota_for("kms", "Verify", {"SigningAlgorithm": "ED25519_SHA_512"}) == quotas.ECC
    assert quota_for("kms", "Decrypt", {"EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}) == quotas.RSA
    assert quota_for("kms", "Decrypt", {}) == quotas.SYMMETRIC
    assert quota_for("kms", "GenerateMac", {"MacAlgorithm": "HMAC_SHA_256"}) == quotas.SYMMETRIC
    assert quota_for("kms", "DeriveSharedSecret", {}) == quotas.ECC


def test_parameter_store_reads_share_forty_a_second_and_answer_rate_exceeded(engine, clock, kp):
    ssm = kp.client("ssm")
    ssm.put_parameter(Name="/q/p", Value="v", Type="String")
    engine.quotas = Quotas(clock)
    for i in range(40):
        (ssm.get_parameter(Name="/q/p") if i % 2 else ssm.get_parameters(Names=["/q/p"]))
    status, code, message, _ = _throttled(lambda: ssm.get_parameters_by_path(Path="/q"))
    assert (status, code, message) == (400, "ThrottlingException", "Rate exceeded")
    ssm.describe_parameters()   # not in the shared read quota


def test_secrets_manager_throttles_with_rate_exceeded(engine, clock, kp):
    sm = kp.client("secretsmanager")
    sm.create_secret(Name="q", SecretString="s")
    engine.quotas = Quotas(clock, {"secretsmanager:GetSecretValue": 2})
    sm.get_secret_value(SecretId="q")
    sm.get_secret_value(SecretId="q")
    assert _throttled(lambda: sm.get_secret_value(SecretId="q"))[:3] == (400, "ThrottlingException", "Rate exceeded")


def test_quota_settings_off_defaults_and_a_file(tmp_path, clock):
    assert quotas.load("off", clock) is None
    assert quotas.load(None, clock).rate("kms:CreateKey") == 5
    assert quotas.load(None, clock, share=0.5).rate(quotas.SYMMETRIC) == 5000
    f = tmp_path / "quotas.yaml"
    f.write_text("kms:CreateKey: 100\ndefault: 7\n")
    q = quotas.load(str(f), clock)
    assert (q.rate("kms:CreateKey"), q.rate("kms:Madeup"), q.rate(quotas.RSA)) == (100, 7, 500)
    f.write_text("kms:CreateKey: lots\n")
    with pytest.raises(ValueError):
        quotas.load(str(f), clock)
