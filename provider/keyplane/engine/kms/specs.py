"""Key specs: which usages each allows, which algorithms it offers, how its material is made.

The symmetric spec lives here; asymmetric and HMAC specs register themselves from their own module
(`register(KeySpec(...))`), so CreateKey, DescribeKey and the cryptographic operations find every
spec in one place.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class KeySpec:
    name: str
    usages: tuple[str, ...]                       # allowed KeyUsage values
    generate: Callable[[], bytes]                 # new private/secret material (bytes to seal)
    # per usage: the KeyMetadata field and its algorithm list
    algorithms: dict = field(default_factory=dict)
    symmetric: bool = False

    def metadata_algorithms(self, usage: str) -> dict:
        return dict(self.algorithms.get(usage, {}))


SPECS: dict[str, KeySpec] = {}


def register(spec: KeySpec) -> KeySpec:
    SPECS[spec.name] = spec
    return spec


SYMMETRIC_DEFAULT = register(KeySpec(
    name="SYMMETRIC_DEFAULT",
    usages=("ENCRYPT_DECRYPT",),
    generate=lambda: os.urandom(32),
    algorithms={"ENCRYPT_DECRYPT": {"EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"]}},
    symmetric=True,
))
