"""The OpenVINO adapter: reading models, embedding preprocessing, compiling, and an ordered async queue."""

from __future__ import annotations

import threading
import time
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import openvino as ov
import openvino.properties as props
import openvino.properties.hint as hints
import openvino.properties.streams as streams
from openvino.preprocess import ColorFormat, PrePostProcessor, ResizeAlgorithm

from ..errors import DemoError
from ..models.letterbox import CENTRED, LETTERBOX, letterbox_centred, pad_to_aspect, padded_size
from ..models.specs import ModelSpec
from .cpus import pinning
from .resize import blend_taps, gather_columns, gather_rows, rows_first, taps_pay_off
from .runtime import REMOTE_RT_INFO, ModelOutputs, core, first_error_line

if TYPE_CHECKING:
    from ..models.remote import RemoteCompiled
    from ..models.remote_ref import RemoteModelRef

VIRTUAL_DEVICES = ("AUTO", "HETERO", "MULTI", "BATCH")
PRECISION_TYPES = {"f32": ov.Type.f32, "bf16": ov.Type.bf16, "f16": ov.Type.f16}


@dataclass(frozen=True)
class InferenceConfig:
    device: str = "CPU"
    hint: str | None = "throughput"  # throughput | latency | None (device default)
    nireq: int = 0  # 0: the device's optimal number
    nstreams: str | None = None  # a number or AUTO
    nthreads: int | None = None
    cache_dir: str | None = None
    precision: str | None = None  # inference precision hint: f32, bf16, f16; None: the device's choice


def physical_devices(device: str) -> list[str]:
    """The real devices named by a device string such as GPU.1, AUTO:GPU,CPU or HETERO:GPU,CPU."""
    head, _, rest = device.partition(":")
    if head.upper() in VIRTUAL_DEVICES:
        return [d.strip() for d in rest.split(",") if d.strip()]
    return [device]


def check_device(device: str) -> None:
    available = core().available_devices
    for name in physical_devices(device):
        if name not in available and name.split(".")[0] not in {a.split(".")[0] for a in available}:
            raise DemoError(f"device '{name}' is not available here",
                            f"available devices: {', '.join(available)} (or AUTO)")


def read_model(path: Path | RemoteModelRef) -> ov.Model:
    """A model file, or the stand-in of a model on a server (`remote.py`)."""
    if not isinstance(path, Path):
        from ..models.remote import read_remote  # tritonclient loads only when a model URL is used

        return read_remote(path)
    try:
        return core().read_model(str(path))
    except Exception as e:
        raise DemoError(f"cannot read model '{path}'", first_error_line(e)) from None


def input_layout(model: ov.Model, spec: ModelSpec | None) -> str:
    """NCHW or NHWC: from the spec when it says, else from where the 3 colour channels sit."""
    if spec and spec.layout:
        return spec.layout
    shape = model.input(0).get_partial_shape()
    if shape.rank.is_static and shape.rank.get_length() == 4:
        last, second = shape[3], shape[1]
        if last.is_static and last.get_length() in (1, 3) and not (second.is_static and second.get_length() in (1, 3)):
            return "NHWC"
    return "NCHW"


def model_input_size(model: ov.Model, layout: str) -> tuple[int, int] | None:
    """(width, height) the model was trained at, or None when its spatial dimensions are dynamic."""
    shape = model.input(0).get_partial_shape()
    h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    return (w.get_length(), h.get_length()) if h.is_static and w.is_static else None


def embed_preprocessing(model: ov.Model, spec: ModelSpec | None, frame_size: tuple[int, int] | None,
                        crop: tuple[int, int, int, int] | None = None) -> ov.Model:
    """Make the model take a u8 BGR NHWC frame as it comes from OpenCV: resize, layout, colour
    order and mean/scale run inside OpenVINO's threads. `frame_size` (w, h) fixes the input shape
    when all frames share it; None keeps it dynamic (e.g. a folder of images of different sizes).
    `crop` (x1, y1, x2, y2 in frame pixels, needs `frame_size`) keeps only that region of the frame,
    before the resize: e.g. the centre crop that models trained on centre crops expect."""
    if len(model.inputs) != 1:
        names = ", ".join(i.get_any_name() for i in model.inputs)
        raise DemoError(f"model has {len(model.inputs)} inputs ({names})",
                        "this demo needs a model with one image input")
    layout = input_layout(model, spec)
    shape = model.input(0).get_partial_shape()
    if shape.rank.is_dynamic or shape.rank.get_length() != 4:
        raise DemoError(f"model input has shape {shape}", "expected an image input of rank 4 (NCHW or NHWC)")
    if shape[0].is_dynamic:  # one frame per request
        fixed = list(shape)
        fixed[0] = ov.Dimension(1)
        model.reshape({model.input(0): ov.PartialShape(fixed)})
    tensor_shape = [1, frame_size[1], frame_size[0], 3] if frame_size else [1, -1, -1, 3]
    return add_preprocessing(model, spec, 0, layout, tensor_shape, crop=crop if frame_size else None,
                             resize=model_input_size(model, layout) is not None)


