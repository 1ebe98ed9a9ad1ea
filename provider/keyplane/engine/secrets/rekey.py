"""A secret's key changed (UpdateSecret KmsKeyId): its labelled versions are re-encrypted.

"When you change the encryption key, Secrets Manager re-encrypts AWSCURRENT, AWSPENDING, and
AWSPREVIOUS versions with the new key. To avoid locking you out of the secret, Secrets Manager keeps
all existing versions encrypted with the previous key. That means you can decrypt AWSCURRENT,
AWSPENDING, and AWSPREVIOUS versions with the previous key or the new key."
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/manage_update-encryption-key.html)
"If you don't have kms:Encrypt permission to the new key, Secrets Manager does not re-encrypt
existing secret versions with the new key." (UpdateSecret, KmsKeyId)

A version's value keeps its one data key: re-encryption wraps that data key under the new key
(kms:Decrypt under the key it is under, kms:Encrypt under the new one, both for the caller, with the
version's encryption context) and keeps the earlier wrapping beside it. Other versions stay as they
are. At most MAX_EARLIER_KEYS earlier wrappings are kept per version (one per key).
"""
from __future__ import annotations

from ..errors import AwsError
from .model import Secret, encryption_context, kms, listed_key, load_versions, save_data_keys

REENCRYPTED_LABELS = frozenset({"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"})
MAX_EARLIER_KEYS = 20


def reencrypt_labelled_versions(call, conn, secret: Secret) -> None:
    """Wrap each labelled version's data key under the secret's (new) key as well; a version whose
    key the caller cannot use, or a new key the caller may not Encrypt with, is left as it is."""
    for v in load_versions(conn, secret.arn):
        if not REENCRYPTED_LABELS.intersection(v.stages):
            continue
        context = encryption_context(secret.arn, v.version_id)
        try:
            data_key = kms(call, "Decrypt", {"CiphertextBlob": v.data_key, "EncryptionContext": context})["Plaintext"]
            out = kms(call, "Encrypt", {"KeyId": secret.key_id, "Plaintext": data_key, "EncryptionContext": context})
        except AwsError:
            continue
        new_arn = listed_key(secret.kms_key_id, out["KeyId"])
        if new_arn == v.kms_key_arn:
            continue
        earlier = [(v.kms_key_arn, v.data_key)] + [(a, k) for a, k in v.earlier_keys if a != new_arn]
        v.data_key, v.kms_key_arn, v.earlier_keys = out["CiphertextBlob"], new_arn, earlier[:MAX_EARLIER_KEYS]
        save_data_keys(conn, v)
