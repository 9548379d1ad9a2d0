"""Where parallel work runs: a local process pool by default, an existing Dask cluster when the
user names its scheduler. Both are futures executors and are used through the same two calls,
``submit(fn, *args)`` and ``as_completed(futures)``; cost data and the search's sweep share this.
"""

from tailor.errors import TailorError


def _one_thread():
    """Pool workers share the cores with each other: one torch thread each."""
    import torch
    torch.set_num_threads(1)


class executor:
    """A context giving ``(submit, as_completed)``: of a local process pool of ``jobs`` workers,
    or, when ``dask`` names a scheduler address, of a Dask client connected to it."""

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
                                           initializer=_one_thread)
        return self.pool.submit, cf.as_completed

    def __exit__(self, *exc):
        if self.dask:
            self.client.close()
        else:
            self.pool.shutdown(cancel_futures=True)
        return False
