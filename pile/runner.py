"""The Ray executor: the one module that imports Ray.

One pool of Ray actors serves the whole build. It is started once, on the first phase
that has work, and every later phase reuses it: a phase ships its `UnitTask` once (one
object in Ray's store), each actor sets it up once, and the units stream through the
actors with two in flight per actor, so an actor never waits for the driver between
units; the heaviest start first (`Unit.weight`), so a phase does not end on one large
unit. A unit's actor writes the unit's outputs itself and returns small metadata; the
driver yields the results in unit order, whatever the number of workers or nodes.

Plain actors, not Ray Data's `map_batches`: a Ray Data pipeline starts a new actor pool
for every dataset (about 2 s per phase here) and would carry the documents through the
object store, where the design wants only metadata to travel.

By default a local Ray instance is started with ``--workers`` CPUs and stopped at the
end; ``--ray-address`` joins an existing cluster instead (the ``pile`` package is
shipped to its workers with ``runtime_env``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Iterator

from pile.errors import PileError
from pile.executor import Done, Executor, LocalExecutor, Unit, UnitTask
from pile.heap import release_free_memory

log = logging.getLogger(__name__)

ACTOR_START_TIMEOUT_S = 600
IN_FLIGHT_PER_ACTOR = 2


# Modules the later phases' tasks import (presidio, fastText, the tokenizers): an actor
# imports them in the background while it runs the first phase, so a phase's set-up on
# the workers does not wait for a second of imports. (presidio comes with
# pile.pii.recognizers: pile.pii.scrub defers it to the stage's set-up, for the driver.)
WARM_MODULES = ("pile.clean", "pile.pii.recognizers", "pile.decontam", "pile.tokenize.engines",
                "pile.dedup.signatures")


def _warm_imports() -> None:
    import importlib

    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # the task that needs it will raise with its own message
            log.debug("could not pre-import %s", name, exc_info=True)


class _Worker:
    """A Ray actor: keeps the current phase's task set up, runs units of it."""

    def __init__(self) -> None:
        import threading

        import ray

        self.node = ray.get_runtime_context().get_node_id()
        self.key: int | None = None
        self.task: UnitTask | None = None
        threading.Thread(target=_warm_imports, daemon=True).start()

    def ready(self) -> str:
        return self.node

    def run(self, key: int, boxed: list[Any], unit: Unit) -> tuple[Any, str, float]:
        import ray

        if key != self.key:
            # `boxed` holds the ObjectRef inside a list, so Ray does not fetch and
            # unpickle the task for every unit; only a new phase's first unit does.
            self.task = None
            task = ray.get(boxed[0])
            # One core per worker: without this, HF's rayon pool in every worker would
            # use every core of the machine.
            os.environ.setdefault("RAYON_NUM_THREADS", "1")
            task.setup()
            self.task, self.key = task, key
        assert self.task is not None
        t0 = time.perf_counter()
        result = self.task.run(unit)
        seconds = time.perf_counter() - t0
        release_free_memory()  # a large document's pages do not stay with the worker
        return result, self.node, seconds


