"""AWS KMS: keys, aliases, tags, the cryptographic operations (and, as they land, policies,
grants, rotation, import, custom key stores, multi-Region keys, asymmetric and HMAC keys).

Each module declares its operations with `@operation("kms", "<AWS name>")`; `model.py` holds the
key record, key lookup by id / ARN / alias, the key-state rules and the key cache they share.
"""
