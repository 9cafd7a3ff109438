"""Reads and writes confined to one run folder: the only way grokscope touches a run's files.

A run folder is untrusted input (it may come from a colleague or the internet), so nothing in it
may lead grokscope elsewhere. Every file is named by plain names relative to the folder (never a
path: no separator, no ``..``, at most 255 bytes), and every folder on the way is opened relative
to its parent with ``O_NOFOLLOW``: a symbolic link inside the run folder is refused, for reads and
for writes, however it got there (even between two calls). The run folder itself is the path the
user typed and may be a link.

Writes are atomic: a temporary file beside the target, fsynced, then renamed over it (a rename
replaces a link rather than following it). Errors of the filesystem that the user can fix (a full
disk, a read-only or foreign folder) become :class:`RunFolderWriteError`, one line that names the
folder and says that what was written before is intact.
"""

import errno
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

NAME_MAX = 255  # bytes in one file name, on every filesystem grokscope meets


class UnsafeRunFolderError(ValueError):
    """A run folder that would lead a read or a write outside it: a link, or a name that is a path."""


class RunFolderWriteError(ValueError):
    """The filesystem refused a write (full, read-only, no permission): nothing before it was changed.

    ``why`` is the refusal in words ("no space left on the device")."""

    def __init__(self, message: str, why: str) -> None:
        super().__init__(message)
        self.why = why


_WHY = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "the filesystem is read-only",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENAMETOOLONG: "a name is too long for the filesystem",
}


