"""CPU seconds and memory of a build's whole process tree (driver, Ray, workers), sampled.

Ray's workers are grandchildren of the driver (raylet starts them), and they end before
the driver can wait for them, so `resource.getrusage(RUSAGE_CHILDREN)` never sees them. A
background thread samples every process below the driver instead: per process the last
CPU time seen (so an actor that exits keeps what it had used), and the tree's summed
resident memory at each sample (the peak is the figure).

Imported by the benchmark scripts (this folder is on ``sys.path`` when they run).
"""

from __future__ import annotations

import threading
import time

import psutil


def _file_backed(proc: psutil.Process) -> int:
    """Resident pages of mapped files (Linux: RssFile, from /proc/PID/status)."""
    try:
        with open(f"/proc/{proc.pid}/status") as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeMonitor:
    """Use as a context manager around the work; then read the attributes.

    Attributes:
        driver_cpu: CPU seconds of this process (user + system), less the sampling
            thread's own (measured with `time.thread_time` in that thread).
        tree_cpu: CPU seconds of every other process below it.
        peak_rss: the largest summed resident memory of the whole tree, in bytes.
        peak_anon: the same for memory that is not file-backed (resident less the pages
            of mapped files): what the build holds, without the token shards and indexes
            a memory map pages in, which the kernel takes back under pressure (Ray's
            shared-memory object store is not file-backed: it stays in).
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._me = psutil.Process()
        self._cpu: dict[tuple[int, float], float] = {}
        self.peak_rss = 0
        self.peak_anon = 0
        self.driver_cpu = 0.0
        self.tree_cpu = 0.0
        self.own_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        mem = self._me.memory_info()
        rss, anon = mem.rss, mem.rss - _file_backed(self._me)
        for child in self._me.children(recursive=True):
            try:
                with child.oneshot():
                    t = child.cpu_times()
                    key = (child.pid, child.create_time())  # a reused pid is another process
                    self._cpu[key] = t.user + t.system
                    mem = child.memory_info()
                    rss += mem.rss
                    anon += mem.rss - _file_backed(child)
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_anon = max(self.peak_anon, anon)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)
        self.own_cpu = time.thread_time()

    def __enter__(self) -> TreeMonitor:
        t = self._me.cpu_times()
        self._driver0 = t.user + t.system
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()  # the last look (in this thread: its cost is small and counted)
        t = self._me.cpu_times()
        self.driver_cpu = t.user + t.system - self._driver0 - self.own_cpu
        self.tree_cpu = sum(self._cpu.values())

    @property
    def driver_share(self) -> float:
        total = self.driver_cpu + self.tree_cpu
        return self.driver_cpu / total if total else 0.0
