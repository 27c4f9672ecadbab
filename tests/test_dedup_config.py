"""Validation of the ``dedup`` config section (every check fires with the field's name)."""

from __future__ import annotations

import pytest

from pile.config import DedupConfig, parse_config
from pile.errors import ConfigError


def _parse(dedup: dict) -> DedupConfig:
    return parse_config({"sources": [{"name": "a", "kind": "files", "paths": ["x.txt"]},
                                     {"name": "b", "kind": "files", "paths": ["y.txt"]}],
                         "dedup": dedup}).dedup


@pytest.mark.parametrize("dedup, field", [
    ({"weights": [0.5]}, "dedup.weights"),
    ({"weights": [0.7, 0.7]}, "dedup.weights"),
    ({"weights": [-0.1, 1.1]}, "dedup.weights"),
    ({"weights": ["x", 0.5]}, "dedup.weights[0]"),
    ({"partitions": 0}, "dedup.partitions"),
    ({"partitions": 5000}, "dedup.partitions"),
    ({"partitions": 2.5}, "dedup.partitions"),
    ({"ngram": 0}, "dedup.ngram"),
    ({"ngram": 65}, "dedup.ngram"),
    ({"threshold": 0.0}, "dedup.threshold"),
    ({"num_perm": 1}, "dedup.num_perm"),
    ({"hash_mode": "sha1"}, "dedup.hash_mode"),
    ({"bands": 4}, "dedup.bands"),
    ({"bands": 20, "rows": 10}, "dedup.bands"),
    ({"batch_size": 0}, "dedup.batch_size"),
    ({"priority": ["nope"]}, "dedup.priority[0]"),
    ({"shingles": 5}, "dedup.shingles"),
])
def test_invalid_dedup_config_names_the_field(dedup: dict, field: str) -> None:
    with pytest.raises(ConfigError) as err:
        _parse(dedup)
    assert str(err.value).startswith(f"{field}:")


@pytest.mark.parametrize("dedup, attr, value", [
    ({}, "weights", (0.05, 0.95)),
    ({}, "partitions", 64),
    ({"weights": [0.5, 0.5]}, "weights", (0.5, 0.5)),
    ({"weights": [0, 1]}, "weights", (0.0, 1.0)),
    ({"partitions": 1}, "partitions", 1),
    ({"ngram": 64}, "ngram", 64),
    ({"bands": 16, "rows": 8}, "rows", 8),
    ({"priority": ["b", "a"]}, "priority", ("b", "a")),
])
def test_valid_dedup_config(dedup: dict, attr: str, value) -> None:
    assert getattr(_parse(dedup), attr) == value
