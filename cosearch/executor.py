"""Where parallel work runs: a local process pool by default, an existing Dask cluster when the
user names its scheduler. Both are futures executors and are used through the same two calls,
``submit(fn, *args)`` and ``as_completed(futures)``; cost data and the search's sweep share this.
"""

import os
import signal

from common.errors import TailorError


def _init_worker():
    """Pool workers share the cores with each other: one torch thread each. Each leads a process
    group of its own, so that stopping it stops the tools it runs (Yosys) too. tqdm gets a
    thread lock: its default, a multiprocessing lock, is a semaphore that a stopped worker
    leaves behind, and Python then warns of it; the workers draw no bars of their own."""
    import threading

    import torch
    from tqdm import tqdm
    torch.set_num_threads(1)
    os.setpgid(0, 0)
    tqdm.set_lock(threading.RLock())


class executor:
    """A context giving ``(submit, as_completed)``: of a local process pool of ``jobs`` workers,
    or, when ``dask`` names a scheduler address, of a Dask client connected to it. Left by an
    exception (an error, Ctrl-C, ``tailor``'s SIGTERM), the pool's workers are stopped at once,
    with their tools, rather than after the tasks they are running."""

    def __init__(self, jobs, dask):
        self.jobs, self.dask = jobs, dask

    def __enter__(self):
        if self.dask:
            from distributed import Client, as_completed
            try:
                self.client = Client(self.dask, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise TailorError(f"cannot reach the Dask scheduler at {self.dask} ({e})") from None
            return self.client.submit, as_completed
        import concurrent.futures as cf
        import multiprocessing
        # spawn: a forked worker would inherit torch's threads and locks mid-state
        self.pool = cf.ProcessPoolExecutor(self.jobs, mp_context=multiprocessing.get_context("spawn"),
                                           initializer=_init_worker)
        return self.pool.submit, cf.as_completed

    def __exit__(self, exc_type, *exc):
        if self.dask:
            self.client.close()
            return False
        if exc_type is not None:
            # ProcessPoolExecutor has no public way to stop its workers before Python 3.14
            for pid in list(self.pool._processes):
                try:
                    os.killpg(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        self.pool.shutdown(cancel_futures=True)
        return False
