"""The one-writer lock of a folder (a run's ``.lock``, a sweep's ``.sweep.lock``), and who holds it.

Torch-free, so ``grokscope sweep status`` can ask whether a sweep is running without loading torch.
"""

import fcntl
import os
from pathlib import Path

from grokscope.store.folder import check_regular

LOCK_FILE = ".lock"


class RunLock:
    """The one-writer lock of a run folder: ``fcntl.flock`` on ``<run>/.lock``, which names its holder.

    Taken before a trainer reads or writes anything of the run and held until :meth:`release`
    (the operating system drops it if the process dies). A second writer is refused at once
    with the holder's process id. Readers (analyses) never take it: every file they read is
    replaced atomically.
    """

    def __init__(self, path: Path, *, file: str = LOCK_FILE, doing: str = "trained") -> None:
        self.path = Path(path)
        try:
            fd = os.open(self.path / file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644)
        except OSError as e:  # read-only folder, no permission, or the lock is a symlink (not followed)
            raise ValueError(
                f"cannot take the writer's lock {self.path / file} ({e.strerror}): work in a "
                "writable folder of your own (--out)"
            ) from None
        check_regular(fd, self.path / file, writing=True)  # not a FIFO, not a hard link to elsewhere
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise ValueError(
                f"{self.path} is being {doing} by another process (pid {holder}): wait for it to "
                "finish or stop it, then run the command again"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "RunLock":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def lock_holder(path: Path, file: str = LOCK_FILE) -> str | None:
    """The process id written by whoever holds ``path/file`` now, or None when nobody does.

    Probed with a shared lock taken and dropped at once, so a reader never blocks a writer for longer.
    """
    try:
        fd = os.open(Path(path) / file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["LOCK_FILE", "RunLock", "lock_holder"]
