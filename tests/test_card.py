"""OUT/README.md, the dataset card: Hugging Face's format, loaded by `datasets` itself
(offline) from the sampled build (tests/conftest.py), one config per source and default."""

from __future__ import annotations

import json

import yaml

from pile.docs_io import iter_jsonl_zst


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n", 2)[1])


def written(out, source: str, part: str) -> list[dict]:
    root = out if part == "train" else out / part
    return [rec for f in sorted((root / "docs" / source).glob("*.jsonl.zst")) for _n, rec in iter_jsonl_zst(f)]


def test_the_card_names_a_config_per_source_and_default(sampled_build):
    cfg, _result, _planted = sampled_build
    card = (cfg.out_dir / "README.md").read_text()
    meta = front_matter(card)
    assert [c["config_name"] for c in meta["configs"]] == ["default", "wiki", "plays"]
    plays = next(c for c in meta["configs"] if c["config_name"] == "plays")
    assert plays["data_files"] == [{"split": "train", "path": "docs/plays/*.jsonl.zst"},
                                   {"split": "validation", "path": "val/docs/plays/*.jsonl.zst"},
                                   {"split": "test", "path": "test/docs/plays/*.jsonl.zst"}]
    default = meta["configs"][0]["data_files"][0]
    assert default == {"split": "train", "path": ["docs/wiki/*.jsonl.zst", "docs/plays/*.jsonl.zst"]}
    assert {f["name"]: f["dtype"] for f in meta["dataset_info"][0]["features"]} == {"text": "string", "meta": "json"}
    assert meta["license"] == "other" and meta["language"] == ["en"] and meta["size_categories"] == ["n<1K"]
    # the body: licence, the Pile's name, counts and the mix per source
    row = next(line for line in card.splitlines() if line.startswith("| plays |"))
    assert "| plays | as the user's files |" in row and "train 50, validation 8, test 2" in row
    stats = json.loads((cfg.out_dir / "stats.json").read_text())
    kept = {n: s["summary"]["bytes_kept"] * cfg.source(n).epochs for n, s in stats["sources"].items()}
    assert f"{100 * kept['plays'] / sum(kept.values()):.1f}%" in row


def test_datasets_loads_two_configs_of_the_card_offline(sampled_build, tmp_path, monkeypatch):
    import datasets
    import huggingface_hub.constants

    for key in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE"):
        monkeypatch.setenv(key, "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    datasets.disable_progress_bars()
    cfg, _result, _planted = sampled_build
    out = cfg.out_dir
    stats = json.loads((out / "stats.json").read_text())["sources"]

    plays = datasets.load_dataset(str(out), "plays", cache_dir=str(tmp_path / "hf"))
    counters = stats["plays"]["summary"]["counters"]
    assert {k: v.num_rows for k, v in plays.items()} == {
        "train": counters["split.train"], "validation": counters["split.val"], "test": counters["split.test"]}
    assert plays["validation"]["text"] == [r["text"] for r in written(out, "plays", "val")]

    everything = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf"))  # the default config
    train = everything["train"]
    assert train.num_rows == sum(s["summary"]["counters"]["split.train"] for s in stats.values())
    assert train["text"] == [r["text"] for s in ("wiki", "plays") for r in written(out, s, "train")]
    metas = train["meta"]  # one table, though the sources' meta keys differ
    assert {m["pile_set_name"] for m in metas} == {"wiki", "plays"}
    assert all("part" in m for m in metas if m["pile_set_name"] == "wiki")
    assert all("act" in m and "part" not in m for m in metas if m["pile_set_name"] == "plays")
    assert any(m["pii"] for m in metas) and any(not m["pii"] for m in metas)
