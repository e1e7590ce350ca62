"""Generated names and template hashes, shaped like upstream's.

``generate_name`` is the apiserver's SimpleNameGenerator for ``metadata.generateName``;
``template_hash`` gives the ``pod-template-hash`` label a Deployment stamps on its
ReplicaSets and pods. Randomness comes from the caller's ``random.Random`` so tests and
replays are deterministic.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Mapping
from typing import Any

# k8s.io/apimachinery/pkg/util/rand: no vowels (no accidental words), no 0/1/3 (no
# confusion with o/l/e).
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"

MAX_NAME_LENGTH = 63
RANDOM_LENGTH = 5
MAX_GENERATED_PREFIX_LENGTH = MAX_NAME_LENGTH - RANDOM_LENGTH

_FNV32_OFFSET = 0x811C9DC5
_FNV32_PRIME = 0x01000193


def random_suffix(rng: random.Random, n: int = RANDOM_LENGTH) -> str:
    """``n`` characters from ALPHANUMS (rand.String)."""
    return "".join(rng.choice(ALPHANUMS) for _ in range(n))


def generate_name(prefix: str, rng: random.Random) -> str:
    """SimpleNameGenerator: ``prefix`` cut to 58 characters, then 5 random ones."""
    return prefix[:MAX_GENERATED_PREFIX_LENGTH] + random_suffix(rng)


def safe_encode(s: str) -> str:
    """rand.SafeEncodeString: map each character onto ALPHANUMS by code point."""
    return "".join(ALPHANUMS[ord(c) % len(ALPHANUMS)] for c in s)


def fnv1a_32(data: bytes) -> int:
    h = _FNV32_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV32_PRIME) & 0xFFFFFFFF
    return h


def template_hash(template: Mapping[str, Any], collision_count: int | None = None) -> str:
    """controller.ComputeHash's shape: FNV-1a 32 of the template (canonical JSON here,
    where upstream hashes the Go struct), the Deployment's collisionCount appended as
    little-endian uint32 when set, and the decimal hash safe-encoded (e.g. "698574c958")."""
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    data = canonical.encode()
    if collision_count is not None:
        data += struct.pack("<I", collision_count & 0xFFFFFFFF)
    return safe_encode(str(fnv1a_32(data)))
