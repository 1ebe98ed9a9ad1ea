"""SecureString: values are KMS ciphertext at rest, made through the KMS engine as the caller
(`call.kms`, so kms:ViaService is ssm and the caller needs kms:Decrypt to read them): Standard
parameters with Encrypt, Advanced ones with envelope encryption under a GenerateDataKey data key;
both bind the encryption context {"PARAMETER_ARN": arn}."""
from __future__ import annotations

import base64
import os
import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import AccessDeniedException, AwsError
from .errors import InternalServerError, InvalidKeyId
from .names import parameter_arn


def _kms(call, op: str, params: dict) -> dict:
    """A KMS call made by Parameter Store for the caller; key problems become InvalidKeyId, a
    refusal stays AccessDenied (with KMS's message, as AWS passes it through)."""
    try:
        return call.kms(op, params)
    except AccessDeniedException:
        raise
    except AwsError as err:
        if err.status >= 500:
            raise InternalServerError(f"KMS could not complete the request ({err.code}).") from None
        raise InvalidKeyId(err.message or f"The KMS key is not valid ({err.code}).") from None


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
