"""Downloads users can trust.

Each file streams into `<dest>.part` while its size and sha384 are checked, and is renamed into place only when
both match, so a model path never holds half a file. A `.part` left by a failed attempt is resumed with an HTTP
Range request. Only network failures (and a server answering 5xx, 408 or 429) are retried, backing off
exponentially, and only they suggest checking the network; an HTTP answer such as 404 or bytes other than the
catalog's fail at once; a local failure (disk full, read-only cache) fails at once and removes the partial file.
Retries are told on stderr, in a log as on a terminal. A lock file keeps two processes from writing one file.

Environment: OVDEMO_MODEL_BASE_URL / OVDEMO_SAMPLE_BASE_URL (a mirror with the same relative layout),
OVDEMO_FETCH_TIMEOUT (seconds, connect and per read), OVDEMO_FETCH_RETRIES, OVDEMO_FETCH_BACKOFF (first pause, s).
Proxies come from the usual HTTP(S)_PROXY / NO_PROXY variables (urllib reads them).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Column

from ..errors import DemoError
from ..options import env_number

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, downloads still land atomically
    fcntl = None

OMZ_PREFIX = "https://storage.openvinotoolkit.org/repositories/open_model_zoo/"
SAMPLES_PREFIX = "https://github.com/intel-iot-devkit/sample-videos/raw/master/"
MIRROR_ENV = {OMZ_PREFIX: "OVDEMO_MODEL_BASE_URL", SAMPLES_PREFIX: "OVDEMO_SAMPLE_BASE_URL"}
CHUNK = 1 << 16


@dataclass(frozen=True)
class RemoteFile:
    url: str  # the published location; a mirror replaces only its prefix
    dest: Path
    size: int
    sha384: str


class _Retry(Exception):
    """A failure worth another attempt: the network (refused, reset, timed out, cut short), or a server that is
    briefly unwell (HTTP 5xx, 408, 429)."""

    def __init__(self, why: str, network: bool = True):
        super().__init__(why)
        self.network = network


class _GiveUp(Exception):
    """A failure another attempt will not fix: an HTTP answer such as 404, or bytes other than the catalog's."""


