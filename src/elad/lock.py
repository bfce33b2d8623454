"""One process at a time in a directory: an exclusive lock on DIR/elad.lock.

    with hold(run_dir): ...   # DirectoryInUse (a ConfigError) names the holder
    refuse_if_held(run_dir)   # the same error now, before `elad run` imports torch

`elad run` (and each `elad bench` worker, on its own run directory) holds the lock of its
run directory while it writes there; `elad bench` also holds the grid's. Readers
(`elad report`, `elad score`, `elad export`) do not take it: SQLite lets them read while
a run writes.

It is `fcntl.flock` on a file kept open, not a file created with O_EXCL: the kernel
releases a flock when its process ends, however it ends (SIGKILL, a crash, a power cut
releases everything), so a lock left by a dead process is never stale and nothing has to
guess whether a pid still runs. The file holds the holder's pid, host and start time for
the error message. It is never deleted: deleting it while others wait on it would let two
processes each lock a different file. (flock is POSIX; on NFS, Linux maps it to POSIX
record locks, which work across clients.)
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path

from elad.config import ConfigError

LOCK = "elad.lock"


class DirectoryInUse(ConfigError):
    """Another process holds the directory's lock; the message names it."""


class Lock:
    """A held lock; `release` (or leaving the `with` block, or exiting) lets it go."""

    def __init__(self, fd: int):
        self.fd: int | None = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the only descriptor releases the flock
            self.fd = None

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def hold(directory: Path) -> Lock:
    """Lock `directory` (which must exist) for this process, or raise DirectoryInUse."""
    path = Path(directory) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = holder_of(fd)
        os.close(fd)
        raise DirectoryInUse(f"{directory} is in use by {holder}; wait for it to end, or "
                             "stop it (it resumes with the same command)") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, (f"pid {os.getpid()} on {socket.gethostname()} since "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n").encode(), 0)
    return Lock(fd)


def holder_of(fd: int, wait_s: float = 1.0) -> str:
    """Who holds the lock, as its file says. The holder writes the file just after it
    takes the lock, so a file found empty is read again for up to `wait_s` before the
    holder is called another process."""
    deadline = time.monotonic() + wait_s
    while True:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip()
        if holder or time.monotonic() > deadline:
            return holder or "another process"
        time.sleep(0.01)


def running(directory: Path) -> str:
    """Who holds `directory`'s lock (a run going on now, as `holder_of` says it), or ""
    when no one does: what a reader (`elad report`) tells apart from a stopped run."""
    path = Path(directory) / LOCK
    if not path.is_file():
        return ""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # released with the descriptor
        return ""
    except BlockingIOError:
        return holder_of(fd)
    except OSError:  # a file system without locks: no run can hold one there either
        return ""
    finally:
        os.close(fd)


def refuse_if_held(directory: Path) -> None:
    """DirectoryInUse now if another process holds `directory`'s lock; nothing if it is
    free or does not exist (`elad run` asks before importing torch, then the run takes
    the lock for itself)."""
    if Path(directory).is_dir():
        try:
            hold(directory).release()
        except PermissionError:  # the run says so, as it would anyway
            pass
