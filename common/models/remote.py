"""Models on a KServe v2 inference server (OpenVINO Model Server, Triton, KServe), through `tritonclient`.

`-m grpc://HOST:PORT/MODEL[:VERSION]` or `-m http(s)://HOST:PORT/v2/models/MODEL[/versions/V]`. The server's
metadata (inputs, outputs, shapes, datatypes) becomes a *stand-in* ov.Model: a Parameter per server input and,
per server output, a node of that output's name, type and shape. Families read it as they read a local model
(decoders find outputs by name or shape, `augment` adds ops after them, preprocessing goes in front of the
inputs), so no family knows a model is remote. `compile_model` then cuts the stand-in at its two marked seams:
what sits in front of the server's inputs (the preprocessing) and what sits after its outputs (a decoder's
ops) compile on the local CPU; the server runs what is between. The calls to the server are in
`remote_client.py`; this module, and tritonclient with it, loads only when a model URL is used: `ovdemo --help`
does not pay for it.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import openvino as ov
import openvino.opset13 as ops
import openvino.properties.hint as hints

from ..engine.runtime import REMOTE_RT_INFO, ModelOutputs, core
from ..errors import DemoError
from .remote_client import DATATYPES, Client, error_kind, server_error, short
from .remote_ref import RemoteModelRef

RT_INFO_KEY = REMOTE_RT_INFO  # the stand-in model's rt_info: the model's URL
INPUT_SEAM = "ovdemo.remote.input:"  # friendly name of the node consuming a server input, + the input's name
OUTPUT_SEAM = "ovdemo.remote.output:"  # friendly name of the node standing for a server output, + its name
UNBOUNDED_BATCH = 1 << 16  # a server model whose batch dimension is open (the stage's own limit applies)
IDLE_S = 30.0  # a request thread without work for this long ends
WAIT_ALL_S = 3.0  # at the end of a run, how long requests still in flight are waited for
DEFAULT_REQUESTS = 4  # requests in flight when --nireq is 0: enough to hide a loopback or LAN round trip
RETRIES = 3  # tries of a request the server did not take (connection refused or reset), then the run fails
RETRY_PAUSE_S = 0.5  # doubled after each try: 0.5 + 1 s between three tries

# -- the model's description, fetched once per run

@dataclass(frozen=True)
class TensorInfo:
    name: str
    datatype: str
    shape: tuple[int, ...]  # -1 where the server says the dimension varies


@dataclass(frozen=True)
class RemoteModel:
    ref: RemoteModelRef
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    max_batch: int  # > 0: the server batches, and the first dimension of every tensor is the batch

    @property
    def batch_limit(self) -> int:
        """The most items one request may carry: the server's max_batch_size; without one, any number when every
        input's first dimension is open (KServe's -1), else 1."""
        if self.max_batch > 0:
            return self.max_batch
        return UNBOUNDED_BATCH if all(t.shape and t.shape[0] == -1 for t in self.inputs) else 1


def tensors(entries: list[dict]) -> tuple[TensorInfo, ...]:
    return tuple(TensorInfo(e["name"], e["datatype"], tuple(int(d) for d in e["shape"])) for e in entries)


@cache
def describe(ref: RemoteModelRef) -> RemoteModel:
    """The model's inputs, outputs and batch size from the server (one line naming the server if it fails)."""
    client = Client(ref)
    try:
        meta = client.metadata()  # an unknown model fails here, by name
        config = server_config(client)
        if not client.ready():
            raise DemoError(f"the model server at {ref.address} has model '{ref.model}' but it is not ready",
                            "wait until it has loaded, or check the server's log")
    except DemoError:
        raise
    except Exception as e:
        raise server_error(ref, e) from None
    finally:
        client.close()
    model = RemoteModel(ref, tensors(meta.get("inputs", [])), tensors(meta.get("outputs", [])),
                        int(config.get("max_batch_size", 0) or 0))
    for t in (*model.inputs, *model.outputs):
        if t.datatype not in DATATYPES:
            raise DemoError(f"{ref.model} on {ref.address} has {t.name} of type {t.datatype}",
                            f"ovdemo reads the types {', '.join(DATATYPES)}")
    if not model.inputs or not model.outputs:
        raise DemoError(f"the model server at {ref.address} describes {ref.model} without inputs or outputs",
                        "check the model's configuration on the server")
    return model


