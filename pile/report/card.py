"""``OUT/README.md``: the build's dataset card, in Hugging Face's format.

The YAML front matter names one config per source and a ``default`` config of every
source (``configs:`` with ``data_files`` globs over ``docs/<source>/*.jsonl.zst``, and
``val/``, ``test/`` when the build holds them out), so
``datasets.load_dataset(OUT, "<source>")`` reads the build as it is, with no script.

``dataset_info`` types ``meta`` as ``json`` (datasets >= 4.7): sources write different
meta keys (a title here, a path there, the PII counts only where PII was found), and
Arrow gives a struct column one set of fields, so without it the ``default`` config could
not put two sources in one table. The split sizes are the build's document counts,
which ``load_dataset`` checks when it reads the files (``num_bytes``, which it does not
check, is the split's share of the source's UTF-8 text bytes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

SPLIT_DIRS = (("train", ""), ("validation", "val/"), ("test", "test/"))
SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                   (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
                   (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"))


@dataclass
class CardSource:
    """One source as the card lists it."""

    name: str
    set_name: str
    kind: str
    license: str
    upstream: str
    epochs: float
    bytes_kept: int
    documents: dict[str, int]  # split (train, validation, test) -> documents written
    tokens: dict[str, int] = field(default_factory=dict)  # tokenizer -> text tokens


def size_category(n: int) -> str:
    for bound, name in SIZE_CATEGORIES:
        if n < bound:
            return name
    return "n>100B"


def config_name(source: str) -> str:
    """A source's config name (a source called ``default`` would shadow the whole)."""
    return f"{source}_source" if source == "default" else source


def front_matter(sources: list[CardSource], title: str, languages: list[str]) -> dict[str, Any]:
    written = [s for s in sources if sum(s.documents.values())]
    total = sum(sum(s.documents.values()) for s in written)

    def files(names: list[str]) -> list[dict[str, Any]]:
        out = []
        for split, prefix in SPLIT_DIRS:
            paths = [f"{prefix}docs/{n}/*.jsonl.zst" for n in names
                     if next(s for s in written if s.name == n).documents.get(split)]
            if paths:
                out.append({"split": split, "path": paths if len(paths) > 1 else paths[0]})
        return out

    def info(name: str, members: list[CardSource]) -> dict[str, Any]:
        # num_bytes (required; HF's is the Arrow size, never checked): the split's share of the text bytes
        splits = [{"name": split, "num_bytes": sum(s.bytes_kept * s.documents.get(split, 0)
                                                   // max(sum(s.documents.values()), 1) for s in members),
                   "num_examples": sum(s.documents.get(split, 0) for s in members)}
                  for split, _p in SPLIT_DIRS if any(s.documents.get(split) for s in members)]
        return {"config_name": name, "features": [{"name": "text", "dtype": "string"},
                                                  {"name": "meta", "dtype": "json"}], "splits": splits}

    configs = [{"config_name": "default", "data_files": files([s.name for s in written])}]
    configs += [{"config_name": config_name(s.name), "data_files": files([s.name])} for s in written]
    data: dict[str, Any] = {"pretty_name": title}
    if languages:
        data["language"] = languages
    data.update({"license": "other", "license_name": "per-source",
                 "task_categories": ["text-generation"], "size_categories": [size_category(total)],
                 "configs": configs if written else [],
                 "dataset_info": ([info("default", written)] + [info(config_name(s.name), [s]) for s in written]
                                  if written else [])})
    return data


def render_card(sources: list[CardSource], title: str, languages: list[str], tokenizers: list[str],
                mix: dict[str, dict[str, Any]], processing: list[str]) -> str:
    """The card: front matter, how to load it, the sources (licence, the Pile's name,
    counts, the mix), what was done to the text, and where everything else is."""
    head = yaml.safe_dump(front_matter(sources, title, languages), sort_keys=False, allow_unicode=True)
    first = next((s.name for s in sources if sum(s.documents.values())), "SOURCE")
    effective = {s.name: s.bytes_kept * s.epochs for s in sources}
    eff_total = sum(effective.values()) or 1.0
    lines = ["---", head.rstrip("\n"), "---", "", f"# {title}", "",
             "A Pile-style pretraining corpus built with `pile`: every source read, cleaned, "
             "deduplicated across sources and scrubbed of PII, then tokenized for each configured "
             "vocabulary. `report.html` beside this card shows samples of what was kept and dropped.", "",
             "## Loading", "", "```python", "from datasets import load_dataset", "",
             'corpus = load_dataset("path/to/this/folder")             # every source (config "default")',
             f'one = load_dataset("path/to/this/folder", "{config_name(first)}")   # one source', "```", "",
             "Each record is `{\"text\": ..., \"meta\": {\"pile_set_name\": ..., \"id\": ...}}`; `meta` is "
             "typed as JSON because its keys differ between sources. The same files are the Pile's own "
             "`jsonl.zst` format, readable without `datasets`.", "",
             "## Sources", "",
             "| config | pile_set_name | licence | documents | MB | epochs | share of the mix |"
             + "".join(f" tokens {t} |" for t in tokenizers),
             "|---|---|---|---:|---:|---:|---:|" + "---:|" * len(tokenizers)]
    for s in sources:
        docs = ", ".join(f"{split} {n:,}" for split, n in s.documents.items() if n) or "0"
        lines.append(f"| {config_name(s.name)} | {s.set_name} | {s.license} | {docs} | "
                     f"{s.bytes_kept / 1e6:,.2f} | {s.epochs:g} | {100 * effective[s.name] / eff_total:.1f}% |"
                     + "".join(f" {s.tokens.get(t, 0):,} |" for t in tokenizers))
    lines += ["", "The share of the mix is each source's kept bytes times its epochs (the Pile's "
              "weights), over the total; the licence is the upstream's, as users must honour it."]
    if mix:
        lines += ["", "## The mixed training set", "", "| tokenizer | documents | tokens |", "|---|---:|---:|"]
        lines += [f"| {name} | {r.get('documents', 0):,} | {r.get('tokens', 0):,} |" for name, r in sorted(mix.items())]
        lines += ["", "Shuffled, epochs applied: `tokens/<tokenizer>/mix/` (Megatron `.bin`/`.idx`), with "
                  "GPT-NeoX's data lines in `tokens/<tokenizer>/neox_data.yml`."]
    if processing:
        lines += ["", "## Processing", "", *[f"- {p}" for p in processing]]
    lines += ["", "## Files", "",
              "- `docs/<source>/NNNNN.jsonl.zst` (and `val/`, `test/`): the documents;",
              "- `tokens/<tokenizer>/`: token shards, the exact vocabulary and the token counts;",
              "- `stats.json`: documents and bytes in and out of every stage, drops by reason;",
              "- `report.md`, `report.html`, `samples/`: the report, and the sampled documents;",
              "- `dedup/clusters.jsonl`, `pii/audit.jsonl`: what was removed as a duplicate, where PII was;",
              "- `manifest.json`: the config, package versions and the sha256 of every artifact."]
    return "\n".join(lines) + "\n"


__all__ = ["CardSource", "config_name", "front_matter", "render_card", "size_category"]
