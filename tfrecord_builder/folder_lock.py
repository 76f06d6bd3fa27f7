"""`FolderLock`: one process at a time writes into a folder (a build's `--out`, a training run directory).

The lock is a small JSON file in the folder (`.fakespeech.lock`: pid, host, purpose, start time) held with an
exclusive `flock`, which the kernel drops when the holder dies, however it dies (kill -9 included). So a lock
file left by a dead process is stale by construction and is taken over; a live holder is refused with a message
naming its pid and host. Where `flock` is not available (some network file systems, Windows) the lock falls back
to creating the file exclusively and calls it stale when it names a pid of this host that no longer runs.

Example:
    >>> with FolderLock("shards/", "fakespeech build"):  # doctest: +SKIP
    ...     write_shards()
"""

import errno
import json
import os
import pathlib
import socket
import time

try:
    import fcntl
except ImportError:  # Windows: the pid fallback below
    fcntl = None

LOCK_FILE = ".fakespeech.lock"
RETRIES = 5
RETRY_SECONDS = 0.05
# Without flock, a lock file naming no pid is a crash's leftover only once it is older than a holder needs to
# write its record.
UNNAMED_STALE_SECONDS = 10.0


class FolderLockedError(RuntimeError):
    """The folder is locked by another live process; `holder` is what its lock file says (pid, host, purpose)."""

    def __init__(self, folder, holder):
        self.folder = str(folder)
        self.holder = dict(holder)
        since = holder.get("started")
        since = f" since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since))}" if since else ""
        super().__init__(
            f"{folder} is in use by another process: pid {holder.get('pid')} on {holder.get('host')} "
            f"({holder.get('purpose') or 'unknown purpose'}{since}); wait for it to finish, stop it, or use another "
            f"folder")


class FolderLock:
    """An exclusive lock on `folder` for the length of a `with` block.

    Args:
        folder: the folder to lock; it must exist.
        purpose: what the holder does (e.g. `"fakespeech build"`), shown to a process that is refused.
        lock_name: the lock file's name inside `folder`.

    Raises (on entering):
        FolderLockedError: another live process holds the lock.
        OSError: the lock file cannot be created (read-only folder, full disk); `filename` is the folder.
    """

    def __init__(self, folder, purpose, lock_name=LOCK_FILE):
        self.folder = pathlib.Path(folder)
        self.purpose = str(purpose)
        self.path = self.folder / lock_name
        self._fd = None
        self.took_over = None  # the holder record of a stale lock taken over, if any

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()
        return False

    @property
    def locked(self):
        return self._fd is not None

    def acquire(self):
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this FolderLock")
        try:
            if fcntl is not None:
                self._acquire_flock()
            else:
                self._acquire_exclusive_create()
        except OSError as exc:
            raise OSError(exc.errno, f"cannot create the lock file {self.path.name} ({exc.strerror})",
                          str(self.folder)) from None

    def _acquire_flock(self):
        for attempt in range(RETRIES + 1):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    return self._acquire_exclusive_create()
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = _read_holder(self.path)
                if holder or attempt == RETRIES:
                    raise FolderLockedError(self.folder, holder) from None
                time.sleep(RETRY_SECONDS)  # the holder has locked but not yet written its record, or is leaving
                continue
            if _same_file(fd, self.path):
                break
            os.close(fd)  # the holder removed the file between our open and flock: lock the new one
        previous = _read_holder(self.path)
        self.took_over = previous if previous.get("pid") else None
        self._fd = fd
        self._write_holder()

    def _acquire_exclusive_create(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = _read_holder(self.path)
                if not _is_stale(holder, self.path):
                    raise FolderLockedError(self.folder, holder) from None
                self.took_over = holder
                self.path.unlink(missing_ok=True)
                continue
            self._fd = fd
            self._write_holder()
            return
        raise FolderLockedError(self.folder, _read_holder(self.path))

    def _write_holder(self):
        record = {"pid": os.getpid(), "host": socket.gethostname(), "purpose": self.purpose, "started": time.time()}
        data = json.dumps(record).encode("utf-8")
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self):
        """Removes the lock file and drops the lock; safe to call twice."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # before unlocking, so a waiting process never sees our record
        except OSError:
            pass  # a read-only remount after acquiring: the kernel lock still goes with the descriptor
        finally:
            os.close(self._fd)
            self._fd = None


def _same_file(fd, path):
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read_holder(path):
    """The lock file's record, or `{}` when it is empty, missing or unreadable (e.g. written half by a crash)."""
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
        return record if isinstance(record, dict) else {}
    except (OSError, ValueError):
        return {}


def _is_stale(holder, path):
    """A lock (without flock) is stale when it names a pid of this host that no longer runs, or names none and
    is older than `UNNAMED_STALE_SECONDS`."""
    pid = holder.get("pid")
    if not isinstance(pid, int):
        try:
            return time.time() - os.stat(path).st_mtime > UNNAMED_STALE_SECONDS
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process: only its own host can tell
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, owned by someone else
    return False