def server_config(client: Client) -> dict:
    """The model's configuration, {} from a server that has no configuration call (OpenVINO Model Server's KServe
    API implements metadata, readiness and inference only: its metadata shapes carry the batch dimension)."""
    try:
        return client.config()
    except Exception as e:
        if error_kind(e) in ("unreachable", "timeout"):
            raise
        return {}


def stand_in(remote: RemoteModel) -> ov.Model:
    """An ov.Model with the server model's inputs and outputs (names, types, shapes), for the families to read and
    shape; every input is consumed by a node named INPUT_SEAM+name, every output comes from one named
    OUTPUT_SEAM+name, where `compile_model` cuts. A dimension the server leaves open stays open (the batch
    follows the input's)."""
    params = []
    for info in remote.inputs:
        param = ops.parameter(ov.PartialShape(list(info.shape)), DATATYPES[info.datatype], name=info.name)
        param.output(0).get_tensor().set_names({info.name})
        params.append(param)
    seeds = []
    for param, info in zip(params, remote.inputs, strict=True):
        rank = param.get_output_partial_shape(0).rank.get_length()
        seam = ops.reduce_min(param, ops.constant(np.arange(rank, dtype=np.int64)), False)
        seam.set_friendly_name(INPUT_SEAM + info.name)
        seeds.append(ops.convert(seam, ov.Type.f32))
    seed = seeds[0]
    for other in seeds[1:]:
        seed = ops.add(seed, other)
    seed = ops.multiply(seed, ops.constant(np.float32(0)))
    batch = _dim(ops.shape_of(params[0]), 0)
    # a dimension of unknown value: NonZero's count of a one-element vector (0..1)
    open_dim = _dim(ops.shape_of(ops.non_zero(ops.reshape(seed, ops.constant(np.array([1], np.int64)), False))), 1)
    results = []
    for info in remote.outputs:
        dims = [batch if d < 0 and i == 0 and remote.batch_limit > 1 else open_dim if d < 0
                else ops.constant(np.array([d], np.int64)) for i, d in enumerate(info.shape)]
        target = ops.concat(dims, 0) if dims else ops.constant(np.array([], np.int64))
        node = ops.broadcast(ops.convert(seed, DATATYPES[info.datatype]), target)
        node.set_friendly_name(OUTPUT_SEAM + info.name)
        node.output(0).get_tensor().set_names({info.name})
        results.append(ops.result(node))
    model = ov.Model(results, params, remote.ref.model)
    model.set_rt_info(remote.ref.url, RT_INFO_KEY)
    return model


def _dim(shape, index: int):
    return ops.gather(shape, ops.constant(np.array([index], np.int64)), ops.constant(np.int64(0)))


_MODELS: dict[str, RemoteModel] = {}  # URL -> description, for compile_model to find a stand-in's server


def read_remote(ref: RemoteModelRef) -> ov.Model:
    remote = describe(ref)
    _MODELS[ref.url] = remote
    return stand_in(remote)


def remote_url(model: ov.Model) -> str | None:
    """The URL of a stand-in model (also after it was cloned, reshaped or given preprocessing), else None."""
    return model.get_rt_info(RT_INFO_KEY).astype(str) if model.has_rt_info(RT_INFO_KEY) else None


def batch_limit(model: ov.Model) -> int:
    return _MODELS[remote_url(model)].batch_limit


# -- compiling: the local parts on the CPU, the server's part as requests

CLIENT_SIDE = {hints.inference_precision: ov.Type.f32}  # resize, colour, mean/scale: exact, as small as they are


@dataclass
class ServerTimes:
    """Round trips a model's requests took, for the summary; the server's own time comes from its statistics."""

    requests: int = 0
    round_trip_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ms: float) -> None:
        with self.lock:
            self.requests += 1
            self.round_trip_ms += ms


@dataclass
class LocalRequests:
    """One thread's infer requests of the local parts: the preprocessing, and the ops after the server (if any)."""

    pre: ov.InferRequest
    post: ov.InferRequest | None


