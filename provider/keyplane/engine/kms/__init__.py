"""AWS KMS: keys, aliases, tags, policies, grants, rotation, imported material, custom key stores,
multi-Region keys, the symmetric, asymmetric, HMAC and ML-KEM (Encapsulate / Decapsulate) cryptographic
operations.

Each operation module declares its operations with `@operation("kms", "<AWS name>")` and is listed
in engine/services.py. `records.py` holds the key record and the key cache; `model.py` the rules
every operation shares (key lookup by id / ARN / alias, saving a change, the key-state rules);
`keys.py` CreateKey and deletion, which call the other features' steps by name; `usage.py` when a
key was last used (GetKeyLastUsage, kms:TrailingDaysWithoutKeyUsage).
"""
