"""The phase engine: the runner with a fake phase (skip, force, resume, accounting), unit
planning by bytes, a file read as several units, and the import rules of the package."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import pytest

from pile.config import parse_config
from pile.executor import Done, LocalExecutor, Unit, UnitTask
from pile.phases.context import BuildContext
from pile.phases.engine import PhaseRunner, UnitPhase, fingerprint
from pile.phases.plan import MIN_UNIT_BYTES, plan_source, unit_target
from pile.sources import make_source

REPO = Path(__file__).resolve().parents[1]


class CountTask(UnitTask):
    """Writes one file per unit (its input's length) and returns that length."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.set_up = 0

    def setup(self) -> None:
        self.set_up += 1

    def run(self, unit: Unit) -> dict[str, Any]:
        n = len(Path(unit.files[0]).read_text())
        (Path(self.folder) / f"{unit.source}-{unit.index}.txt").write_text(str(n))
        return {"chars": n, "parts": {f"{unit.source}-{unit.index}.txt": n}}


class FakePhase(UnitPhase):
    """One key per input folder; a unit per file; commit sums the chars of its units."""

    name = "fake"
    label = "fake"

    def __init__(self, inputs: Path, outputs: Path) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.loaded: dict[str, dict[str, Any]] = {}
        self.ran: list[str] = []
        self.finished = 0

    def keys(self, ctx: BuildContext) -> list[str]:
        return sorted(p.name for p in self.inputs.iterdir())

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        return fingerprint(sorted((p.name, p.read_text()) for p in (self.inputs / key).iterdir()))

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        return (self.outputs / f"{key}.total").is_file()

    def plan(self, ctx: BuildContext, keys: list[str]) -> list[Unit]:
        self.ran.extend(keys)
        return [Unit(k, i, (str(p),)) for k in keys for i, p in enumerate(sorted((self.inputs / k).iterdir()))]

    def task(self, ctx: BuildContext, keys: list[str]) -> UnitTask:
        return CountTask(str(self.outputs))

    def commit(self, ctx: BuildContext, key: str, done: list[Done]) -> dict[str, Any]:
        assert [d.unit.index for d in done] == list(range(len(done)))  # unit order
        total = sum(d.result["chars"] for d in done)
        (self.outputs / f"{key}.total").write_text(str(total))
        return {"total": total, "units": len(done)}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        self.loaded[key] = payload

    def finish(self, ctx: BuildContext) -> None:
        self.finished += 1


@pytest.fixture
def fake(tmp_path):
    inputs, outputs = tmp_path / "in", tmp_path / "parts"
    outputs.mkdir()
    for key, texts in {"a": ["one", "three"], "b": ["seven!!"]}.items():
        (inputs / key).mkdir(parents=True)
        for i, t in enumerate(texts):
            (inputs / key / f"{i}.txt").write_text(t)
    cfg = parse_config({"out": str(tmp_path / "out"), "sources": [
        {"name": "a", "kind": "files", "paths": [str(inputs / "a")]},
        {"name": "b", "kind": "files", "paths": [str(inputs / "b")]}], "run": {"progress": False}})

    def context(only=None) -> BuildContext:
        return BuildContext(cfg, LocalExecutor(), {s.name: make_source(s, cfg.raw_dir) for s in cfg.sources},
                            only)

    return inputs, outputs, context


def test_runner_runs_marks_skips_forces_and_resumes(fake):
    inputs, outputs, context = fake
    ctx = context()
    phase = FakePhase(inputs, outputs)
    assert PhaseRunner(ctx).run(phase) is True
    assert phase.ran == ["a", "b"] and phase.finished == 1
    assert phase.loaded == {"a": {"total": 8, "units": 2}, "b": {"total": 7, "units": 1}}
    assert ctx.record.rebuilt == ["fake:a", "fake:b"] and ctx.record.reused == []
    marker = json.loads(ctx.markers.path("fake", "a").read_text())
    assert marker["total"] == 8 and marker["fingerprint"] == ctx.record.fingerprints["a"]["fake"]
    assert sorted(p.name for p in outputs.glob("*.txt")) == ["a-0.txt", "a-1.txt", "b-0.txt"]

    # Nothing changed: every key is loaded from its marker, nothing runs.
    again, ctx2 = FakePhase(inputs, outputs), context()
    assert PhaseRunner(ctx2).run(again) is False
    assert again.ran == [] and again.loaded == phase.loaded and again.finished == 1
    assert ctx2.record.reused == ["fake:a", "fake:b"] and ctx2.record.rebuilt == []

    # --source b forces b only.
    forced, ctx3 = FakePhase(inputs, outputs), context(only=["b"])
    PhaseRunner(ctx3).run(forced)
    assert forced.ran == ["b"] and ctx3.record.rebuilt == ["fake:b"] and ctx3.record.reused == ["fake:a"]

    # A changed input reruns its key; a lost output (killed before commit) too.
    (inputs / "a" / "0.txt").write_text("uno")
    (outputs / "b.total").unlink()
    resumed, ctx4 = FakePhase(inputs, outputs), context()
    PhaseRunner(ctx4).run(resumed)
    assert resumed.ran == ["a", "b"] and resumed.loaded["a"]["total"] == 8


def test_a_failing_unit_writes_no_marker(fake):
    inputs, outputs, context = fake
    (inputs / "b" / "0.txt").unlink()
    (inputs / "b" / "0.txt").mkdir()  # reading it raises IsADirectoryError in the worker
    ctx = context()
    with pytest.raises(IsADirectoryError):
        PhaseRunner(ctx).run(FakePhase(inputs, outputs))
    assert not ctx.markers.path("fake", "a").exists() and not ctx.markers.path("fake", "b").exists()


def test_the_plan_depends_on_bytes_and_config_never_on_workers(tmp_path):
    """A 6 MB source is split for several workers; the unit size has a floor and a cap."""
    folder = tmp_path / "in"
    folder.mkdir()
    line = json.dumps({"text": "word " * 200}) + "\n"
    (folder / "big.jsonl").write_text(line * (6_000_000 // len(line)))
    for i in range(40):
        (folder / f"small{i:02d}.jsonl").write_text(line * 20)
    cfg = parse_config({"out": str(tmp_path / "out"), "sources": [{"name": "s", "kind": "files",
                                                                    "paths": [str(folder)]}]})
    src = make_source(cfg.sources[0], cfg.raw_dir)
    plan = plan_source(src, src.inputs(), cfg.run.unit_bytes)
    units, selected = plan.units, plan.files
    assert len(selected) == 41
    total = sum(p.stat().st_size for p in selected)
    target = unit_target(total, cfg.run.unit_bytes)
    assert target == max(MIN_UNIT_BYTES, total // cfg.run.min_units)
    spans = [u for u in units if u.span is not None]
    assert len(spans) >= 8  # the big file alone keeps eight workers busy
    assert [u.index for u in units] == list(range(len(units)))
    assert unit_target(10 * 10**9, cfg.run.unit_bytes) == cfg.run.unit_bytes  # 10 GB: capped
    # A 10 GB JSON Lines file (sparse: the plan only looks at sizes) keeps 64 workers busy.
    huge = tmp_path / "huge" / "dump.jsonl"
    huge.parent.mkdir()
    with open(huge, "wb") as fh:
        fh.truncate(10 * 10**9)
    big = parse_config({"out": str(tmp_path / "out2"), "sources": [{"name": "h", "kind": "files",
                                                                     "paths": [str(huge.parent)]}]})
    hsrc = make_source(big.sources[0], big.raw_dir)
    huge_units = plan_source(hsrc, hsrc.inputs(), big.run.unit_bytes).units
    assert len(huge_units) >= 64 and all(u.span is not None for u in huge_units)
    assert huge_units[0].span[0] == 0 and huge_units[-1].span[0] < 10 * 10**9


def test_one_file_read_as_several_units_gives_the_same_documents_and_tokens(tmp_path, shared_data,
                                                                             build_config):
    """File boundaries may differ; the document stream and each vocabulary's token stream
    may not."""
    import gzip

    from pile.build import Build
    from pile.docs_io import iter_jsonl_zst
    from pile.tokenize.reader import ShardReader

    folder = tmp_path / "in"
    folder.mkdir()
    scenes = [s for s in (shared_data / "text" / "tinyshakespeare.txt").read_text().split("\n\n") if len(s) > 60]
    blob = "".join(json.dumps({"text": s}) + "\n" for s in scenes[:1500]).encode()
    (folder / "plays.jsonl").write_bytes(blob)
    (folder / "again.jsonl.gz").write_bytes(gzip.compress(blob[: len(blob) // 2]))
    tok = {"name": "gpt2", "path": str(shared_data / "tokenizers" / "gpt2" / "tokenizer.json")}
    streams = []
    for name, unit_bytes, min_units in (("whole", 10**9, 1), ("split", 20_000, 32)):
        cfg = build_config([{"name": "plays", "kind": "files", "paths": [str(folder)]}],
                           out=str(tmp_path / name), clean={"enabled": False}, dedup={"enabled": False},
                           pii={"enabled": False}, tokenizers=[tok],
                           run={"progress": False, "unit_bytes": unit_bytes, "min_units": min_units})
        Build(cfg, LocalExecutor()).run()
        files = sorted((cfg.out_dir / "docs" / "plays").glob("*.jsonl.zst"))
        records = [rec for f in files for _n, rec in iter_jsonl_zst(f)]
        reader = ShardReader(cfg.out_dir / "tokens" / "gpt2" / "plays")
        tokens = [reader[k].tolist() for k in range(len(reader))]
        marker = json.loads((cfg.out_dir / ".work" / "clean" / "plays.done.json").read_text())
        streams.append((records, tokens, len(files), marker["units"]))
    (whole, whole_tokens, whole_files, whole_units), (split, split_tokens, split_files, split_units) = streams
    assert whole_units == 1 and split_units > 8 and split_files > whole_files
    assert len(whole) > 1500
    assert split == whole
    assert split_tokens == whole_tokens and len(whole_tokens) == len(whole)


def _pile_modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted((REPO / "pile").rglob("*.py")):
        rel = path.relative_to(REPO).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = ast.parse(path.read_text(), str(path))
    return out


def _imports(tree: ast.Module) -> list[tuple[str, list[str], bool]]:
    """(module, names, under TYPE_CHECKING) for every import in `tree`, lazy ones included."""
    found = []

    def walk(node: ast.AST, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            guarded = typing_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, [a.name for a in child.names], guarded))
            elif isinstance(child, ast.Import):
                found.extend((a.name, [], guarded) for a in child.names)
            walk(child, guarded)

    walk(tree, False)
    return found


def test_no_import_cycle_and_no_private_names_across_modules():
    modules = _pile_modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    private = []
    for name, tree in modules.items():
        for target, names, typing_only in _imports(tree):
            if not target.startswith("pile"):
                continue
            for n in names:
                if n.startswith("_") and not n.startswith("__"):
                    private.append(f"{name} imports {target}.{n}")
            if typing_only:
                continue
            for dep in [target] + [f"{target}.{n}" for n in names]:
                if dep in modules and dep != name and not name.startswith(dep + "."):
                    graph[name].add(dep)
    assert private == []
    # Depth-first search for a cycle among pile's modules (lazy imports count too).
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)


# Underscored names that are public API elsewhere: namedtuple's methods, lxml's element type.
PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_Element"}


def test_no_module_reaches_into_another_objects_private_attributes():
    found = []
    for name, tree in _pile_modules().items():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                    and not node.attr.startswith("__") and node.attr not in PUBLIC_UNDERSCORED
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    assert found == []


def test_only_the_runner_imports_ray():
    users = [name for name, tree in _pile_modules().items()
             if any(t == "ray" or t.startswith("ray.") for t, _n, _g in _imports(tree))]
    assert users == ["pile.runner"]


def test_more_workers_than_the_local_instance_has_cpus_fails_at_once(ray_executor, fake):
    """A local Ray instance never grows: asking for more actors than it has CPUs is one
    clear error now, not a wait for actors that can never start."""
    import time

    from pile.errors import PileError
    from pile.runner import RayExecutor

    inputs, outputs, context = fake
    ctx = context()
    ctx.executor = RayExecutor(workers=3)  # the session's instance has 2 CPUs
    t0 = time.perf_counter()
    with pytest.raises(PileError, match="fewer than --workers 3"):
        PhaseRunner(ctx).run(FakePhase(inputs, outputs))
    assert time.perf_counter() - t0 < 30


def test_the_heaviest_units_start_first_and_results_keep_unit_order(ray_executor):
    """Longest-processing-time order: a phase does not end waiting on a large unit that
    was started last. One actor runs the units in the order they are sent, so the times
    they started (each unit returns its own) give that order."""
    import time

    from pile.phases.work import CallTask
    from pile.runner import RayExecutor

    ray_executor.release()  # its actors hold the session's 2 CPUs
    one = RayExecutor(workers=1)
    weights = [5, 50, 0, 50, 7, 100]
    units = [Unit("_all", i, (), weight=w) for i, w in enumerate(weights)]
    try:
        done = list(one.map(CallTask([time.perf_counter_ns] * len(units)), units))
    finally:
        one.release()
    assert [d.unit.index for d in done] == list(range(len(units)))
    assert sorted(range(len(units)), key=lambda i: done[i].result) == [5, 1, 3, 4, 0, 2]