class RemoteCompiled:
    """A stand-in model cut at its seams: `pre` (the preprocessing, from the model's inputs to the server's),
    `post` (ops after the server's outputs; None when there are none), and the server in between. Stands where
    an ov.CompiledModel stands for the pipeline and stages: `inputs`, `outputs`, and `pool` for requests."""

    def __init__(self, model: ov.Model):
        self.remote = _MODELS[remote_url(model)]
        self.ref = self.remote.ref
        self.timeout = self.ref.timeout
        model = model.clone()
        nodes = {n.get_friendly_name(): n for n in model.get_ordered_ops()}
        seams = [(info.name, nodes[INPUT_SEAM + info.name]) for info in self.remote.inputs]
        pre = ov.Model([ops.result(node.input_value(0)) for _, node in seams], model.get_parameters(), "pre")
        self.server_inputs = [name for name, _ in seams]
        self.pre = core().compile_model(pre, "CPU", CLIENT_SIDE)
        self.inputs = self.pre.inputs
        # the server's outputs something still reads (a decoder's added ops may have replaced a Result)
        stand_ins = [(info, nodes[OUTPUT_SEAM + info.name]) for info in self.remote.outputs]
        used = [(info, node) for info, node in stand_ins if node.output(0).get_target_inputs()]
        self.server_outputs = [info.name for info, _ in used]
        direct = all(r.input_value(0).get_node().get_friendly_name().startswith(OUTPUT_SEAM)
                     for r in model.get_results())
        self.post = None
        self.outputs = model.outputs
        if not direct:
            params = []
            for info, node in used:
                param = ops.parameter(node.get_output_partial_shape(0), node.get_output_element_type(0), info.name)
                node.output(0).replace(param.output(0))
                param.output(0).get_tensor().set_names({info.name})
                params.append(param)
            self.post = core().compile_model(ov.Model(model.get_results(), params, "post"), "CPU", CLIENT_SIDE)
            self.outputs = self.post.outputs
        self.names = {info.name: frozenset(node.output(0).get_names()) for info, node in used}
        self.times = ServerTimes()
        self.client = Client(self.ref)
        self.stats_before = self.client.statistics()
        self.cancelled = False

    def cancel(self) -> None:
        """An interrupted run: gRPC's calls in flight end at once (their channel closes), and nothing more is
        asked of the server (HTTP's calls, one gevent client per thread, are left to their daemon threads)."""
        self.cancelled = True
        self.client.close()

    def where(self) -> str:
        return self.ref.url

    def local_requests(self) -> LocalRequests:
        return LocalRequests(self.pre.create_infer_request(),
                             self.post.create_infer_request() if self.post is not None else None)

    def infer(self, inputs: dict, requests: LocalRequests | None = None) -> ModelOutputs:
        """One request, start to end, blocking: preprocessing here, the server's part, the ops after it here.
        `requests` are the calling thread's own local requests (default: this model's, for one caller)."""
        if requests is None:
            requests = self._own = getattr(self, "_own", None) or self.local_requests()
        requests.pre.infer(inputs)
        sent = {name: np.ascontiguousarray(requests.pre.get_output_tensor(i).data)
                for i, name in enumerate(self.server_inputs)}
        t0 = time.perf_counter()
        answer = self._send(sent)
        self.times.add((time.perf_counter() - t0) * 1000.0)
        if requests.post is None:
            return ModelOutputs([(self.names[name], answer[name]) for name in self.server_outputs])
        requests.post.infer({name: answer[name] for name in self.server_outputs})
        return ModelOutputs.of(requests.post, ModelOutputs.ports(self.post))

    def _send(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One round trip, tried again while the server does not take it (restarting, a dropped connection)."""
        pause = RETRY_PAUSE_S
        for attempt in range(1, RETRIES + 1):
            try:
                return self.client.infer(inputs, self.server_outputs)
            except Exception as e:
                if error_kind(e) != "unreachable" or attempt == RETRIES:
                    problem = server_error(self.ref, e)
                    if error_kind(e) == "unreachable" and attempt > 1:
                        problem = DemoError(f"the model server at {self.ref.address} stopped answering "
                                            f"({short(e)}; {attempt} tries)", problem.hint)
                    raise problem from None
                time.sleep(pause)
                pause *= 2
        raise AssertionError("unreachable")

    def pool(self, size: int, on_done) -> RemotePool:
        return RemotePool(self, size, on_done)

    def timings(self) -> dict:
        """The summary's row for this model: requests, mean round trip, the server's mean time per request (queue
        and compute, from its statistics over this run) and so the network's and the client library's share."""
        times = self.times
        row = {"model": self.ref.url, "name": self.ref.model, "requests": times.requests,
               "round_trip_ms": round(times.round_trip_ms / times.requests, 2) if times.requests else None,
               "server_ms": None, "network_ms": None}
        after = None if self.cancelled else self.client.statistics()  # (a hung server would hold the run's end)
        if after is not None and self.stats_before is not None and times.requests:
            served = _stat(after, "success", "count") - _stat(self.stats_before, "success", "count")
            if served > 0:
                spent_ns = sum(_stat(after, key, "ns") - _stat(self.stats_before, key, "ns")
                               for key in ("queue", "compute_input", "compute_infer", "compute_output"))
                row["server_ms"] = round(spent_ns / served / 1e6, 2)
                row["network_ms"] = round(max(row["round_trip_ms"] - row["server_ms"], 0.0), 2)
        return row


def _stat(stats: dict, key: str, field_name: str) -> int:
    return int((stats.get(key) or {}).get(field_name, 0) or 0)


class RemotePool:
    """The server's counterpart of `inference.RequestPool`, with its contract: `start` never blocks and says
    False when `size` requests are in flight; each request ends in `on_done(userdata, outputs, infer_ms, error)`
    (preprocessing, the round trip with its retries, and the local ops after the server, on one of up to `size`
    threads: a blocking call per thread serves gRPC and gevent-based HTTP alike). Every request calls back, a
    failed one with its error, so no failure is silent. The threads are daemons (a hung server never holds up the
    process's exit) started as requests need them, and end after IDLE_S without work."""

    def __init__(self, compiled: RemoteCompiled, size: int, on_done):
        self.compiled = compiled
        self.size = size or DEFAULT_REQUESTS
        self._on_done = on_done
        self._lock = threading.Lock()
        self._busy = 0
        self._workers = 0  # threads alive; never fewer than the requests in flight
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._idle = threading.Condition(self._lock)
        self._local = threading.local()  # each thread's own local infer requests

    @property
    def busy(self) -> int:
        return self._busy

    def start(self, inputs: dict, userdata) -> bool:
        with self._lock:
            if self._busy >= self.size:
                return False
            self._busy += 1
            now = time.perf_counter()
            spawn = self._workers < self._busy
            self._workers += spawn
            self._jobs.put((inputs, userdata, now))  # under the lock: a thread about to end sees it
        if spawn:
            threading.Thread(target=self._work, name="ovdemo-remote", daemon=True).start()
        return True

    def _work(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=IDLE_S)
            except queue.Empty:
                with self._lock:
                    if self._jobs.empty():
                        self._workers -= 1
                        return
                continue
            self._run(*job)

    def _requests(self) -> LocalRequests:
        if not hasattr(self._local, "requests"):
            self._local.requests = self.compiled.local_requests()
        return self._local.requests

    def _run(self, inputs: dict, userdata, started: float) -> None:
        outputs, error = None, None
        try:
            outputs = self.compiled.infer(inputs, self._requests())
        except BaseException as e:  # never let an error vanish in a worker thread: it goes to on_done
            error = e
        with self._lock:
            self._busy -= 1
            self._idle.notify_all()
        self._on_done(userdata, outputs, (time.perf_counter() - started) * 1000.0, error)

    def wait_all(self) -> None:
        """Give the requests in flight a moment to end (their answers are not needed: the run is ending); a request
        still waiting on a server after that is left to its daemon thread and its timeout."""
        if self.compiled.cancelled:
            return
        bound = time.perf_counter() + WAIT_ALL_S
        with self._lock:
            while self._busy and time.perf_counter() < bound:
                self._idle.wait(0.1)
