"""PubMed abstracts (the Pile's "PubMed Abstracts" component).

Follows the Pile (Gao et al. 2020, appendix: PubMed Abstracts): the abstracts of the
citations in NLM's PubMed, one document per citation: the article title, then its
abstract. Structured abstracts keep their section labels (``BACKGROUND: ...``,
``METHODS: ...``), one paragraph per section. Citations without an abstract are dropped
with reason ``no_abstract``.

Input: the annual baseline (``pubmedYYnNNNN.xml.gz``, ~1,300 files of ~30,000
citations) or the daily update files, in the ``PubmedArticleSet`` schema; single
uncompressed efetch outputs in the same schema are read too. Files are streamed with
`pile.sources.xmlsafe.iterparse` (entity declarations and external references refused,
bounded memory); a truncated or malformed file yields the citations before the damage
and then fails with `SourceError`. Ids are ``<source>/<PMID>``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterator
from xml.etree.ElementTree import Element

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.sources.base import LISTING_DIR, RemoteFile, Source
from pile.sources.xmlsafe import iterparse
from pile.stage import Dropped

BASELINE = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/pubmed{release:02d}n{number:04d}.xml.gz"
_WS_RE = re.compile(r"\s+")


def element_text(elem: Element | None) -> str:
    """All text inside `elem` (inline markup such as ``<i>``, ``<sup>`` flattened),
    whitespace collapsed."""
    if elem is None:
        return ""
    return _WS_RE.sub(" ", "".join(elem.itertext())).strip()


def citation_to_text(article: Element) -> tuple[str, str, dict[str, Any]]:
    """Convert one ``PubmedArticle`` element.

    Returns:
        ``(pmid, text, meta)``; `text` is empty when the citation has no abstract.
    """
    citation = article.find("MedlineCitation")
    if citation is None:
        return "", "", {}
    pmid = element_text(citation.find("PMID"))
    art = citation.find("Article")
    if art is None:
        return pmid, "", {}
    title = element_text(art.find("ArticleTitle")) or element_text(art.find("VernacularTitle"))
    sections = []
    abstract = art.find("Abstract")
    for part in ([] if abstract is None else abstract.findall("AbstractText")):
        body = element_text(part)
        if not body:
            continue
        label = (part.get("Label") or "").strip()
        sections.append(f"{label}: {body}" if label and label.upper() != "UNLABELLED" else body)
    meta: dict[str, Any] = {"pmid": pmid, "title": title}
    language = element_text(art.find("Language"))
    if language:
        meta["language"] = language
    journal = element_text(art.find("Journal/Title"))
    if journal:
        meta["journal"] = journal
    year = element_text(art.find("Journal/JournalIssue/PubDate/Year"))
    if year:
        meta["year"] = year
    if not sections:
        return pmid, "", meta
    text = "\n\n".join(([title] if title else []) + sections) + "\n"
    return pmid, text, meta


class PubmedAbstractsSource(Source):
    """PubMed baseline XML -> one title + abstract document per citation."""

    kind = "pubmed_abstracts"
    pile_set_name = "PubMed Abstracts"
    license = "NLM PubMed data terms (free to use; abstracts may be copyrighted by their publishers)"
    upstream = "https://ftp.ncbi.nlm.nih.gov/pubmed/baseline/ (annual baseline, gzipped XML)"
    options_schema: dict[str, Any] = {
        "release": 25,   # baseline year (two digits): pubmed25n0001.xml.gz ...
        "first": 1,      # first file number
        "last": 1274,    # last file number (the 2025 baseline has 1274 files)
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        for key in ("release", "first", "last"):
            value = self.options[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{field}.{key}: expected a positive integer, got {value!r}")
        if self.options["first"] > self.options["last"]:
            raise ConfigError(f"{field}.first: must not exceed last ({self.options['last']}), "
                              f"got {self.options['first']}")

    # NCBI publishes one ``<file>.md5`` next to each baseline file: fetched first, then
    # the file itself with that md5 to verify.
    listing_rounds = 2

    def list_files(self) -> list[RemoteFile]:
        """The baseline files ``first``..``last`` of ``release``, each verified against
        the md5 NCBI publishes beside it (``pubmed25n0001.xml.gz.md5``, stored under
        ``raw/<source>/_listing/``; a file whose ``.md5`` is not on disk yet lists its
        ``.md5`` instead, and the downloader lists again)."""
        from pile.sources.download import published_checksums

        if self.cfg.urls:
            return super().list_files()
        out = []
        for number in range(self.options["first"], self.options["last"] + 1):
            url = BASELINE.format(release=self.options["release"], number=number)
            name = url.rsplit("/", 1)[-1]
            sums = RemoteFile(url=f"{url}.md5", name=f"{LISTING_DIR}/{name}.md5")
            known = published_checksums(self, sums, "md5")
            if known is None:
                out.append(sums)
            else:
                out.append(RemoteFile(url=url, name=name, checksum=known.get(name)))
        return out

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One PubMed XML file (``.xml`` or ``.xml.gz``) -> documents.

        Raises:
            SourceError: malformed/truncated XML or a refused entity, after the citations
                read before the damage.
        """
        for article in iterparse(Path(path), {"PubmedArticle"}, self.max_record_bytes):
            pmid, text, meta = citation_to_text(article)
            if not pmid:
                yield self.dropped(f"{self.key_for(Path(path))}#no-pmid", "no_pmid")
            elif not text:
                yield self.dropped(pmid, "no_abstract", **meta)
            else:
                yield self.document(pmid, text, **meta)