class _Local(Exception):
    """This machine cannot keep the file (disk full, read-only, no permission): no retry, no network advice."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(f"cannot write {path}: {error.strerror or error}")


def source_url(url: str) -> str:
    """The URL to fetch from: the published one, or the same relative path under a mirror."""
    for prefix, env in MIRROR_ENV.items():
        base = os.environ.get(env)
        if base and url.startswith(prefix):
            parts = urlsplit(base)
            if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
                raise DemoError(f"{env} '{base}' is not a URL", "give the mirror's address: https://HOST/PATH, "
                                "http://HOST:PORT/PATH or file:///FOLDER")
            return base.rstrip("/") + "/" + url[len(prefix):]
    return url


def sha384_of(path: Path) -> str:
    digest = hashlib.sha384()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp_path(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.verified")


def _stamp(dest: Path, sha384: str) -> str:
    st = dest.stat()
    return f"{sha384} {st.st_size} {st.st_mtime_ns}\n"


def is_valid(dest: Path, size: int, sha384: str) -> bool:
    """True if `dest` holds exactly the expected bytes. A stamp beside the file (hash, size, mtime) spares
    hashing big files on every run; any change to the file invalidates it."""
    try:
        if dest.stat().st_size != size:
            return False
        if _stamp_path(dest).read_text() == _stamp(dest, sha384):
            return True
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        if sha384_of(dest) != sha384:
            return False
    except OSError:
        return False
    with contextlib.suppress(OSError):
        _stamp_path(dest).write_text(_stamp(dest, sha384))
    return True


@contextlib.contextmanager
def _locked(dest: Path, on_wait) -> Iterator[None]:
    """Hold an exclusive lock for `dest` (a `.lock` file beside it; never removed, removing it would race)."""
    if fcntl is None:
        yield
        return
    with open(dest.with_name(f".{dest.name}.lock"), "ab") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Bars:
    """A bar per file and one overall, on stderr; a single line instead when stderr is not a terminal."""

    def __init__(self, files: list[RemoteFile], label: str):
        self.console = Console(stderr=True)
        self.progress = Progress(  # fixed widths: one line per bar, in 80 columns
            TextColumn("{task.description}", table_column=Column(width=28, no_wrap=True, overflow="ellipsis")),
            BarColumn(bar_width=12), DownloadColumn(), TransferSpeedColumn(), TimeRemainingColumn(),
            console=self.console, disable=not self.console.is_terminal,
        )
        total = sum(f.size for f in files)
        if not self.console.is_terminal:
            print(f"downloading {label}: {len(files)} file(s), {total / 1e6:.1f} MB", file=self.console.file)
        self.overall = self.progress.add_task(label, total=total) if len(files) > 1 else None
        self.current = None
        self.done = 0

    def __enter__(self) -> _Bars:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def start(self, rf: RemoteFile, have: int) -> None:
        if self.current is None:
            self.current = self.progress.add_task(rf.dest.name, total=rf.size)
        self.progress.update(self.current, description=rf.dest.name, total=rf.size, completed=have)
        if self.overall is not None:
            self.progress.update(self.overall, completed=self.done + have)

    def advance(self, n: int) -> None:
        self.progress.advance(self.current, n)
        if self.overall is not None:
            self.progress.advance(self.overall, n)

    def finish(self, rf: RemoteFile) -> None:
        self.done += rf.size
        if self.overall is not None:
            self.progress.update(self.overall, completed=self.done)

    def note(self, text: str) -> None:
        """A line above the bars on a terminal, a plain line in a log: a retry is never silent."""
        if self.console.is_terminal:
            self.progress.console.print(text, highlight=False)
        else:
            print(text, file=self.console.file, flush=True)


def _reason(error: BaseException) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else error
    if isinstance(error, TimeoutError):
        return "timed out (OVDEMO_FETCH_TIMEOUT sets the limit)"
    return str(error) or type(error).__name__


def _open(url: str, part: Path, have: int, timeout: float):
    headers = {"User-Agent": "ovdemo"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # the .part is longer than the server's file: it cannot be resumed
            part.unlink(missing_ok=True)
            raise _Retry(f"the server has fewer bytes than the {have} already fetched (HTTP 416)") from None
        if e.code in (408, 429) or e.code >= 500:
            raise _Retry(f"HTTP {e.code} {e.reason}", network=False) from None
        raise _GiveUp(f"HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise _Retry(_reason(e)) from None


def _declared_total(response, have: int) -> int | None:
    """The whole file's size as the server states it (Content-Range total, or Content-Length from offset)."""
    content_range = response.headers.get("Content-Range") or ""
    if have and "/" in content_range and content_range.rsplit("/", 1)[1].isdigit():
        return int(content_range.rsplit("/", 1)[1])
    length = response.headers.get("Content-Length")
    return have + int(length) if length and length.isdigit() else None


def _resume_point(part: Path, rf: RemoteFile):
    """Bytes already in the .part and their running hash; a .part that cannot belong to this file is dropped."""
    digest = hashlib.sha384()
    try:
        have = part.stat().st_size if part.exists() else 0
        if have > rf.size:
            part.unlink()
            return 0, digest
        if have:
            with open(part, "rb") as f:
                while block := f.read(1 << 20):
                    digest.update(block)
    except OSError as e:
        raise _Local(part, e) from None
    return have, digest


def _attempt(url: str, part: Path, rf: RemoteFile, timeout: float, bars: _Bars) -> None:
    """One request: append to the .part from where it ends; return when it holds exactly the right bytes."""
    have, digest = _resume_point(part, rf)
    resumed = have > 0
    part.touch()  # an empty file (some originals have one, e.g. an __init__.py) needs no request, but still lands
    if have < rf.size:
        with _open(url, part, have, timeout) as response:
            if have and response.status != 206:  # the server ignored Range: start over
                have, digest, resumed = 0, hashlib.sha384(), False
            elif have and not (response.headers.get("Content-Range") or "").startswith(f"bytes {have}-"):
                part.unlink()
                raise _Retry(f"the server answered the resume with another range ({response.headers['Content-Range']})")
            total = _declared_total(response, have)
            if total is not None and total != rf.size:
                raise _GiveUp(f"the server's file has {total:,} bytes, the catalog expects {rf.size:,}")
            bars.start(rf, have)
            try:
                out = open(part, "ab" if have else "wb")  # noqa: SIM115 - closed below, errors told apart
            except OSError as e:
                raise _Local(part, e) from None
            with out:
                while True:
                    try:
                        chunk = response.read(CHUNK)
                    except OSError as e:  # timeouts and resets; the bytes so far stay for a resume
                        raise _Retry(f"connection lost after {have:,} of {rf.size:,} bytes: {_reason(e)}") from None
                    if not chunk:
                        break
                    have += len(chunk)
                    if have > rf.size:
                        break
                    try:
                        out.write(chunk)
                    except OSError as e:
                        raise _Local(part, e) from None
                    digest.update(chunk)
                    bars.advance(len(chunk))
                try:
                    out.flush()
                    os.fsync(out.fileno())
                except OSError as e:
                    raise _Local(part, e) from None
        if have > rf.size:
            part.unlink()
            raise _GiveUp(f"the server sent more than the expected {rf.size:,} bytes")
        if have < rf.size:
            raise _Retry(f"the connection closed after {have:,} of {rf.size:,} bytes")
    if digest.hexdigest() != rf.sha384:
        part.unlink()
        why = f"sha384 mismatch: expected {rf.sha384[:16]}..., got {digest.hexdigest()[:16]}..."
        # a resumed .part may hold stale bytes from an older attempt: one fresh try is worth it
        raise (_Retry if resumed else _GiveUp)(why)