def check_name(name: object, what: str = "name") -> str:
    """``name`` if it is one plain file name (no separator, not ``.``/``..``, at most 255 bytes), else an error."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise UnsafeRunFolderError(f"{what} {name!r} is not a plain file name")
    if len(os.fsencode(name)) > NAME_MAX:
        raise UnsafeRunFolderError(
            f"{what} {name[:40]!r}... is {len(os.fsencode(name))} bytes long, more than the "
            f"{NAME_MAX} a file name may have: choose a shorter one"
        )
    return name


def check_regular(fd: int, path: Path, *, writing: bool) -> int:
    """``fd`` if it is a regular file (and, to be written, has no other hard link), else close it and
    raise :class:`UnsafeRunFolderError`: a FIFO, a device, or a second name of a file elsewhere."""
    import stat

    st = os.fstat(fd)
    problem = None if stat.S_ISREG(st.st_mode) else "is not a regular file"
    if problem is None and writing and st.st_nlink > 1:
        problem = "has another hard link (it may be a file outside the run folder)"
    if problem is None:
        os.set_blocking(fd, True)
        return fd
    os.close(fd)
    raise UnsafeRunFolderError(
        f"{path} {problem}: replace it with the file grokscope wrote, or restore the folder from a backup"
    )


def check_name_lengths(path: str | Path) -> None:
    """Refuse a path with a component longer than a file name may be, before anything is made."""
    for part in Path(path).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            raise UnsafeRunFolderError(
                f"{part[:40]!r}... in {str(path)[:60]!r} is {len(os.fsencode(part))} bytes "
                f"long, more than the {NAME_MAX} a file name may have: choose a shorter one"
            )


class RunFolder:
    """The files of one run folder, by relative names: ``folder.read_bytes("ckpt", "step_0000100.safetensors")``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path(self, *parts: str) -> Path:
        """Where ``parts`` lie (for messages and for readers that take a path the user gave)."""
        return self.root.joinpath(*parts)

    def __repr__(self) -> str:
        return f"RunFolder({str(self.root)!r})"

    # -- reading ---------------------------------------------------------------------------

    def read_bytes(self, *parts: str) -> bytes:
        """The whole file; ``FileNotFoundError`` when it is missing, :class:`UnsafeRunFolderError` for a link."""
        *folders, name = parts
        with self._folder(folders) as fd:
            file_fd = self._open(fd, parts, name, os.O_RDONLY)
            with os.fdopen(file_fd, "rb") as f:
                return f.read()

    def read_head(self, *parts: str, size: int) -> bytes:
        """The first ``size`` bytes of a file (a safetensors header, without reading the tensors)."""
        *folders, name = parts
        with self._folder(folders) as fd, os.fdopen(self._open(fd, parts, name, os.O_RDONLY), "rb") as f:
            return f.read(size)

    def is_file(self, *parts: str) -> bool:
        """A regular file (not a link, not a folder) at ``parts``."""
        return self._kind(parts) == "file"

    def is_dir(self, *parts: str) -> bool:
        return self._kind(parts) == "dir"

    def names(self, *parts: str) -> list[str]:
        """The names in a subfolder (empty when it does not exist), sorted."""
        try:
            with self._folder(parts) as fd:
                return sorted(os.listdir(fd))
        except FileNotFoundError:
            return []

    def size_and_mtime(self, *parts: str) -> tuple[int, int] | None:
        """``(bytes, mtime_ns)`` of a regular file, or None when there is none."""
        *folders, name = parts
        try:
            with self._folder(folders) as fd:
                st = os.stat(check_name(name), dir_fd=fd, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError, UnsafeRunFolderError):
            return None
        return (st.st_size, st.st_mtime_ns) if _is_regular(st.st_mode) else None

    # -- writing ---------------------------------------------------------------------------

    def write_bytes(self, *parts: str, data: bytes) -> None:
        """Write ``data`` atomically (temporary file in the same folder, fsync, rename), making folders as needed."""
        *folders, name = parts
        check_name(name)
        tmp = f".{name[:200]}.{secrets.token_hex(4)}.tmp"  # stays under NAME_MAX whatever the name
        with self._writing(parts), self._folder(folders, create=True) as fd:
            tmp_fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
            try:
                with os.fdopen(tmp_fd, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            except BaseException:
                _unlink_quietly(fd, tmp)
                raise

    def write_json(self, *parts: str, obj: Any) -> None:
        """:meth:`write_bytes` of ``obj`` as indented, key-sorted JSON (the run's metadata files)."""
        self.write_bytes(*parts, data=(json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

    @contextmanager
    def appending(self, *parts: str) -> Iterator[BinaryIO]:
        """A file opened for appending (created if missing), never through a link."""
        *folders, name = parts
        with self._writing(parts), self._folder(folders, create=True) as fd:
            file_fd = self._open(fd, parts, name, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        f = os.fdopen(file_fd, "ab")
        try:
            yield f
        finally:
            with self._writing(parts):
                f.close()

    def unlink(self, *parts: str) -> None:
        """Remove a file if it is there (a link is removed itself, never what it points to)."""
        *folders, name = parts
        try:
            with self._folder(folders) as fd:
                os.unlink(check_name(name), dir_fd=fd)
        except FileNotFoundError:
            pass

    def check_contained(self, *parts: str) -> None:
        """Raise :class:`UnsafeRunFolderError` if a folder on the way to ``parts`` (as far as it exists) is a
        link, ``NotADirectoryError`` if it is a file: for a command to refuse at once, before its work, a
        place it could not write to."""
        for i in range(1, len(parts) + 1):
            try:
                with self._folder(parts[:i]):
                    pass
            except FileNotFoundError:
                return

    def make_dirs(self) -> None:
        """Create the run folder itself (and its parents: the user typed them)."""
        with self._writing(()):
            self.root.mkdir(parents=True, exist_ok=True)

    @contextmanager
    def writing(self, *parts: str) -> Iterator[None]:
        """Turn a write's filesystem errors (full disk, read-only, no permission) into one-line errors."""
        with self._writing(parts):
            yield

    # -- the walk ------------------------------------------------------------------------

    @contextmanager
    def _folder(self, parts: list[str] | tuple[str, ...], *, create: bool = False) -> Iterator[int]:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for i, part in enumerate(parts):
                check_name(part, "folder name")
                if create:
                    try:
                        os.mkdir(part, 0o755, dir_fd=fd)
                    except FileExistsError:
                        pass
                try:
                    sub = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as e:
                    if e.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(fd, part):
                        raise self._link_error(parts[: i + 1]) from None
                    if e.errno == errno.ENOTDIR:
                        raise NotADirectoryError(f"{self.path(*parts[: i + 1])} is not a folder") from None
                    raise
                os.close(fd)
                fd = sub
            yield fd
        finally:
            os.close(fd)

    def _open(self, fd: int, parts: tuple[str, ...], name: str, flags: int) -> int:
        # O_NONBLOCK: a FIFO planted in the folder must not hang the command; it is refused below.
        try:
            file_fd = os.open(check_name(name), flags | os.O_NOFOLLOW | os.O_NONBLOCK, 0o644, dir_fd=fd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise self._link_error(parts) from None
            if e.errno in (errno.EISDIR, errno.ENXIO):
                raise UnsafeRunFolderError(
                    f"{self.path(*parts)} is not a regular file: replace it with the file "
                    "grokscope wrote, or restore the folder from a backup"
                ) from None
            raise
        return check_regular(file_fd, self.path(*parts), writing=bool(flags & (os.O_WRONLY | os.O_RDWR)))

    def _kind(self, parts: tuple[str, ...]) -> str | None:
        *folders, name = parts
        try:
            with self._folder(folders) as fd:
                st = os.stat(check_name(name), dir_fd=fd, follow_symlinks=False)
        except (OSError, UnsafeRunFolderError):
            return None
        return "file" if _is_regular(st.st_mode) else "dir" if _is_dir(st.st_mode) else "other"

    def _link_error(self, parts: list[str] | tuple[str, ...]) -> UnsafeRunFolderError:
        return UnsafeRunFolderError(
            f"{self.path(*parts)} is a symbolic link: grokscope never follows links inside a run folder (it may "
            "come from anyone); replace the link by the file or folder itself"
        )

    @contextmanager
    def _writing(self, parts: tuple[str, ...] | list[str]) -> Iterator[None]:
        try:
            yield
        except OSError as e:
            if e.errno not in _WHY:
                raise
            raise RunFolderWriteError(
                f"cannot write {self.path(*parts)}: {_WHY[e.errno]}; every file written before is intact, so "
                f"free space or fix the folder's permissions, then run the same command again",
                _WHY[e.errno],
            ) from None


def _is_regular(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def _is_dir(mode: int) -> bool:
    import stat

    return stat.S_ISDIR(mode)


def _is_link(fd: int, name: str) -> bool:
    import stat

    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _unlink_quietly(fd: int, name: str) -> None:
    try:
        os.unlink(name, dir_fd=fd)
    except OSError:
        pass


__all__ = [
    "NAME_MAX",
    "RunFolder",
    "RunFolderWriteError",
    "UnsafeRunFolderError",
    "check_name",
    "check_name_lengths",
    "check_regular",
]
