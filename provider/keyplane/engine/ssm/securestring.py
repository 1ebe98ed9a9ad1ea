"""SecureString: values are KMS ciphertext at rest, made through the KMS engine as the caller
(`call.kms`, so kms:ViaService is ssm and the caller needs kms:Decrypt to read them): Standard
parameters with Encrypt, Advanced ones with envelope encryption under a GenerateDataKey data key;
both bind the encryption context {"PARAMETER_ARN": arn}."""
from __future__ import annotations

import base64
import os
import struct
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AccessDeniedException, AwsError
from .errors import InternalServerError, InvalidKeyId
from .names import parameter_arn


def _kms_refusal(err: AwsError) -> str:
    """KMS's own answer as Parameter Store passes it on: KMS's message, then the service, status,
    code and request id of the KMS call (a fresh id: it is KMS's request, not this one), e.g.
    "Key 'arn:aws:kms:...' does not exist (Service: AWSKMS; Status Code: 400; Error Code:
    NotFoundException; Request ID: ...; Proxy: null)" (https://github.com/binxio/aws-ssm-copy/issues/10,
    https://github.com/segmentio/chamber/issues/355, https://github.com/hashicorp/terraform-provider-aws/issues/42849)."""
    return (f"{err.message or ''} (Service: AWSKMS; Status Code: {err.status}; Error Code: {err.code}; "
            f"Request ID: {uuid.uuid4()}; Proxy: null)").lstrip()


def _kms(call, op: str, params: dict) -> dict:
    """A KMS call made by Parameter Store for the caller: a refusal stays AccessDeniedException, any
    other KMS client error (no such key, disabled, pending deletion, wrong key type) is InvalidKeyId,
    both carrying KMS's answer (`_kms_refusal`)."""
    try:
        return call.kms(op, params)
    except AccessDeniedException as err:
        raise AccessDeniedException(_kms_refusal(err)) from None
    except AwsError as err:
        if err.status >= 500:
            raise InternalServerError(f"KMS could not complete the request ({err.code}).") from None
        raise InvalidKeyId(_kms_refusal(err)) from None


def encrypt_value(call, value: str, key_id: str, arn: str, tier: str) -> str:
    context = {"PARAMETER_ARN": arn}
    if tier == "Standard":
        blob = _kms(call, "Encrypt", {"KeyId": key_id, "Plaintext": value.encode(),
                                      "EncryptionContext": context})["CiphertextBlob"]
        return base64.b64encode(blob).decode()
    # Advanced values (up to 8 KB) use envelope encryption: a data key from KMS seals the value
    dk = _kms(call, "GenerateDataKey", {"KeyId": key_id, "KeySpec": "AES_256", "EncryptionContext": context})
    nonce = os.urandom(12)
    sealed = AESGCM(dk["Plaintext"]).encrypt(nonce, value.encode(), arn.encode())
    edk = dk["CiphertextBlob"]
    return base64.b64encode(struct.pack(">H", len(edk)) + edk + nonce + sealed).decode()


def decrypt_value(call, version) -> str:
    blob = base64.b64decode(version.value)
    arn = parameter_arn(version.region, version.account, version.name)
    context = {"PARAMETER_ARN": arn}
    if version.tier == "Standard":
        return _kms(call, "Decrypt", {"CiphertextBlob": blob, "EncryptionContext": context})["Plaintext"].decode()
    (n,) = struct.unpack(">H", blob[:2])
    edk, nonce, sealed = blob[2:2 + n], blob[2 + n:14 + n], blob[14 + n:]
    data_key = _kms(call, "Decrypt", {"CiphertextBlob": edk, "EncryptionContext": context})["Plaintext"]
    try:
        return AESGCM(data_key).decrypt(nonce, sealed, arn.encode()).decode()
    except InvalidTag:
        raise InternalServerError("The parameter value could not be decrypted.") from None


def shown_value(call, version, with_decryption: bool) -> str:
    if version.type == "SecureString" and with_decryption:
        return decrypt_value(call, version)
    return version.value
