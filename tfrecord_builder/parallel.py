"""Order-preserving parallel map over decoding processes with a bounded number of results in flight."""

import collections
import concurrent.futures
import itertools
import multiprocessing


def ordered_map(fn, items, workers=1, chunk_size=8, window=None):
    """Yields `fn(*item)` for each item, in order.

    With `workers > 1` the calls run in spawned processes (never forked: the parent holds TensorFlow's threads),
    `chunk_size` items per task to keep inter-process overhead small, and at most `window` chunks (default
    `2 * workers`) in flight, so a corpus streams through in constant memory.
    """
    if workers <= 1:
        for item in items:
            yield fn(*item)
        return
    window = window or 2 * workers
    executor = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        pending = collections.deque()
        items = iter(items)
        for chunk in iter(lambda: list(itertools.islice(items, chunk_size)), []):
            pending.append(executor.submit(_apply, fn, chunk))
            if len(pending) >= window:
                yield from pending.popleft().result()
        while pending:
            yield from pending.popleft().result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _apply(fn, chunk):
    return [fn(*item) for item in chunk]
