"""Output files that cannot destroy data.

An output is claimed before the run starts: its folder is checked, and a lock (`.<name>.lock` beside it, flock)
keeps a second run from writing the same path at the same time. It is then written under a temporary name in
the same folder (`<stem>.partial-<pid><suffix>`, so a recording keeps its extension and plays) and moved into
place, atomically, when the run ends: a file already at that path is only ever replaced by a whole new one.
A run killed outright (SIGKILL, power loss) leaves its partial file under the temporary name; the next run on
the same path says where it is.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from .errors import DemoError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; outputs are still written aside and moved into place
    fcntl = None

PARTIAL = "partial"


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
        self.path = Path(path).expanduser()
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
        if self.path.is_dir():
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
        if self._users > 1:
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
        """Where to write: a new name beside the final one (never a killed run's partial file)."""
        if self.temp is None:
            tag, n = str(os.getpid()), 1
            while partial_name(self.path, tag).exists():
                n += 1
                tag = f"{os.getpid()}-{n}"
            self.temp = partial_name(self.path, tag)
        return self.temp

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
    """A small file written aside and moved into place: never half a file at `path`."""
    target = OutputFile(path, what)
    temp = target.folder / f".{path.name}.{PARTIAL}-{os.getpid()}{path.suffix}"
    target.temp = temp
    try:
        with open(temp, "wb") as f:
            f.write(data)
    except OSError as e:
        target.discard()
        raise target.error(cause(e), "check free space and permissions") from None
    target.commit()
