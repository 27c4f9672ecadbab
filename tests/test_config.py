"""Every config validation fires, with the field's dotted name in the message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from pile.config import Config, apply_overrides, load_config, parse_config, to_dict
from pile.errors import ConfigError


def base(**extra):
    data = {"sources": [{"name": "mine", "kind": "files", "paths": ["x"]}]}
    data.update(extra)
    return data


def test_minimal_config_loads_with_defaults():
    cfg = parse_config(base())
    assert isinstance(cfg, Config)
    assert cfg.sources[0].paths == ("x",)
    assert cfg.clean.languages == ("en",)
    assert cfg.dedup.threshold == 0.8
    assert cfg.out == "build/pile"


def test_default_config_is_valid_and_offline():
    cfg = load_config(None)
    kinds = {s.kind for s in cfg.sources}
    assert kinds == {"python", "system_docs"}
    assert all(s.max_bytes for s in cfg.sources)
    assert len([t for t in cfg.tokenizers if t.train]) >= 2


@pytest.mark.parametrize("data, field", [
    ({}, "sources"),
    ({"sources": []}, "sources"),
    (base(bogus=1), "bogus"),
    (base(clean={"min_char": 5}), "clean.min_char"),
    ({"sources": [{"name": "Bad Name", "kind": "files"}]}, "sources[0].name"),
    ({"sources": [{"kind": "files"}]}, "sources[0].name"),
    ({"sources": [{"name": "wiki_00001", "kind": "files"}]}, "sources[0].name"),
    ({"sources": [{"name": "a", "kind": "files", "epochs": 0}]}, "sources[0].epochs"),
    ({"sources": [{"name": "a", "kind": "files", "max_bytes": -1}]}, "sources[0].max_bytes"),
    ({"sources": [{"name": "a", "kind": "files"}, {"name": "a", "kind": "files"}]}, "sources[1].name"),
    ({"sources": [{"name": "a", "kind": "files", "epochs": "two"}]}, "sources[0].epochs"),
    ({"sources": [{"name": "a", "kind": "files", "paths": 3}]}, "sources[0].paths"),
    ({"sources": [{"name": "a", "kind": "files", "clean": {"min_chars": -1}}]}, "sources[0].clean.min_chars"),
    ({"sources": [{"name": "a", "kind": "files", "clean": {"nope": 1}}]}, "sources[0].clean.nope"),
    (base(clean={"normalization": "NFX"}), "clean.normalization"),
    (base(clean={"min_language_score": 2}), "clean.min_language_score"),
    (base(clean={"min_chars": -1}), "clean.min_chars"),
    (base(clean={"min_chars": 10, "max_chars": 5}), "clean.max_chars"),
    (base(clean={"langid_model": "/nonexistent/lid.ftz"}), "clean.langid_model"),
    (base(clean={"enabled": "yes"}), "clean.enabled"),
    (base(clean={"quality": {"max_symbol_word_ratio": 1.5}}), "clean.quality.max_symbol_word_ratio"),
    (base(clean={"quality": {"min_words": 10, "max_words": 5}}), "clean.quality.min_words"),
    (base(clean={"quality": {"min_mean_word_length": 9, "max_mean_word_length": 2}}),
     "clean.quality.min_mean_word_length"),
    (base(dedup={"threshold": 0}), "dedup.threshold"),
    (base(dedup={"ngram": 0}), "dedup.ngram"),
    (base(dedup={"num_perm": 1}), "dedup.num_perm"),
    (base(dedup={"hash_mode": "slow"}), "dedup.hash_mode"),
    (base(dedup={"bands": 4}), "dedup.bands"),
    (base(dedup={"bands": 64, "rows": 4}), "dedup.bands"),
    (base(dedup={"batch_size": 0}), "dedup.batch_size"),
    (base(dedup={"priority": ["nope"]}), "dedup.priority[0]"),
    (base(pii={"entities": ["SHOE_SIZE"]}), "pii.entities[0]"),
    (base(pii={"replacement": "delete"}), "pii.replacement"),
    (base(pii={"replacement": "hash"}), "pii.hash_key"),
    (base(tokenizers=[{"name": "t"}]), "tokenizers[0]"),
    (base(tokenizers=[{"name": "t", "path": "/nonexistent.json"}]), "tokenizers[0].path"),
    (base(tokenizers=[{"name": "t", "train": {"vocab_size": 100}}]), "tokenizers[0].train.vocab_size"),
    (base(tokenizers=[{"name": "t", "train": {}}, {"name": "t", "train": {}}]), "tokenizers[1].name"),
    (base(tokenizers=[{"name": "T!", "train": {}}]), "tokenizers[0].name"),
    (base(output={"docs_per_file": 0}), "output.docs_per_file"),
    (base(output={"zstd_level": 30}), "output.zstd_level"),
    (base(output={"shard_tokens": 0}), "output.shard_tokens"),
    (base(run={"workers": 0}), "run.workers"),
    (base(run={"batch_size": 0}), "run.batch_size"),
    (base(run={"executor": "dask"}), "run.executor"),
    (base(run={"unit_bytes": 0}), "run.unit_bytes"),
    ([1, 2], "config"),
])
def test_every_validation_fires_and_names_the_field(data, field):
    with pytest.raises(ConfigError) as info:
        parse_config(data)
    message = str(info.value)
    assert message.startswith(field), message
    assert "\n" not in message


def test_overrides_by_path_by_name_and_by_index():
    data = {"sources": [{"name": "a", "kind": "files", "paths": ["x"]},
                        {"name": "b", "kind": "files", "paths": ["y"]}]}
    out = apply_overrides(data, ["dedup.threshold=0.7", "sources.b.max_bytes=1000",
                                 "sources.0.epochs=2.5", "clean.languages=[en, de]", "out=/tmp/o"])
    cfg = parse_config(out)
    assert cfg.dedup.threshold == 0.7
    assert cfg.source("b").max_bytes == 1000
    assert cfg.source("a").epochs == 2.5
    assert cfg.clean.languages == ("en", "de")
    assert cfg.out == "/tmp/o"
    assert data["sources"][1].get("max_bytes") is None  # the input is not mutated


@pytest.mark.parametrize("item, expected", [
    ("novalue", "--set novalue: expected key=value"),
    ("sources.zzz.max_bytes=1", "--set sources.zzz: no list item named 'zzz'"),
    ("a..b=1", "--set a..b=1: empty key"),
])
def test_bad_overrides(item, expected):
    with pytest.raises(ConfigError, match=expected.replace("[", r"\[").replace(".", r"\.")):
        apply_overrides(base(), [item])


def test_override_of_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"^dedup\.treshold: unknown key"):
        parse_config(apply_overrides(base(), ["dedup.treshold=0.5"]))


def test_load_config_file_errors(tmp_path):
    with pytest.raises(ConfigError, match="--config: no such file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n  {name: a\n")
    with pytest.raises(ConfigError, match="invalid YAML at line"):
        load_config(bad)


def test_config_round_trips_through_yaml(tmp_path):
    cfg = load_config(None, [f"out={tmp_path / 'out'}"])  # absolute: a file's relative paths move
    path = tmp_path / "pile.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    assert load_config(path) == cfg


def test_per_source_clean_overrides_merge():
    cfg = parse_config(base(clean={"min_chars": 50},
                            sources=[{"name": "a", "kind": "files", "paths": ["x"],
                                      "clean": {"languages": [], "quality": {"min_words": 3}}}]))
    merged = cfg.clean_for(cfg.sources[0])
    assert merged.min_chars == 50 and merged.languages == () and merged.quality.min_words == 3
    assert merged.quality.max_words == cfg.clean.quality.max_words


def test_unknown_source_name_lists_the_configured_ones():
    cfg = parse_config(base())
    with pytest.raises(ConfigError, match="no source named 'wiki'; configured: mine"):
        cfg.source("wiki")


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path, monkeypatch):
    conf = tmp_path / "project" / "conf"
    (conf / "data").mkdir(parents=True)
    (conf / "data" / "a.txt").write_text("hello")
    (conf / "tok.json").write_text("{}")
    (conf / "pile.yaml").write_text(
        "out: ../build\nsources:\n  - {name: a, kind: files, paths: [data/*.txt], "
        "mirrors: ['https://mirror.example/', local-mirror]}\n"
        "tokenizers:\n  - {name: t, path: tok.json}\n"
        "decontam: {eval_paths: [data/a.txt]}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = load_config(Path("../project/conf/pile.yaml"), ["raw=cache"])
    assert cfg.out_dir == tmp_path / "project" / "build"
    assert cfg.sources[0].paths == (str(conf / "data/*.txt"),)
    assert cfg.sources[0].mirrors == ("https://mirror.example/", str(conf / "local-mirror"))
    assert cfg.tokenizers[0].path == str(conf / "tok.json")
    assert cfg.decontam.eval_paths == (str(conf / "data/a.txt"),)
    assert cfg.raw == "cache"  # --set values are the shell's: relative to the working directory
    # a missing file is named where it was looked for
    (conf / "tok.json").unlink()
    with pytest.raises(ConfigError, match=re.escape(f"tokenizers[0].path: no such file: {conf / 'tok.json'}")):
        load_config(conf / "pile.yaml")
    with pytest.raises(ConfigError, match=re.escape(f"tokenizers[0].path: no such file: {elsewhere / 'x.json'}")):
        load_config(conf / "pile.yaml", ["tokenizers.t.path=x.json"])
