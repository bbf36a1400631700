"""Output files that cannot destroy data.

An output is claimed before the run starts: its folder is checked, and a lock (`.<name>.lock` beside it, flock)
keeps a second run from writing the same path at the same time. It is then written under a temporary name in
the same folder (`<stem>.partial-<pid><suffix>`, so a recording keeps its extension and plays) and moved into
place, atomically, when the run ends: a file already at that path is only ever replaced by a whole new one.
A run killed outright (SIGKILL, power loss) leaves its partial file under the temporary name; the next run on
the same path says where it is.

What is at the path decides how it is written: a character device (/dev/null), a FIFO, a socket or a standard
stream (/dev/stdout) is opened and written in place, with no lock, no file aside and no rename (renaming over
it would replace it with a regular file); a symbolic link is followed, and its target written the safe way (the
link stays a link); a block device is refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import stat
from pathlib import Path

from ..errors import DemoError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; outputs are still written aside and moved into place
    fcntl = None

PARTIAL = "partial"
STANDARD_STREAM = re.compile(r"/dev/(stdout|stderr|fd/\d+)|/proc/self/fd/\d+")
STANDARD_FDS = {"/dev/stdout": 1, "/dev/stderr": 2}


def written_in_place(path: Path) -> bool:
    """A path to write as it is, never aside: a standard stream, a character device, a FIFO or a socket."""
    if STANDARD_STREAM.fullmatch(str(path)):
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def open_in_place(path: Path) -> int:
    """A file descriptor writing to what `path` is: the process's own stream for /dev/std*, a connection for a
    socket, the device or FIFO opened as it is (a FIFO waits for its reader, as a shell's `>` does)."""
    name = str(path)
    if name in STANDARD_FDS or name.startswith(("/dev/fd/", "/proc/self/fd/")):
        return os.dup(STANDARD_FDS.get(name) or int(name.rsplit("/", 1)[1]))
    if stat.S_ISSOCK(os.stat(path).st_mode):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.connect(name)
            return sock.detach()
    return os.open(path, os.O_WRONLY)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def cause(error: OSError) -> str:
    """An OSError as a user reads it: 'No space left on device', 'Read-only file system', ..."""
    return error.strerror or str(error) or type(error).__name__


def partial_name(path: Path, tag: str) -> Path:
    """out.mp4 -> out.partial-<tag>.mp4: beside the final file, same extension."""
    return path.with_name(f"{path.stem}.{PARTIAL}-{tag}{path.suffix}")


def real(path: Path) -> str:
    """The path a file has, or will have, with links and `..` resolved: two names for one file compare equal."""
    return os.path.realpath(path)


def same_file(a: Path, b: Path) -> bool:
    if real(a) == real(b):
        return True
    with contextlib.suppress(OSError):
        return os.path.samefile(a, b)  # hard links
    return False


class OutputFile:
    """One output path of a run: claimed (checked and locked), written aside, moved into place."""

    def __init__(self, path: str | Path, what: str):
        given = Path(path).expanduser()
        self.in_place = written_in_place(given)
        # a link is followed: its target is what gets written (aside, then moved into place), the link stays
        with contextlib.suppress(OSError):  # (a name too long: check() says so)
            given = Path(real(given)) if given.is_symlink() and not self.in_place else given
        self.path = given
        self.what = what  # what the file is, in messages: "video", "JSON lines", "metrics file", ...
        self.temp: Path | None = None
        self._lock_fd: int | None = None
        self._users = 0

    @property
    def folder(self) -> Path:
        return self.path.parent if str(self.path.parent) else Path(".")

    def error(self, problem: str, hint: str = "choose another place") -> DemoError:
        return DemoError(f"cannot write {self.what} '{self.path}': {problem}", hint)

    def check(self) -> None:
        """The folder exists and the name is not a folder (cheap: before any model is fetched)."""
        if self.in_place:
            return
        try:
            mode = os.stat(self.path).st_mode
        except (FileNotFoundError, NotADirectoryError):  # (a missing folder is said below)
            mode = 0
        except OSError as e:  # a name too long, a folder that may not be searched
            raise self.error(cause(e)) from None
        if stat.S_ISBLK(mode):
            raise self.error("it is a block device (a disk)", "give a file name")
        if stat.S_ISDIR(mode):
            raise self.error("it is a folder", "give a file name")
        if not self.folder.is_dir():
            raise self.error(f"folder '{self.folder}' does not exist", "create it first")

    # -- the lock

    @property
    def lock_path(self) -> Path:
        return self.folder / f".{self.path.name}.lock"

    def claim(self) -> list[Path]:
        """Check and lock the path. Returns the partial files killed runs left for it."""
        self.check()
        self._users += 1
        if self._users > 1 or self.in_place:
            return []
        try:
            self._lock()
        except BaseException:
            self._users = 0
            raise
        return self.leftovers()

    def _lock(self) -> None:
        lock = self.lock_path
        while True:
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise self.error(cause(e)) from None
            if fcntl is None:
                break
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                raise DemoError(f"{self.what} '{self.path}' is being written by another ovdemo run"
                                + (f" (pid {holder})" if holder.isdigit() else ""),
                                "wait for it to end, or choose another file") from None
            try:  # the holder before us may have removed the lock file as we opened it: lock the current one
                if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                    break
            except FileNotFoundError:
                pass
            os.close(fd)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def release(self) -> None:
        """Drop one claim; the last one unlocks (and removes the lock file, under the lock)."""
        self._users = max(0, self._users - 1)
        if self._users or self._lock_fd is None:
            return
        fd, self._lock_fd = self._lock_fd, None
        with contextlib.suppress(OSError):
            if os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino:
                os.unlink(self.lock_path)
        os.close(fd)
        _CLAIMS.pop(real(self.path), None)

    def leftovers(self) -> list[Path]:
        """Partial files of runs on this path that were killed (the lock is ours: no live run writes them)."""
        pattern = re.compile(rf"{re.escape(self.path.stem)}\.{PARTIAL}-\d+(-\d+)?{re.escape(self.path.suffix)}")
        mine = self.temp.name if self.temp else None
        with contextlib.suppress(OSError):
            return sorted(p for p in self.folder.iterdir() if pattern.fullmatch(p.name) and p.name != mine)
        return []

    # -- writing aside, then into place

    def temp_path(self) -> Path:
        """Where to write: a new name beside the final one (never a killed run's partial file); the path
        itself for what is written in place."""
        if self.in_place:
            return self.path
        if self.temp is None:
            tag, n = str(os.getpid()), 1
            while partial_name(self.path, tag).exists():
                n += 1
                tag = f"{os.getpid()}-{n}"
            self.temp = partial_name(self.path, tag)
        return self.temp

    def open(self) -> int:
        """A file descriptor to write the output through: the file aside, or what is at the path in place."""
        if self.in_place:
            return open_in_place(self.path)
        return os.open(self.temp_path(), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)

    def commit(self) -> None:
        """Move the whole file into place (after making it durable: a crash after the rename finds it whole)."""
        if self.temp is None:
            return
        try:
            fd = os.open(self.temp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.temp, self.path)
        except OSError as e:
            raise self.error(f"{cause(e)}; what was written is in '{self.temp}'", "move it into place by hand") \
                from None
        self.temp = None

    def discard(self) -> None:
        """Remove the temporary file (a write that produced nothing worth keeping)."""
        if self.temp is not None:
            with contextlib.suppress(OSError):
                self.temp.unlink()
            self.temp = None


_CLAIMS: dict[str, OutputFile] = {}  # real path -> the claim this process holds on it


def claim(path: str | Path, what: str) -> tuple[OutputFile, list[Path]]:
    """The process's claim on `path` (a new one, or the one the run already holds), and killed runs' partial
    files for it. Every `claim` is paired with a `release`."""
    key = real(Path(path).expanduser())
    held = _CLAIMS.get(key)
    if held is not None:
        held.claim()
        return held, []
    output = OutputFile(path, what)
    leftovers = output.claim()
    _CLAIMS[key] = output
    return output, leftovers


def write_whole(path: Path, data: bytes, what: str) -> None:
    """A small file written aside and moved into place: never half a file at `path` (a device, FIFO or socket
    is written in place)."""
    target = OutputFile(path, what)
    if not target.in_place:
        target.temp = target.folder / f".{target.path.name}.{PARTIAL}-{os.getpid()}{target.path.suffix}"
    try:
        fd = target.open()
        try:
            write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as e:
        target.discard()
        raise target.error(cause(e), "check free space and permissions") from None
    target.commit()
