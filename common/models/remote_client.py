"""Talking to a KServe v2 server through tritonclient, over gRPC or HTTP: the same few calls either way, and one
line naming the server for every way a call can fail. tritonclient is imported when a client is made, so only
runs that name a model URL load it."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import numpy as np
import openvino as ov

from ..engine.runtime import first_error_line
from ..errors import DemoError
from .remote_ref import RemoteModelRef

DATATYPES = {"FP32": ov.Type.f32, "FP16": ov.Type.f16, "FP64": ov.Type.f64,  # (BF16: numpy has no such type)
             "UINT8": ov.Type.u8, "INT8": ov.Type.i8, "UINT16": ov.Type.u16, "INT16": ov.Type.i16,
             "UINT32": ov.Type.u32, "INT32": ov.Type.i32, "UINT64": ov.Type.u64, "INT64": ov.Type.i64,
             "BOOL": ov.Type.boolean}
DTYPES = {kserve: ov_type.to_dtype() for kserve, ov_type in DATATYPES.items()}


def server_error(ref: RemoteModelRef, error: BaseException) -> DemoError:
    """What went wrong with the server, as the one line a user sees."""
    kind = error_kind(error)
    where = f"the model server at {ref.address}"
    if kind == "unreachable":
        return DemoError(f"{where} is not answering ({short(error)})",
                         f"start the server, or check the host and port in {ref.url}")
    if kind == "timeout":
        return DemoError(f"{where} did not answer {ref.model} within {ref.timeout:g} s",
                         "raise --remote-timeout, or check how loaded the server is")
    if kind == "unknown":
        return DemoError(f"{where} has no model '{ref.model}'" + (f" version {ref.version}" if ref.version else ""),
                         "check the model's name (and version) in the URL against the server's configuration")
    return DemoError(f"{where} refused {ref.model}: {short(error)}", "check the server's log")


def error_kind(error: BaseException) -> str:
    """unreachable, timeout, unknown (model) or refused, from what gRPC, HTTP or the socket said."""
    status = getattr(error, "status", None)
    status = status() if callable(status) else ""  # tritonclient's: gRPC's code
    text = f"{status} {error}".lower()
    if isinstance(error, TimeoutError) or "deadline" in text or "timed out" in text or "timeout" in text:
        return "timeout"
    if isinstance(error, ConnectionError | OSError) and not isinstance(error, TimeoutError) or any(
            s in text for s in ("unavailable", "connection refused", "failed to connect", "connection reset",
                                "socket closed", "broken pipe", "connect failed")):
        return "unreachable"
    if "unknown model" in text or "not found" in text or "is not ready" in text:
        return "unknown"
    return "refused"


TRACEBACK_LINE = re.compile(r"\s|File |At:|Traceback|\^+$|Exception from|Check '|.*\.py\(\d+\): ")


def short(error: BaseException) -> str:
    """The gist of a client error. tritonclient puts gRPC's status in brackets before the server's message, and a
    server whose Python model failed sends its whole traceback: the last line that is not part of one is kept."""
    text = str(error)
    if not text.strip():
        return type(error).__name__
    if "connection refused" in text.lower():  # gRPC says it in three layers of words
        return "connection refused"
    lines = [ln.rstrip() for ln in text.splitlines() if ln.strip() and not TRACEBACK_LINE.match(ln)]
    line = lines[-1] if lines else first_error_line(error)
    return re.sub(r"^\[StatusCode\.\w+\]\s*", "", line).rstrip(".")[:200]


class Client:
    """A tritonclient client for one server, the same calls over gRPC and HTTP. gRPC's client is shared by
    every thread; HTTP's (gevent-based) belongs to the thread that made it, so each thread gets its own."""

    def __init__(self, ref: RemoteModelRef):
        self.ref, self.timeout = ref, ref.timeout
        self._local = threading.local()
        self._shared = None
        if ref.protocol == "grpc":
            import tritonclient.grpc as grpc_client  # the client library loads only when a URL is used

            self.module = grpc_client
            self._shared = grpc_client.InferenceServerClient(ref.address, ssl=ref.ssl)
        else:
            import tritonclient.http as http_client

            self.module = http_client

    @property
    def client(self):
        if self._shared is not None:
            return self._shared
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = self.module.InferenceServerClient(
                self.ref.address, ssl=self.ref.ssl, connection_timeout=self.timeout, network_timeout=self.timeout)
        return client

    def _call(self, method: str, *args, **kwargs):
        if self._shared is not None:
            kwargs["client_timeout"] = self.timeout
        if threading.current_thread() is not threading.main_thread():
            return getattr(self.client, method)(*args, **kwargs)
        return _off_main_thread(lambda: getattr(self.client, method)(*args, **kwargs), self._close_own)

    def _close_own(self) -> None:
        """Close the calling thread's own client (HTTP's)."""
        client = getattr(self._local, "client", None)
        if client is not None:
            self._local.client = None
            with suppress(Exception):
                client.close()

    def ready(self) -> bool:
        return self._call("is_model_ready", self.ref.model, self.ref.version)

    def metadata(self) -> dict:
        return self._call("get_model_metadata", self.ref.model, self.ref.version, **self._json())

    def config(self) -> dict:
        answer = self._call("get_model_config", self.ref.model, self.ref.version, **self._json())
        return answer.get("config", answer)  # gRPC wraps it in {"config": ...}, HTTP does not

    def statistics(self) -> dict | None:
        """The server's cumulative statistics of this model; None when the server keeps none or hides them
        (OpenVINO Model Server has no statistics endpoint; pytriton restricts it by default)."""
        try:
            answer = self._call("get_inference_statistics", self.ref.model, self.ref.version, **self._json())
        except Exception:
            return None
        for entry in answer.get("model_stats", []):
            if entry.get("name") == self.ref.model and (not self.ref.version or entry.get("version") ==
                                                        self.ref.version):
                return entry.get("inference_stats", {}) | {"inference_count": entry.get("inference_count", 0)}
        return None

    def _json(self) -> dict:
        return {"as_json": True} if self._shared is not None else {}

    def infer(self, inputs: dict[str, np.ndarray], outputs: list[str]) -> dict[str, np.ndarray]:
        module = self.module
        tensors = []
        for name, array in inputs.items():
            tensor = module.InferInput(name, list(array.shape), datatype_of(array))
            if self._shared is not None:
                tensor.set_data_from_numpy(array)
            else:
                tensor.set_data_from_numpy(array, binary_data=True)
            tensors.append(tensor)
        wanted = [module.InferRequestedOutput(name) for name in outputs]
        result = self._call("infer", self.ref.model, tensors, model_version=self.ref.version, outputs=wanted)
        return {name: result.as_numpy(name) for name in outputs}

    def close(self) -> None:
        for client in (self._shared, getattr(self._local, "client", None)):
            if client is not None:
                with suppress(Exception):  # closing is best effort: the process may be ending
                    client.close()


def _off_main_thread(work: Callable[[], Any], finish: Callable[[], Any]) -> Any:
    """`work()` on a daemon thread that the main thread waits for: a signal interrupts that wait (Ctrl+C acts at
    once, whatever the server does), never the client library's own loop (gevent prints a traceback for what
    interrupts it). A call a signal abandons ends with its time-out, on its own thread."""
    box: dict = {}

    def run():
        try:
            box["value"] = work()
        except BaseException as e:  # raised on the main thread
            box["error"] = e
        finally:
            finish()

    thread = threading.Thread(target=run, name="ovdemo-server-call", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


def datatype_of(array: np.ndarray) -> str:
    for name, dtype in DTYPES.items():
        if array.dtype == dtype:
            return name
    raise DemoError(f"no KServe datatype for {array.dtype}", "the model server takes numbers or booleans")
