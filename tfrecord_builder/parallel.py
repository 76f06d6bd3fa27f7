"""Order-preserving parallel map over decoding processes with a bounded number of results in flight."""

import collections
import concurrent.futures
import itertools
import multiprocessing
import os

from tfrecord_builder.worker_guard import exit_with_parent

BLAS_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def ordered_map(fn, items, workers=1, chunk_size=8, window=None):
    """Yields `fn(*item)` for each item, in order.

    With `workers > 1` the calls run in spawned processes (never forked: the parent holds TensorFlow's threads),
    `chunk_size` items per task to keep inter-process overhead small, and at most `window` chunks (default
    `2 * workers`) in flight, so a corpus streams through in constant memory. Workers exit when this process
    dies and ignore Ctrl-C (`worker_guard`); when the caller stops early (an error, Ctrl-C, closing the
    generator) they are terminated rather than awaited, since nothing they are still computing is wanted.
    """
    if workers <= 1:
        for item in items:
            yield fn(*item)
        return
    window = window or 2 * workers
    executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                                      initializer=_init_worker, initargs=(os.getpid(),))
    finished = False
    try:
        pending = collections.deque()
        items = iter(items)
        for chunk in iter(lambda: list(itertools.islice(items, chunk_size)), []):
            pending.append(executor.submit(_apply, fn, chunk))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
        finished = True
    finally:
        if finished:
            executor.shutdown(wait=True)
        else:
            _terminate(executor)


def _init_worker(parent_pid):
    exit_with_parent(parent_pid)
    # One process per core already: BLAS threads inside each (the vocoders' matrix products) would only fight
    # over the same cores, which made them ten times slower on a loaded 2-core machine. The variables cover
    # libraries loaded from now on, threadpoolctl (a scikit-learn dependency) those already loaded.
    for name in BLAS_THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    try:
        import threadpoolctl  # imported here: only workers need it, and it is optional
    except ImportError:
        return
    threadpoolctl.threadpool_limits(1)


def _terminate(executor):
    processes = list((getattr(executor, "_processes", None) or {}).values())  # no public handle before Python 3.14
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=10)
    executor.shutdown(wait=True)  # joins the executor's own thread, now that no worker is left to wait for


def _apply(fn, chunk):
    return [fn(*item) for item in chunk]
