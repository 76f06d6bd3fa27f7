"""Decoding worker processes that never outlive the build that started them, and leave Ctrl-C to it.

`exit_with_parent` is the initializer of every worker of `tfrecord_builder.parallel`. A worker whose parent dies
(kill -9 of `fakespeech build --workers 2`) would otherwise keep decoding into a pipe nobody reads, holding the
multiprocessing resource tracker alive with it. On Linux the kernel sends the worker SIGTERM the moment its parent
exits (`prctl(PR_SET_PDEATHSIG)`); everywhere a daemon thread also polls the parent pid and exits the worker
when it changes (the worker has been re-parented). SIGINT is ignored in workers: Ctrl-C reaches the whole process
group, and the parent alone reports it and stops the workers.
"""

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

POLL_SECONDS = 0.5
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def exit_with_parent(parent_pid):
    """Makes this (worker) process exit when `parent_pid` is no longer its parent; ignores SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _set_parent_death_signal(signal.SIGTERM)
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="exit-with-parent", daemon=True).start()


def _set_parent_death_signal(signum):
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no usable libc: the polling thread still ends the worker


def _watch_parent(parent_pid):
    while True:
        time.sleep(POLL_SECONDS)
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup to do: a worker writes nothing, and its parent's results are lost anyway
