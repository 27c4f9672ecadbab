"""Sources: one module per upstream, and the table that maps a config `kind` to its class.

Adding a source: one module, one line in `KINDS`, one test with its sample.
"""

from __future__ import annotations

from pathlib import Path

from pile.config import SourceConfig
from pile.errors import ConfigError
from pile.sources.base import RemoteFile, Source

KINDS: dict[str, str] = {
    # kind: "module:Class" (imported on use, so one broken parser never breaks the CLI)
    "files": "pile.sources.files:FilesSource",
    "python": "pile.sources.local:PythonSource",
    "system_docs": "pile.sources.local:SystemDocsSource",
    "commoncrawl": "pile.sources.commoncrawl:CommonCrawlSource",
    "pubmed_abstracts": "pile.sources.pubmed:PubmedAbstractsSource",
    "pubmed_central": "pile.sources.pmc:PubmedCentralSource",
    "uspto": "pile.sources.uspto:UsptoSource",
    "arxiv": "pile.sources.arxiv:ArxivSource",
    "gutenberg": "pile.sources.gutenberg:GutenbergSource",
    "europarl": "pile.sources.europarl:EuroparlSource",
    "ubuntu_irc": "pile.sources.ubuntu_irc:UbuntuIrcSource",
    "wikipedia": "pile.sources.wikipedia:WikipediaSource",
    "stackexchange": "pile.sources.stackexchange:StackExchangeSource",
    "enron": "pile.sources.enron:EnronSource",
    "dm_mathematics": "pile.sources.dm_mathematics:DmMathematicsSource",
    "hackernews": "pile.sources.hackernews:HackerNewsSource",
    "freelaw": "pile.sources.freelaw:FreeLawSource",
    "nih_exporter": "pile.sources.nih_exporter:NihExporterSource",
    "philpapers": "pile.sources.philpapers:PhilPapersSource",
    "opensubtitles": "pile.sources.opensubtitles:OpenSubtitlesSource",
    "youtube_subtitles": "pile.sources.youtube_subtitles:YoutubeSubtitlesSource",
    "github": "pile.sources.github:GithubSource",
    "openwebtext2": "pile.sources.openwebtext2:OpenWebText2Source",
    "books": "pile.sources.books:BooksSource",
}


def source_class(kind: str) -> type[Source]:
    """The Source class for a config `kind`."""
    import importlib

    try:
        target = KINDS[kind]
    except KeyError:
        raise ConfigError(f"unknown source kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)


def make_source(cfg: SourceConfig, raw_dir: Path) -> Source:
    """Instantiate the configured source (validates its options)."""
    try:
        cls = source_class(cfg.kind)
    except ConfigError as exc:
        raise ConfigError(f"sources.{cfg.name}.kind: {exc}") from None
    return cls(cfg, raw_dir)


__all__ = ["KINDS", "RemoteFile", "Source", "make_source", "source_class"]