def add_preprocessing(model: ov.Model, spec: ModelSpec | None, index: int, layout: str, tensor_shape: list[int],
                      crop: tuple[int, int, int, int] | None = None, resize: bool = False) -> ov.Model:
    """The one PrePostProcessor builder: input `index` of `model` takes u8 BGR NHWC images of `tensor_shape`;
    OpenVINO crops (x1, y1, x2, y2), converts to the model's type, layout and colour order (grey for
    one-channel models), resizes to the model's size (first padded to its aspect ratio when the spec asks for a
    letterbox) and applies the spec's mean and scale."""
    port = model.input(index)
    shape = port.get_partial_shape()
    ppp = PrePostProcessor(model)
    inp = ppp.input(index)
    inp.tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC")).set_color_format(
        ColorFormat.BGR).set_shape(ov.PartialShape(tensor_shape))
    inp.model().set_layout(ov.Layout(layout))
    steps = inp.preprocess()
    if crop is not None:
        x1, y1, x2, y2 = crop
        steps.crop([0, y1, x1, 0], [tensor_shape[0] if tensor_shape[0] > 0 else 1, y2, x2, 3])
    if resize and resize_by_taps(port, spec, layout, tensor_shape, crop, steps):
        return ppp.build()
    if port.get_element_type() != ov.Type.u8:
        steps.convert_element_type(ov.Type.f32)
    channels = shape[1] if layout == "NCHW" else shape[3]
    if channels.is_static and channels.get_length() == 1:
        steps.convert_color(ColorFormat.GRAY)  # grey models (e.g. text recognizers) still take BGR images
    elif spec and spec.color.upper() == "RGB":
        steps.convert_color(ColorFormat.RGB)
    if resize:
        h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
        if spec and spec.resize == LETTERBOX:
            steps.custom(pad_to_aspect((w.get_length(), h.get_length())))
        elif spec and spec.resize == CENTRED:
            steps.custom(letterbox_centred((w.get_length(), h.get_length())))
        steps.resize(ResizeAlgorithm.RESIZE_LINEAR)
    if spec and spec.mean:
        steps.mean(list(spec.mean))
    if spec and spec.scale:
        steps.scale(list(spec.scale))
    return ppp.build()


def resize_by_taps(port: ov.Input, spec: ModelSpec | None, layout: str, tensor_shape: list[int],
                   crop: tuple[int, int, int, int] | None, steps) -> bool:
    """The rest of `add_preprocessing`'s steps with the frame resized from its u8 pixels (resize.py), when a
    frame of known size is resized into the model's input; False (nothing added) where OpenVINO's own steps are
    used: frames of any size, a u8 or grey model, Ultralytics' centred letterbox, a frame of the input's own
    size (converted, not resized)."""
    shape = port.get_partial_shape()
    h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    size = (w.get_length(), h.get_length())
    channels = shape[1] if layout == "NCHW" else shape[3]
    if (tensor_shape[1] < 0 or tensor_shape[2] < 0 or port.get_element_type() == ov.Type.u8
            or not channels.is_static or channels.get_length() != 3 or (spec and spec.resize == CENTRED)):
        return False
    frame = (crop[2] - crop[0], crop[3] - crop[1]) if crop else (tensor_shape[2], tensor_shape[1])
    if spec and spec.resize == LETTERBOX:
        frame = padded_size(frame, size)
    if not taps_pay_off(frame, size):
        return False
    if spec and spec.resize == LETTERBOX:
        steps.custom(pad_to_aspect(size))  # black: exact in u8
    rgb = bool(spec and spec.color.upper() == "RGB")
    # the colour order and the layout change on u8 pixels, those of the rows or of the frame, whichever are
    # fewer; the blend then runs in the model's own layout, fused with its first element-wise operations
    if rows_first(frame, size):
        steps.custom(gather_rows(frame, size))
        if rgb:
            steps.convert_color(ColorFormat.RGB)
        steps.convert_layout(ov.Layout(layout))
    else:
        if rgb:
            steps.convert_color(ColorFormat.RGB)
        steps.convert_layout(ov.Layout(layout))
        steps.custom(gather_rows(frame, size, layout))
    steps.custom(gather_columns(frame, size, layout))
    mean, scale = (spec.mean or (), spec.scale or ()) if spec else ((), ())
    steps.custom(blend_taps(frame, size, layout, mean, scale))  # the spec's mean and scale inside the blend
    return True


