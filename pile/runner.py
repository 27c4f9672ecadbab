"""The Ray executor: the one module that imports Ray.

Each phase becomes one Ray Data pipeline: a dataset with one row per unit of work,
``map_batches`` onto a pool of actors (so a processor's heavy state is set up once per
worker), streamed back with ``preserve_order`` so the driver sees results in unit
order whatever the number of workers or nodes. Chunks travel as one pickled binary
cell each: documents of any shape cross the object store without Arrow schema
inference, and the driver unpickles exactly what the worker produced.

By default a local Ray instance is started with ``--workers`` CPUs and stopped at the
end; ``--ray-address`` joins an existing cluster instead (the ``pile`` package is
shipped to its workers with ``runtime_env``).
"""

from __future__ import annotations

import logging
import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pile.errors import PileError
from pile.executor import Executor, LocalExecutor, Processor, Reader, Row, process_unit

log = logging.getLogger(__name__)


ACTOR_START_TIMEOUT_S = 600


class _UnitActor:
    """A Ray Data actor: reads a unit and processes its chunks with a set-up processor."""

    def __init__(self, reader: Reader, processor: Processor) -> None:
        import ray

        self.reader = reader
        self.processor = processor
        self.processor.setup()
        self.node = ray.get_runtime_context().get_node_id()

    def __call__(self, batch: dict[str, np.ndarray]) -> Iterator[dict[str, list[bytes]]]:
        for cell in batch["unit"]:
            unit = pickle.loads(cell)
            for rows in process_unit(unit, self.reader, self.processor):
                for row in rows:
                    if row["kind"] == "stats" and "unit_seconds" in row:
                        row["node"] = self.node  # which node did the unit (stats.json)
                yield {"chunk": [pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)]}


class RayExecutor(Executor):
    """Runs phases on Ray Data (a local instance, or a cluster at `address`).

    Args:
        workers: actors per phase (and CPUs of a local instance).
        address: a Ray cluster to join (``ray://`` or ``host:port``); None starts one.
    """

    def __init__(self, workers: int, address: str | None = None) -> None:
        # Ray Data logs every dataset's start and end at INFO; the build has its own bars.
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "INFO" if log.isEnabledFor(logging.INFO) else "ERROR")
        import ray

        self.workers = workers
        self._started = False
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING, "configure_logging": False}
            if address:
                import pile
                kwargs["address"] = address
                kwargs["runtime_env"] = {"py_modules": [str(Path(pile.__file__).parent)]}
            else:
                # "local": always a new instance, never a cluster someone else started here
                kwargs["address"] = "local"
                kwargs["num_cpus"] = workers
                # Ray 2.60 turns token auth on for a local instance and announces it on
                # every start; keep the protection, drop the notice.
                logging.getLogger("ray._private.authentication").setLevel(logging.ERROR)
            os.environ.setdefault("RAY_DEDUP_LOGS", "0")
            try:
                ray.init(**kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise PileError(f"cannot start or join Ray{f' at {address}' if address else ''}: "
                                f"{str(exc).splitlines()[0]}") from None
            self._started = True
        for name in ("ray.data", "ray._private", "ray.util"):
            logging.getLogger(name).setLevel(logging.WARNING if log.isEnabledFor(logging.INFO)
                                             else logging.ERROR)
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True
        # Start every actor of a pool before feeding it: otherwise the first actor up can
        # take all the units of a short phase while the others are still starting.
        ctx.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
        ctx.verbose_stats_logs = False

    def run(self, units: list[dict[str, Any]], reader: Reader, processor: Processor
            ) -> Iterator[list[Row]]:
        import ray

        if not units:
            return
        cells = [{"unit": pickle.dumps(u, protocol=pickle.HIGHEST_PROTOCOL)} for u in units]
        ds = ray.data.from_items(cells, override_num_blocks=len(cells))
        pool = ray.data.ActorPoolStrategy(size=min(self.workers, len(units)))
        # max_restarts=0: a lost actor fails the phase, and the next run resumes from the
        # last checkpoint; restarting it in place would need its constructor arguments,
        # which Ray cannot promise to keep.
        with warnings.catch_warnings():
            # 2.60 has no named parameter for max_restarts yet; the pin keeps this valid.
            warnings.simplefilter("ignore", DeprecationWarning)
            ds = ds.map_batches(_UnitActor, fn_constructor_args=(reader, processor), batch_size=1,
                                batch_format="numpy", compute=pool, num_cpus=1, max_restarts=0,
                                # spread the actors over the cluster's nodes
                                scheduling_strategy="SPREAD")
        try:
            for batch in ds.iter_batches(batch_size=None, batch_format="numpy", prefetch_batches=2):
                for cell in batch["chunk"]:
                    yield pickle.loads(cell)
        except ray.exceptions.GetTimeoutError:
            raise PileError(f"Ray could not start {pool.min_size} workers within "
                            f"{ACTOR_START_TIMEOUT_S} s: the cluster has too few free CPUs "
                            "(lower --workers)") from None

    def close(self) -> None:
        import ray

        if self._started and ray.is_initialized():
            ray.shutdown()
            self._started = False


def nodes_used() -> list[str]:
    """Node ids of the Ray cluster that have run work (for the cluster test and report)."""
    import ray

    return sorted(n["NodeID"] for n in ray.nodes() if n.get("Alive"))


def make_executor(kind: str, workers: int, address: str | None = None) -> Executor:
    """``ray`` (default) or ``local`` (in-process, no Ray)."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(workers, address)
    raise PileError(f"run.executor: unknown executor {kind!r}; expected ray or local")
