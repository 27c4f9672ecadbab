"""Download: fetch what the selected sources list upstream into ``raw/<source>/``.

Not fingerprinted: the downloader checks every cached file itself (size, sha256, the
upstream's validators), so it runs on every build and fetches only what is missing or
changed. A file that fails is named in its source's clean stats.
"""

from __future__ import annotations

from typing import Any

from pile.phases.context import BuildContext
from pile.phases.engine import Phase
from pile.sources.base import Source


def download_all(src: Source, mirror_map: dict[str, str], progress: bool, max_rounds: int = 5) -> list[Any]:
    """Download a source's files, again while its listing grows.

    Some sources list in two steps (Common Crawl's ``warc.paths.gz``, index pages): the
    first round fetches the listing, the next the files it names.
    """
    from pile.sources.download import download_sources

    results: list[Any] = []
    for _ in range(max_rounds):
        results = download_sources([src], mirror_map=mirror_map, progress=progress)
        if len(src.list_files()) <= len(results):
            break
    return results


def remote_sources(ctx: BuildContext) -> list[Source]:
    """The selected sources that fetch upstream files: no local ``paths:``, or a kind that
    fetches from its local inputs (OpenWebText2's pages, listed by the user's dumps)."""
    remote = [ctx.sources[n] for n in ctx.selected()
              if not ctx.cfg.source(n).paths or ctx.sources[n].fetch_with_paths]
    return [s for s in remote if type(s).list_files is not Source.list_files or s.cfg.urls]


class DownloadPhase(Phase):
    name = "download"
    label = "download"
    tracked = False  # no marker: every build re-checks its cache (see the module docstring)

    def keys(self, ctx: BuildContext) -> list[str]:
        return [s.name for s in remote_sources(ctx)]

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        return ""

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for key in keys:
            src = ctx.sources[key]
            # A kind that counts its failed fetches as drops itself (a page that could not
            # be fetched is a document lost, not a file) only leaves the refusals here.
            failures = [{"file": r.name, "reason": f"download failed: {r.error}"}
                        for r in download_all(src, ctx.mirror_map, ctx.cfg.run.progress)
                        if not r.ok and (not src.counts_fetch_failures or r.name == "(terms of use)")]
            out[key] = {"failures": failures}
        return out

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        if payload["failures"]:
            ctx.record.download_failures[key] = list(payload["failures"])


__all__ = ["DownloadPhase", "download_all", "remote_sources"]