def compile_model(model: ov.Model, config: InferenceConfig) -> ov.CompiledModel | RemoteCompiled:
    """The model compiled for the configured device; a server model's stand-in compiles to its local parts
    around the server's (the device settings do not reach a server)."""
    if model.has_rt_info(REMOTE_RT_INFO):
        from ..models.remote import RemoteCompiled

        return RemoteCompiled(model)
    check_device(config.device)
    device_props: dict = {}
    if config.nstreams:
        device_props[streams.num] = (streams.Num.AUTO if config.nstreams.upper() == "AUTO"
                                     else int(config.nstreams))
    if config.nthreads:
        device_props[props.inference_num_threads] = config.nthreads
    settings: dict = {}
    if config.hint:
        settings[hints.performance_mode] = {
            "throughput": hints.PerformanceMode.THROUGHPUT, "latency": hints.PerformanceMode.LATENCY,
        }[config.hint]
    if config.cache_dir:
        settings[props.cache_dir] = config.cache_dir
    if config.precision:
        settings[hints.inference_precision] = PRECISION_TYPES[config.precision]
    cpu_props = pinning(config.nthreads)  # the CPU plugin's own
    if device_props or cpu_props:
        per_device = {name: {**device_props, **(cpu_props if name.upper() == "CPU" else {})}
                      for name in (t.split(".")[0] for t in physical_devices(config.device))}
        if config.device.split(":")[0].upper() in VIRTUAL_DEVICES:
            settings[props.device.properties] = {name: p for name, p in per_device.items() if p}
        else:
            settings.update(per_device[config.device.split(".")[0]])
    try:
        return core().compile_model(model, config.device, settings)
    except Exception as e:
        raise DemoError(f"cannot compile the model for {config.device}", first_error_line(e)) from None


def execution_devices(compiled: ov.CompiledModel | RemoteCompiled) -> str:
    if not isinstance(compiled, ov.CompiledModel):
        return compiled.where()
    try:
        return ",".join(compiled.get_property(props.execution_devices))
    except Exception:
        return "?"


def port_shape(port) -> list[int | None]:
    """A port's dimensions, None where dynamic; [] when even the rank is dynamic."""
    ps = port.get_partial_shape()
    return [d.get_length() if d.is_static else None for d in ps] if ps.rank.is_static else []


def static_shape(port) -> list[int] | None:
    """A port's dimensions when every one is known, else None."""
    ps = port.get_partial_shape()
    return [d.get_length() for d in ps] if ps.is_static else None


def port_names(port) -> set[str]:
    """A port's tensor names without TensorFlow's ':0' suffixes."""
    return {n.split(":")[0] for n in port.get_names()}


def port_key(port) -> str:
    """One stable name of a port, to find its array in ModelOutputs."""
    return sorted(port.get_names())[0]


def find_port(ports, names=(), shape_test=None):
    """A port by one of `names` (tried in order), else the first whose shape passes `shape_test`, else None.
    Outputs are found by name or shape, never by index: their order differs between releases of a model."""
    for name in names:
        for port in ports:
            if name in port_names(port):
                return port
    if shape_test:
        for port in ports:
            if shape_test(port_shape(port)):
                return port
    return None


def describe_ports(ports) -> str:
    return "; ".join(f"{p.get_any_name() if p.get_names() else '?'} {p.get_partial_shape()}" for p in ports)


def optimal_requests(compiled: ov.CompiledModel) -> int:
    try:
        return max(1, int(compiled.get_property(props.optimal_number_of_infer_requests)))
    except Exception:
        return 1


