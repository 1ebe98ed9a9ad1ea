"""The AWS Encryption SDK for Python doing envelope encryption with keyplane as its KMS."""
from __future__ import annotations

import os

import importlib.util

import botocore.session
import pytest


def test_encryption_sdk_round_trips_a_10_mb_file_through_keyplane(server, kms, tmp_path, monkeypatch, require):
    require(importlib.util.find_spec("aws_encryption_sdk") is not None,
            "aws-encryption-sdk not installed (pip install -e '.[dev]')")
    import aws_encryption_sdk
    from aws_encryption_sdk import CommitmentPolicy
    from aws_encryption_sdk.key_providers.kms import StrictAwsKmsMasterKeyProvider

    key_arn = kms.create_key(Description="envelope")["KeyMetadata"]["Arn"]
    # the SDK builds its own KMS clients from a botocore session; the endpoint comes from the env
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    session = botocore.session.Session()
    session.set_credentials(server.access_key, server.secret_key)
    provider = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn], botocore_session=session)
    client = aws_encryption_sdk.EncryptionSDKClient(
        commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)

    plain = tmp_path / "big.bin"
    plain.write_bytes(os.urandom(10 * 1024 * 1024))
    with open(plain, "rb") as src, open(tmp_path / "big.enc", "wb") as dst:
        with client.stream(mode="e", source=src, key_provider=provider,
                           encryption_context={"file": "big.bin"}) as enc:
            for chunk in enc:
                dst.write(chunk)
    encrypted = (tmp_path / "big.enc").read_bytes()
    assert key_arn.encode() in encrypted  # the header names keyplane's key as the wrapping key
    decrypted, header = client.decrypt(source=encrypted, key_provider=provider)
    assert decrypted == plain.read_bytes()
    assert header.encryption_context["file"] == "big.bin"

    # another key cannot open it: the data key is wrapped by keyplane only under key_arn
    other = kms.create_key()["KeyMetadata"]["Arn"]
    with pytest.raises(Exception):
        client.decrypt(source=encrypted,
                       key_provider=StrictAwsKmsMasterKeyProvider(key_ids=[other], botocore_session=session))