class RayExecutor(Executor):
    """Runs phases on a pool of Ray actors (a local instance, or a cluster at `address`).

    Args:
        workers: actors in the pool (and CPUs of a local instance).
        address: a Ray cluster to join (``ray://`` or ``host:port``); None starts one.
    """

    def __init__(self, workers: int, address: str | None = None) -> None:
        super().__init__()
        self.workers = workers
        self.address = address
        self._started = False
        self._actors: list[Any] = []
        self._tasks = 0

    def start(self) -> None:
        """Start or join Ray (on first use: a build with nothing to do never pays for it).

        A local instance gets `workers` CPUs; a later build on this executor may use fewer
        workers, not more."""
        import ray

        if ray.is_initialized():
            return
        address = self.address
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                  "logging_level": logging.WARNING, "configure_logging": False}
        if address:
            import pile
            kwargs["address"] = address
            kwargs["runtime_env"] = {"py_modules": [str(Path(pile.__file__).parent)]}
        else:
            # "local": always a new instance, never a cluster someone else started here
            kwargs["address"] = "local"
            kwargs["num_cpus"] = self.workers
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
        for name in ("ray._private", "ray.util"):
            logging.getLogger(name).setLevel(logging.WARNING if log.isEnabledFor(logging.INFO)
                                             else logging.ERROR)

    def _pool(self) -> list[Any]:
        """Start the actors on first use (a build with nothing to do never pays for them)."""
        if self._actors:
            return self._actors
        import ray

        self.start()
        if not self.address:
            cpus = int(ray.cluster_resources().get("CPU", 0))
            if cpus < self.workers:  # a local instance never grows: fail now, not in 10 minutes
                raise PileError(f"the local Ray instance has {cpus} CPUs, fewer than --workers "
                                f"{self.workers}; start a new process or lower --workers")
        cls = ray.remote(num_cpus=1, max_restarts=0, scheduling_strategy="SPREAD")(_Worker)
        actors = [cls.remote() for _ in range(self.workers)]
        try:
            # Every actor is up before the first unit: otherwise the first one up takes
            # the units of a short phase while the others are still starting.
            ray.get([a.ready.remote() for a in actors], timeout=ACTOR_START_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            for a in actors:
                ray.kill(a)
            raise PileError(f"Ray could not start {self.workers} workers within "
                            f"{ACTOR_START_TIMEOUT_S} s: the cluster has too few free CPUs "
                            "(lower --workers)") from None
        self._actors = actors
        return actors

    def map(self, task: UnitTask, units: list[Unit]) -> Iterator[Done]:
        import ray

        if not units:
            return
        actors = self._pool()
        self._tasks += 1
        key = self._tasks
        boxed = [ray.put(task)]
        pending: dict[Any, tuple[int, int]] = {}  # ObjectRef -> (unit position, actor)
        load = [0] * len(actors)
        finished: dict[int, Done] = {}
        # Heaviest first (longest-processing-time order): the phase's last unit to finish
        # is a light one. Results are still yielded, and so committed, in unit order.
        order = sorted(range(len(units)), key=lambda i: -units[i].weight)
        nxt = 0  # next unit to submit (a position in `order`)
        out = 0  # next unit to yield
        try:
            while out < len(units):
                # Keep every actor fed: fill up to the in-flight limit, least loaded first.
                while nxt < len(units) and min(load) < IN_FLIGHT_PER_ACTOR:
                    a = load.index(min(load))
                    ref = actors[a].run.remote(key, boxed, units[order[nxt]])
                    pending[ref] = (order[nxt], a)
                    load[a] += 1
                    nxt += 1
                if out not in finished:
                    ready, _ = ray.wait(list(pending), num_returns=1)
                    for ref in ready:
                        pos, a = pending.pop(ref)
                        load[a] -= 1
                        result, node, seconds = ray.get(ref)
                        finished[pos] = Done(units[pos], result, node, seconds)
                while out in finished:
                    done = finished.pop(out)
                    self.stats.count(done.node)
                    yield done
                    out += 1
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            for ref in pending:
                ray.cancel(ref)
            if isinstance(cause, PileError):
                raise cause from None
            failure = cause or exc
            first = (str(failure).splitlines() or [""])[0]
            raise PileError(f"a unit of work failed: {type(failure).__name__}: {first}") from None
        except ray.exceptions.RayActorError:
            raise PileError("a Ray worker died (killed, or out of memory); the next build resumes "
                            "from the last finished phase") from None

    def release(self) -> None:
        """Stop the pool's actors: their CPUs go back to the cluster between builds."""
        if not self._actors:
            return
        import ray

        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # already gone with its node
                pass
        self._actors = []

    def close(self) -> None:
        if not self._started and not self._actors:
            return
        import ray

        self.release()
        if self._started and ray.is_initialized():
            ray.shutdown()
            self._started = False


def make_executor(kind: str, workers: int, address: str | None = None) -> Executor:
    """``ray`` (default) or ``local`` (in-process, no Ray)."""
    if kind == "local":
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(workers, address)
    raise PileError(f"run.executor: unknown executor {kind!r}; expected ray or local")