def queued_requests(compiled: ov.CompiledModel) -> int:
    """A pool's requests when not given (--nireq for the main model; second stages always). Under the
    throughput hint, twice the device's optimal number: one request running on each stream and one queued
    behind it, so a stream starts its next frame the moment it finishes one, instead of idling until the
    pipeline's thread (competing for the same cores) has taken the answer and submitted again. Measured on
    person-detection-0202 (2 streams): 21.4 FPS with 2 requests, 23.7 with 4, against 23.6 raw; text with
    PP-OCRv5's recognizer as a stage (16 words a frame): 3.0 FPS with 2 recognizer requests, 3.6-3.9 with 4.
    The latency hint keeps one request in flight per stream."""
    optimal = optimal_requests(compiled)
    try:
        throughput = str(compiled.get_property(hints.performance_mode)).upper().endswith("THROUGHPUT")
    except Exception:
        throughput = False
    return 2 * optimal if throughput else optimal


WAIT_ALL_S = 10.0  # at the end of a run, the bound on waiting for a request in flight (a CPU request takes ms)


class RequestPool:
    """A fixed set of infer requests of one compiled model.

    `start` never blocks: it returns False when every request is busy, and the caller tries again once one
    finishes (OpenVINO's AsyncInferQueue waits for an idle request while holding the GIL, which stalls every
    other thread of the process). Requests are waited for, in the order they started, on a thread of the
    pool's own, not by a Python callback on OpenVINO's thread: such a callback must take the GIL before the
    stream can go on, so whenever another thread held it (and two busy cores had preempted that thread), the
    device stream stood still. `InferRequest.wait` releases the GIL. A finished request's outputs are copied
    out and handed to `on_done(userdata, outputs, infer_ms, error)` on that thread after the request is idle
    again; a failed one hands its error."""

    IDLE_EXIT_S = 2.0  # the waiting thread ends after this long without requests (a new start brings it back)

    def __init__(self, compiled: ov.CompiledModel, size: int, on_done):
        self.size = size or queued_requests(compiled)
        self._ports = ModelOutputs.ports(compiled)
        self._on_done = on_done
        self._lock = threading.Condition()
        self._requests = [compiled.create_infer_request() for _ in range(self.size)]
        self._idle = list(range(self.size))
        self._busy: set[int] = set()
        # (request, start time, userdata, inputs), oldest first: the inputs are the request's own memory (shared,
        # not copied) until it has finished
        self._started: deque[tuple[int, float, object, dict]] = deque()
        self._waiter: threading.Thread | None = None
        self.cpu_s = 0.0  # the waiting threads' CPU time: copying outputs out, handing them on

    def _wait_in_order(self) -> None:
        mark = time.thread_time()
        while True:
            with self._lock:
                if not self._started:
                    self._lock.wait(self.IDLE_EXIT_S)
                if not self._started:
                    self._waiter = None  # under the lock: the next start sees it gone and starts another
                    return
                index, started, user, _ = self._started[0]
            request = self._requests[index]
            try:
                request.wait()
                outputs, error = ModelOutputs.of(request, self._ports), None
            except BaseException as e:  # the request failed: its error goes to the caller
                outputs, error = None, e
            with self._lock:
                self._started.popleft()
                self._busy.discard(index)
                self._idle.append(index)
                self._lock.notify_all()  # (wait_all waits for this thread to be out of OpenVINO's wait)
            self._on_done(user, outputs, (time.perf_counter() - started) * 1000.0, error)
            now = time.thread_time()
            self.cpu_s, mark = self.cpu_s + now - mark, now

    @property
    def busy(self) -> int:
        return len(self._busy)

    def start(self, inputs: dict, userdata) -> bool:
        with self._lock:
            if not self._idle:
                return False
            index = self._idle.pop()
            self._busy.add(index)
        now = time.perf_counter()
        request = self._requests[index]
        try:
            if all(isinstance(value, ov.Tensor) for value in inputs.values()):  # the main model's frame
                for key, tensor in inputs.items():  # (set directly: OpenVINO's input dispatch costs more)
                    if isinstance(key, int):
                        request.set_input_tensor(key, tensor)
                    else:
                        request.set_tensor(key, tensor)
                request.start_async()
            else:
                request.start_async(inputs, share_inputs=True)
        except BaseException:
            with self._lock:
                self._busy.discard(index)
                self._idle.append(index)
            raise
        with self._lock:
            self._started.append((index, now, userdata, inputs))
            if self._waiter is None:
                self._waiter = threading.Thread(target=self._wait_in_order, name="ovdemo-requests", daemon=True)
                self._waiter.start()
            self._lock.notify()
        return True

    def wait_all(self, seconds: float = WAIT_ALL_S) -> None:
        """Wait for the requests in flight and for the waiting thread to have taken their answers: a thread
        still inside OpenVINO's `wait` when the interpreter finalises aborts the process (std::terminate)."""
        for request in self._requests:
            with suppress(Exception):
                request.wait_for(int(seconds * 1000))
        with self._lock:
            self._lock.wait_for(lambda: not self._started, seconds)


