"""Held-out index: the 13-grams of every held-out document (and of the user's evaluation
files) in one sorted index, which the final phase cuts from the training split."""

from __future__ import annotations

import time
from typing import Any

import pile
from pile.config import to_dict
from pile.manifest import sha256_file
from pile.phases.context import BuildContext
from pile.phases.dedup import drops_path
from pile.phases.engine import GLOBAL, Phase, file_fingerprint, fingerprint
from pile.phases.passes import RunnerPassContext
from pile.phases.record import DecontamSummary


def index_path(ctx: BuildContext):
    return ctx.work / "decontam" / "index.npy"


class HeldOutPhase(Phase):
    name = "decontam"
    label = "held-out index"

    def keys(self, ctx: BuildContext) -> list[str]:
        dc = ctx.cfg.decontam
        on = dc.enabled and (ctx.splits_active() or bool(dc.eval_paths))
        return [GLOBAL] if on and ctx.built_sources() else []

    def _excluded(self, ctx: BuildContext) -> dict[str, str]:
        """Per source, the dedup decisions file (read on the workers, not here)."""
        out: dict[str, str] = {}
        if ctx.cfg.dedup.enabled:
            for name in ctx.built_sources():
                path = drops_path(ctx, name)
                if path.is_file():
                    out[name] = str(path)
        return out

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        from pile.decontam import eval_files

        dc = ctx.cfg.decontam
        upstream = {n: ctx.clean_fingerprint(n) for n in ctx.built_sources()}
        dedup = ctx.markers.fingerprint_of("dedup", GLOBAL) if ctx.cfg.dedup.enabled else ""
        return fingerprint("heldout", pile.__version__, upstream, dedup, to_dict(ctx.cfg.splits),
                           to_dict(dc), file_fingerprint(eval_files(dc.eval_paths)))

    def forced(self, ctx: BuildContext, key: str) -> bool:
        return False

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        # The size and mtime the build saw, not a re-hash: the Pile's held-out index is
        # gigabytes, and a rebuild with nothing to do must stay a matter of seconds.
        path = index_path(ctx)
        if not path.is_file():
            return False
        st = path.stat()
        if "size" in payload:
            return [st.st_size, st.st_mtime_ns] == [payload["size"], payload["mtime_ns"]]
        return sha256_file(path) == payload.get("sha256")  # a marker from before sizes

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        from pile.decontam import build_heldout_index

        t0 = time.perf_counter()
        pctx = RunnerPassContext(ctx, ctx.built_sources(), ctx.work / "decontam", "held-out index")
        ngrams, sha256 = build_heldout_index(pctx, ctx.cfg.splits, ctx.cfg.decontam, index_path(ctx),
                                             exclude=self._excluded(ctx))
        st = index_path(ctx).stat()
        return {GLOBAL: {"sha256": sha256, "ngrams": ngrams, "size": st.st_size,
                         "mtime_ns": st.st_mtime_ns, "seconds": round(time.perf_counter() - t0, 3)}}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        ctx.record.decontam = DecontamSummary(ngrams=int(payload.get("ngrams", 0)),
                                              sha256=str(payload["sha256"]))


__all__ = ["HeldOutPhase", "index_path"]