def _failure(rf: RemoteFile, url: str, why: str, advice: str, elsewhere: str) -> DemoError:
    """Every way out in one line: the network (or the server), a local copy, a mirror, the file by hand."""
    mirror = next((env for prefix, env in MIRROR_ENV.items() if url.startswith(prefix)), None)
    ways = [advice, elsewhere, f"set {mirror} to a mirror" if mirror and not os.environ.get(mirror) else "",
            f"fetch it by hand: curl -fL -o {shlex.quote(str(rf.dest))} {shlex.quote(url)}"]
    return DemoError(f"cannot download {url} to {rf.dest}: {why}", ", or ".join(w for w in ways if w))


def _server_advice(url: str) -> str:
    mirrors = [env for prefix, env in MIRROR_ENV.items() if os.environ.get(env)]
    return f"check the mirror {mirrors[0]} points at" if mirrors else "the file may have moved"


def _local_failure(part: Path, error: _Local) -> DemoError:
    """Nothing half-written is left behind: a partial file on a full disk only fills it further."""
    with contextlib.suppress(OSError):
        part.unlink(missing_ok=True)
    return DemoError(str(error), "free some space, or set OVDEMO_HOME to a folder you can write")


def _fetch_one(rf: RemoteFile, bars: _Bars, elsewhere: str) -> None:
    timeout = env_number("OVDEMO_FETCH_TIMEOUT", 30.0, 0.1, 3600)
    retries = int(env_number("OVDEMO_FETCH_RETRIES", 3, 0, 100, integer=True))
    backoff = env_number("OVDEMO_FETCH_BACKOFF", 1.0, 0, 600)
    url = source_url(rf.url)
    part = rf.dest.with_name(rf.dest.name + ".part")
    with contextlib.ExitStack() as held:
        try:
            rf.dest.parent.mkdir(parents=True, exist_ok=True)
            held.enter_context(_locked(rf.dest, lambda: bars.note(f"waiting for another ovdemo fetching "
                                                                  f"{rf.dest.name}")))
        except OSError as e:
            raise _local_failure(part, _Local(rf.dest.parent, e)) from None
        if is_valid(rf.dest, rf.size, rf.sha384):  # another process finished it while we waited
            return
        last = None
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                _attempt(url, part, rf, timeout, bars)
                break
            except _Local as e:
                raise _local_failure(part, e) from None
            except _GiveUp as e:
                raise _failure(rf, url, str(e), _server_advice(url), elsewhere) from None
            except _Retry as e:
                last = e
                if attempt < retries:
                    bars.note(f"{rf.dest.name}: {e}; retrying ({attempt + 1} of {retries})")
        else:
            advice = "check the network and proxy settings" if last.network else "the server is unwell: try later"
            raise _failure(rf, url, f"{last} (gave up after {retries + 1} attempts)", advice, elsewhere)
        try:
            os.replace(part, rf.dest)  # atomic: the final path holds all of the file or none of it
        except OSError as e:
            raise _local_failure(part, _Local(rf.dest, e)) from None
        with contextlib.suppress(OSError):
            _stamp_path(rf.dest).write_text(_stamp(rf.dest, rf.sha384))


def fetch(files: list[RemoteFile], label: str, elsewhere: str = "") -> int:
    """Make every file present and verified; fetch only those that are not. Returns how many were fetched.
    `elsewhere` says where a local copy would be found instead (a failed download names it)."""
    todo = [f for f in files if not is_valid(f.dest, f.size, f.sha384)]
    if todo:
        with _Bars(todo, label) as bars:
            for rf in todo:
                _fetch_one(rf, bars, elsewhere)
                bars.finish(rf)
    return len(todo)