def server_batch(model: ov.Model) -> int:
    """The largest batch a server model's stand-in takes in one request (1: the server does not batch)."""
    from ..models.remote import batch_limit

    return batch_limit(model)


def server_timings(compiled: list) -> list[dict]:
    """The summary's rows for the server models among these compiled models: round trip against server time."""
    return [c.timings() for c in compiled if c is not None and not isinstance(c, ov.CompiledModel)]


def cancel_remote(compiled: list) -> None:
    """An interrupted run's server calls cancelled: it ends within moments whatever --remote-timeout is."""
    for c in compiled:
        if c is not None and not isinstance(c, ov.CompiledModel):
            c.cancel()


def one_request(compiled: ov.CompiledModel | RemoteCompiled):
    """A blocking `infer(inputs) -> ModelOutputs` of a compiled model, for one caller (the Python API's images)."""
    if not isinstance(compiled, ov.CompiledModel):
        return compiled.infer
    request, ports = compiled.create_infer_request(), ModelOutputs.ports(compiled)

    def infer(inputs) -> ModelOutputs:
        request.infer(inputs)
        return ModelOutputs.of(request, ports)
    return infer


def request_pool(compiled: ov.CompiledModel | RemoteCompiled, size: int, on_done):
    """Requests of a compiled model: OpenVINO's, or a server's (same contract)."""
    if isinstance(compiled, ov.CompiledModel):
        return RequestPool(compiled, size, on_done)
    return compiled.pool(size, on_done)


class InferQueue:
    """The main model's requests, with each result kept under the sequence number it was submitted with so
    the pipeline can hand results on in input order. Completion wakes `wakeup`."""

    def __init__(self, compiled: ov.CompiledModel | RemoteCompiled, nireq: int, wakeup: threading.Condition):
        self._pool = request_pool(compiled, nireq, self._on_done)
        self.size = self._pool.size
        self._wakeup = wakeup
        self._done: dict[int, tuple[ModelOutputs, float]] = {}
        self.in_flight = 0
        self.error: BaseException | None = None
        self.failed_seq = -1  # the frame whose request failed: the frames before it still go out

    def can_submit(self) -> bool:
        return self.in_flight < self.size and self.error is None

    def submit(self, seq: int, image: np.ndarray) -> None:
        """Start inference on one frame (u8 HxWx3) without holding `wakeup`. The caller counted it in
        `in_flight` under `wakeup` and keeps `image` alive until the result is popped (no copy is made)."""
        tensor = ov.Tensor(np.ascontiguousarray(image)[np.newaxis], shared_memory=True)
        if not self._pool.start({0: tensor}, seq):
            raise RuntimeError("no idle infer request for a frame counted as in flight")

    def _on_done(self, seq: int, outputs: ModelOutputs | None, infer_ms: float, error) -> None:
        with self._wakeup:
            if outputs is not None:
                self._done[seq] = (outputs, infer_ms)
            elif self.error is None or seq < self.failed_seq:  # the earliest failed frame: those before go out
                self.error, self.failed_seq = error, seq
            self.in_flight -= 1
            self._wakeup.notify_all()

    def ready(self, seq: int) -> bool:
        return seq in self._done

    @property
    def cpu_s(self) -> float:
        return getattr(self._pool, "cpu_s", 0.0)  # (a server's pool does not count it)

    def pop(self, seq: int) -> tuple[ModelOutputs, float]:
        return self._done.pop(seq)

    def wait_all(self) -> None:
        self._pool.wait_all()
