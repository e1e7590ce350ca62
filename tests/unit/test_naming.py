"""Generated names and pod-template hashes: lengths, alphabet, stability."""

from __future__ import annotations

import random
from typing import Any

import pytest

from apiserver import naming


@pytest.mark.parametrize(("prefix", "length", "kept"), [
    ("web-", 9, "web-"),
    ("", 5, ""),
    ("x" * 58, 63, "x" * 58),
    ("y" * 80, 63, "y" * 58),
], ids=["short", "empty", "exactly-58", "truncated"])
def test_generate_name_length_and_prefix(prefix: str, length: int, kept: str) -> None:
    name = naming.generate_name(prefix, random.Random(1))
    assert (len(name), name[:-5]) == (length, kept)
    assert set(name[-5:]) <= set(naming.ALPHANUMS)


def test_generate_name_is_deterministic_per_seed() -> None:
    first = [naming.generate_name("web-", random.Random(7)) for _ in range(2)]
    assert first[0] == first[1]
    assert naming.generate_name("web-", random.Random(8)) != first[0]


@pytest.mark.parametrize("n", [0, 1, 5, 10], ids=lambda n: f"n={n}")
def test_random_suffix_alphabet(n: int) -> None:
    suffix = naming.random_suffix(random.Random(n), n)
    assert len(suffix) == n and set(suffix) <= set(naming.ALPHANUMS)


def test_alphabet_has_no_vowels_or_confusables() -> None:
    assert not set(naming.ALPHANUMS) & set("aeiouy013")
    assert len(naming.ALPHANUMS) == 27


@pytest.mark.parametrize(("digits", "encoded"), [
    ("0123456789", "456789bcdf"),
    ("", ""),
], ids=["each-digit", "empty"])
def test_safe_encode_maps_digits_like_upstream(digits: str, encoded: str) -> None:
    assert naming.safe_encode(digits) == encoded


@pytest.mark.parametrize(("data", "expected"), [
    (b"", 0x811C9DC5),
    (b"a", 0xE40C292C),
    (b"foobar", 0xBF9CF968),
], ids=["empty", "a", "foobar"])
def test_fnv1a_32_reference_vectors(data: bytes, expected: int) -> None:
    assert naming.fnv1a_32(data) == expected


TEMPLATE: dict[str, Any] = {
    "metadata": {"labels": {"app": "web", "tier": "fe"}},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]},
}
REORDERED: dict[str, Any] = {
    "spec": {"containers": [{"image": "nginx:1.27", "name": "web"}]},
    "metadata": {"labels": {"tier": "fe", "app": "web"}},
}


def test_template_hash_shape() -> None:
    value = naming.template_hash(TEMPLATE)
    assert 1 <= len(value) <= 10 and set(value) <= set("456789bcdf")


@pytest.mark.parametrize(("a", "b", "equal"), [
    (TEMPLATE, REORDERED, True),
    (TEMPLATE, {**TEMPLATE, "spec": {"containers": [{"name": "web", "image": "nginx:1.28"}]}},
     False),
], ids=["key-order-irrelevant", "image-change-changes-hash"])
def test_template_hash_stability(a: dict[str, Any], b: dict[str, Any], equal: bool) -> None:
    assert (naming.template_hash(a) == naming.template_hash(b)) is equal


@pytest.mark.parametrize(("template", "collision_count", "expected"), [
    ({}, None, "5859f96865"),
    (TEMPLATE, None, "5bf96695d"),
    (TEMPLATE, 1, "69c6d85f6c"),
], ids=["empty", "template", "template-collision-1"])
def test_template_hash_is_pinned(template: dict[str, Any], collision_count: int | None,
                                 expected: str) -> None:
    # Pinned: a changed value would relabel every existing ReplicaSet after an upgrade.
    assert naming.template_hash(template, collision_count) == expected


@pytest.mark.parametrize("count", [None, 0, 1, 2], ids=lambda c: f"collisions={c}")
def test_collision_count_changes_hash(count: int | None) -> None:
    others = {naming.template_hash(TEMPLATE, c) for c in (None, 0, 1, 2) if c != count}
    assert naming.template_hash(TEMPLATE, count) not in others
