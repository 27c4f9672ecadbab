"""Mix: the Pile's epochs applied after dedup, one seeded, shuffled training set per
tokenizer, and the GPT-NeoX data-path lines (`pile.tokenize.mix.run_mix`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pile.config import to_dict
from pile.executor import Unit, UnitTask
from pile.progress import PhaseProgress
from pile.phases.context import BuildContext
from pile.phases.engine import GLOBAL, Phase, fingerprint
from pile.phases.record import MixSummary


class MixTask(UnitTask):
    """One tokenizer's mix (`pile.tokenize.mix.mix_tokenizer`), written by the worker."""

    def __init__(self, cfg: Any, tokens: str, sources: list[str], epochs: dict[str, float],
                 fingerprints: dict[str, str]) -> None:
        self.cfg = cfg
        self.tokens = tokens
        self.sources = sources
        self.epochs = epochs
        self.fingerprints = fingerprints

    def run(self, unit: Unit) -> dict[str, Any]:
        from pile.manifest import sha256_file
        from pile.tokenize.mix import mix_tokenizer

        name = unit.get("tokenizer")
        result = mix_tokenizer(self.cfg, Path(self.tokens), name, self.sources, self.epochs,
                               self.fingerprints).to_dict()
        # hashed here, where the bytes are, so the manifest need not read them again
        folder = Path(self.tokens) / name
        files = sorted(p for p in (folder / "mix").glob("*") if p.is_file() and not p.name.startswith("."))
        result["artifacts"] = {f"tokens/{name}/mix/{p.name}": [p.stat().st_size, sha256_file(p)] for p in files}
        return result


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
        from pile.tokenize.mix import MixResult, build_epochs, mix_markdown

        built = ctx.built_sources()
        tokens = ctx.out / "tokens"
        epochs = build_epochs(ctx.cfg, tokens, built)
        fps = {s: ctx.markers.fingerprint_of("tokenize", s) for s in built}
        # One unit per tokenizer: a worker reads that tokenizer's shards and writes its
        # mixed shards and NeoX lines; the tokens never pass through the driver.
        units = [Unit(GLOBAL, i, (), extra=(("tokenizer", t.name),)) for i, t in enumerate(ctx.cfg.tokenizers)]
        task = MixTask(ctx.cfg, str(tokens), built, epochs, fps)
        results: dict[str, dict[str, Any]] = {}
        artifacts: dict[str, list[Any]] = {}
        with PhaseProgress(self.label, len(units), ctx.cfg.run.progress) as bar:
            for done in ctx.executor.map(task, units):
                artifacts.update(done.result.pop("artifacts"))
                results[done.unit.get("tokenizer")] = done.result
                ctx.executor.stats.wrote(done.node, len(done.result["shards"]) * 2)
                bar.advance_unit(done.result["documents"], 0)
        mixed = [MixResult.from_dict(r, tokens / name / "mix") for name, r in results.items()]
        return {GLOBAL: {"results": results, "markdown": mix_markdown(mixed), "artifacts": artifacts}}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        results = payload["results"]
        ctx.record.artifacts.update(payload.get("artifacts", {}))
        ctx.record.mix = MixSummary(results=results, markdown=payload["markdown"], manifest={
            n: {"documents": r["documents"], "tokens": r["tokens"]} for n, r in results.items()})


__all__ = ["MixPhase"]
