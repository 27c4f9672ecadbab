"""Mix: the Pile's epochs applied after dedup, one seeded, shuffled training set per
tokenizer, and the GPT-NeoX data-path lines (`pile.tokenize.mix.run_mix`)."""

from __future__ import annotations

from typing import Any

from pile.config import to_dict
from pile.phases.context import BuildContext
from pile.phases.engine import GLOBAL, Phase, fingerprint
from pile.phases.record import MixSummary


class MixPhase(Phase):
    name = "mix"
    label = "mix"

    def keys(self, ctx: BuildContext) -> list[str]:
        on = ctx.cfg.mix.enabled and ctx.cfg.tokenizers and ctx.built_sources()
        return [GLOBAL] if on else []

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        built = ctx.built_sources()
        return fingerprint("mix", to_dict(ctx.cfg.mix), [(s, ctx.cfg.source(s).epochs) for s in built],
                           {s: ctx.markers.fingerprint_of("tokenize", s) for s in built},
                           ctx.cfg.output.shard_tokens)

    def forced(self, ctx: BuildContext, key: str) -> bool:
        return False

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        from pile.tokenize.mix import load_mix_result

        return all(load_mix_result(ctx.out / "tokens", t.name) is not None for t in ctx.cfg.tokenizers)

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        from pile.tokenize.mix import mix_markdown, run_mix

        built = ctx.built_sources()
        results = run_mix(ctx.cfg, ctx.out / "tokens", built,
                          {s: ctx.markers.fingerprint_of("tokenize", s) for s in built})
        return {GLOBAL: {"results": {n: r.to_dict() for n, r in results.items()},
                         "markdown": mix_markdown(list(results.values()))}}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        results = payload["results"]
        ctx.record.mix = MixSummary(results=results, markdown=payload["markdown"], manifest={
            n: {"documents": r["documents"], "tokens": r["tokens"]} for n, r in results.items()})


__all__ = ["MixPhase"]
