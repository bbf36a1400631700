"""Text recognizers: read the words a detector found, all words of a frame in one batch.

  ctc            CRNN-style models with a per-time-step class distribution, greedy CTC decoding
                 (text-recognition-0012/0014, PaddleOCR PP-OCR rec): crops rotated to horizontal with a
                 perspective warp, resized to the model's height (keeping aspect for dynamic-width models,
                 padded by width to the widest crop of the batch)
  decoded        models that decode inside the graph (license-plate-recognition-barrier-0001): class ids, -1 ends
  text-spotting  text-spotting-0005's encoder + autoregressive decoder, run step by step on the detector's
                 text features until every word has produced its end-of-sequence symbol

Word confidence: CTC models give the mean, over the characters kept, of each time step's highest
probability; the text-spotting decoder gives the product of its per-step probabilities (as Open Model Zoo).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import openvino as ov

from ovdemo.common.engine.inference import (
    InferenceConfig,
    ModelOutputs,
    compile_model,
    describe_ports,
    first_error_line,
    port_key,
    read_model,
)
from ovdemo.common.engine.second_stage import Reader, SecondModel
from ovdemo.common.engine.stages import Batch
from ovdemo.common.errors import DemoError
from ovdemo.common.models.attributes import fold_sequence_input
from ovdemo.common.models.resolve import ResolvedModel
from ovdemo.common.models.specs import read_user_text
from ovdemo.common.results import Detections
from ovdemo.common.scores import as_probabilities

PAD_VALUE = 128  # grey: zero once a [-1, 1] normalisation has run, as PaddleOCR pads its batches
MAX_WIDTH_RATIO = 40  # longest crop (width / height) a dynamic-width recognizer gets


def read_alphabet(path: str | Path) -> list[str]:
    """One symbol per line, kept exactly (a line holding a single space is the space symbol)."""
    text = read_user_text(path, "alphabet")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def ctc_symbols(alphabet: list[str], classes: int, blank: str = "first") -> tuple[list[str], int]:
    """The symbol of every output class and the blank's index, from an alphabet that may or may not
    list the blank and PaddleOCR's trailing space: N classes, N-1 symbols (blank added), or N-2 symbols
    (blank and space added, PaddleOCR's use_space_char)."""
    symbols = list(alphabet)
    missing = classes - len(symbols)
    if missing == 2:
        symbols = symbols + [" "]
        missing = 1
    if missing == 1:
        symbols = (symbols + [""]) if blank == "last" else ([""] + symbols)
    elif missing != 0:
        raise DemoError(f"the alphabet has {len(alphabet)} symbols but the recognizer has {classes} classes",
                        "pass the model's own character list with --alphabet FILE")
    index = classes - 1 if blank == "last" else 0
    symbols[index] = ""
    return symbols, index


def ctc_greedy(probs: np.ndarray, symbols: list[str], blank: int) -> tuple[list[str], np.ndarray]:
    """Best class per time step, repeats merged, blanks dropped. probs: (N, T, C) probabilities."""
    best = probs.argmax(axis=2)
    best_p = probs.max(axis=2)
    texts, confidences = [], np.zeros(len(probs), np.float32)
    for i, (ids, ps) in enumerate(zip(best, best_p, strict=True)):
        keep = ids != blank
        keep[1:] &= ids[1:] != ids[:-1]
        texts.append("".join(symbols[c] for c in ids[keep]))
        confidences[i] = float(ps[keep].mean()) if keep.any() else 0.0
    return texts, confidences


def warp_word(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The word under `quad` rotated to horizontal: a perspective warp to its own width and height;
    taller-than-wide results (vertical text) are turned a quarter so they read left to right."""
    quad = quad.astype(np.float32)
    w = max(int(round(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[3] - quad[2])))), 1)
    h = max(int(round(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))), 1)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    crop = cv2.warpPerspective(image, cv2.getPerspectiveTransform(quad, target), (w, h),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    if h >= 1.5 * w:
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop)


class Recognizer(Reader):
    """Reads the words a detector found (their `data["quad"]`), as a second model the pipeline runs on every
    frame's words: `crops` cuts them, `read` decodes a batch's outputs into texts and confidences."""

    role = "recognize"

    def read(self, outputs: ModelOutputs, count: int) -> tuple[list[str], np.ndarray]:
        raise NotImplementedError

    def apply(self, words: Detections, indices: np.ndarray, outputs: ModelOutputs) -> None:
        texts, confidences = self.read(outputs, len(indices))
        for i, text, confidence in zip(indices, texts, confidences, strict=True):
            words.data["text"][int(i)] = text
            words.data["text_confidence"][int(i)] = confidence

    def defaults(self, words: Detections) -> None:
        words.data.setdefault("text", [""] * len(words))
        words.data.setdefault("text_confidence", np.zeros(len(words), np.float32))


@dataclass(frozen=True)
class CtcOutput:
    """Where a CTC recognizer's scores are and how they are laid out."""

    key: str
    classes: int
    time_major: bool  # [T, N, C] rather than [N, T, C]
    height: int | None  # the fixed input height of a dynamic-width model


def ctc_output(model: ov.Model, name: str) -> CtcOutput:
    outputs = [p for p in model.outputs if p.get_partial_shape().rank.get_length() == 3]
    if len(outputs) != 1 or outputs[0].get_partial_shape()[2].is_dynamic:
        raise DemoError(f"the outputs of {name} do not fit a CTC recognizer",
                        f"expected one [N,T,classes] or [T,N,classes] output; it has {describe_ports(model.outputs)}")
    shape = outputs[0].get_partial_shape()
    # [T,1,C] with a fixed T > 1 is time-major (Open Model Zoo's TensorFlow CRNNs); else batch first
    time_major = shape[0].is_static and shape[0].get_length() > 1 and shape[1].is_static and \
        shape[1].get_length() == 1
    dims = [d for d in list(model.input(0).get_partial_shape())[1:] if d.is_static and d.get_length() not in (1, 3)]
    return CtcOutput(port_key(outputs[0]), shape[2].get_length(), time_major,
                     dims[0].get_length() if dims else None)


def crop_recognizer(resolved: ResolvedModel, config: InferenceConfig, alphabet: list[str] | None,
                    max_batch: int = 32) -> SecondModel:
    """The recognizer of word crops a model is: CTC or decoded, as its spec says, else as its outputs say
    (a [N,T,classes] output: CTC). The model is read once, here, and compiled around its reader."""
    kind = resolved.spec.decoder
    if kind not in (None, "ctc", "decoded"):
        raise DemoError(f"{resolved.name} is not a crop recognizer ({kind})",
                        "pass a CTC recognizer such as text-recognition-0012 or a PaddleOCR rec model")
    model = read_model(resolved.source)
    kind = kind or ("ctc" if any(p.get_partial_shape().rank.get_length() == 3 for p in model.outputs)
                    else "decoded")
    reader = CtcRecognizer(resolved, alphabet, max_batch) if kind == "ctc" else DecodedRecognizer(resolved, alphabet,
                                                                                                max_batch)
    return SecondModel(reader, config, ov_model=model)


class CtcRecognizer(Recognizer):
    """A crop-reading model with output [N,T,C] (or time-major [T,N,C]) and greedy CTC decoding."""

    any_size = True  # height 48-style models of any width: crops keep their aspect

    def __init__(self, resolved: ResolvedModel, alphabet: list[str] | None, max_batch: int = 32):
        super().__init__(resolved)
        self.alphabet, self.max_batch = alphabet, max(max_batch, 1)

    def bind(self, model: ov.Model) -> None:
        self.output = ctc_output(model, self.model.name)
        alphabet = self.alphabet if self.alphabet is not None else default_alphabet(self.model)
        self.symbols, self.blank = ctc_symbols(alphabet, self.output.classes, self.params.get("blank", "first"))

    def compiled(self) -> None:
        self.batch = max(1, min(self.max_batch, self.stage.max_batch))
        self.size = self.stage.input_size  # (w, h) fixed, or None: height 48-style with dynamic width
        if self.size is None:
            if self.output.height is None:
                raise DemoError(f"{self.model.name} has neither a fixed input height nor width",
                                "expected an input such as [N,3,48,W]")
            self.height = self.output.height

    def word_crops(self, image: np.ndarray, quads: np.ndarray) -> list[np.ndarray]:
        words = [warp_word(image, q) for q in quads]
        if self.size is not None:
            return [cv2.resize(w, self.size, interpolation=cv2.INTER_LINEAR) for w in words]
        out = []
        for word in words:
            h, w = word.shape[:2]
            width = int(np.clip(np.ceil(self.height * w / h), 1, self.height * MAX_WIDTH_RATIO))
            out.append(cv2.resize(word, (width, self.height), interpolation=cv2.INTER_LINEAR))
        return out

    def crops(self, image: np.ndarray, words: Detections, indices: np.ndarray) -> list[tuple[np.ndarray, Batch]]:
        """The words' crops grouped into batches of at most `self.batch` (see `grouped`)."""
        groups = self.grouped(self.word_crops(image, words.data["quad"][indices]))
        return [(indices[np.asarray(group)], batch) for group, batch in groups]
    def grouped(self, crops: list[np.ndarray]) -> list[tuple[list[int], np.ndarray]]:
        """Fixed-size models: batches in order. Dynamic-width models: one batch per width, in steps of 32 (every
        crop padded on the right to its width's step, as it would be alone): a batch padded to its widest crop
        reads differently and, on a CPU, costs more than the crops one by one (PP-OCRv5's recognizer: 3.1 FPS
        for 16 words a frame one by one, 2.0 padded to the widest)."""
        def step(i: int) -> int:  # widths in steps of 32: fewer distinct shapes for the dynamic-shape kernels
            return -(-crops[i].shape[1] // 32) * 32 if self.size is None else 0

        order = sorted(range(len(crops)), key=step)
        groups: list[list[int]] = []
        for i in order:
            if groups and len(groups[-1]) < self.batch and step(groups[-1][0]) == step(i):
                groups[-1].append(i)
            else:
                groups.append([i])
        out = []
        for group in groups:
            width = step(group[0]) or max(crops[i].shape[1] for i in group)
            batch = np.full((len(group), crops[group[0]].shape[0], width, 3), PAD_VALUE, np.uint8)
            for slot, i in enumerate(group):
                batch[slot, :, :crops[i].shape[1]] = crops[i]
            out.append((group, batch))
        return out

    def read(self, outputs: ModelOutputs, count: int) -> tuple[list[str], np.ndarray]:
        scores = outputs.array(self.output.key)
        if self.output.time_major:
            # one request (T, n, C), or one request per crop concatenated: (n*T, 1, C)
            scores = scores.transpose(1, 0, 2) if scores.shape[1] == count else \
                scores.reshape(count, -1, scores.shape[2])
        return ctc_greedy(as_probabilities(scores), self.symbols, self.blank)


class DecodedRecognizer(Recognizer):
    """Models whose graph already decodes (license-plate-recognition-barrier-0001: a CTC greedy decoder
    inside, fed a constant sequence-indicator input): output class ids, -1 ending the sequence."""

    any_size = True  # refused in `compiled`, in words of its own

    def __init__(self, resolved: ResolvedModel, alphabet: list[str] | None, max_batch: int = 32):
        super().__init__(resolved)
        self.alphabet, self.max_batch = alphabet, max(max_batch, 1)

    def bind(self, model: ov.Model) -> None:
        fold_sequence_input(model)  # the stage has one input
        self.output = port_key(model.output(0))
        self.symbols = self.alphabet or default_alphabet(self.model)

    def compiled(self) -> None:
        self.size = self.stage.input_size
        if self.size is None:
            raise DemoError(f"{self.model.name} takes crops of any size",
                            "a recognizer that decodes in its graph needs a fixed input height and width")

    def crops(self, image: np.ndarray, words: Detections, indices: np.ndarray) -> np.ndarray:
        quads = words.data["quad"][indices]
        return np.stack([cv2.resize(warp_word(image, q), self.size) for q in quads])
    def read(self, outputs: ModelOutputs, count: int) -> tuple[list[str], np.ndarray]:
        ids = outputs.array(self.output).reshape(count, -1).astype(np.int64)
        texts = []
        for row in ids:
            end = np.nonzero(row < 0)[0]
            row = row[:end[0]] if len(end) else row
            texts.append("".join(self.symbols[c] if 0 <= c < len(self.symbols) else "?" for c in row))
        # the graph gives no probabilities: a read is reported with confidence 1
        return texts, np.array([1.0 if t else 0.0 for t in texts], np.float32)


class SpottingRecognizer(Recognizer):
    """text-spotting-0005's recognizer head: the encoder over every word's text features at once, then the
    GRU decoder one symbol per step for all words together, each stopping at its end-of-sequence."""

    image = False  # the encoder takes the text features the detector left on each word
    expects = "one output of encoded features, e.g. 'output'"
    DECODER_INPUTS = ("prev_symbol", "prev_hidden", "encoder_outputs")
    DECODER_OUTPUTS = ("output", "hidden")

    def __init__(self, encoder: ResolvedModel, decoder: ResolvedModel, config: InferenceConfig,
                 alphabet: list[str] | None):
        super().__init__(encoder)
        params = decoder.spec.params if decoder.spec else {}
        self.alphabet = alphabet or default_alphabet(decoder)
        self.sos, self.eos = int(params.get("sos", 0)), int(params.get("eos", 1))
        self.max_length = int(params.get("max_length", 28))
        model = read_model(decoder.source)  # (not `.path`: None for a model on a server)
        names = {n for p in model.inputs for n in p.get_names()}
        out_names = {n for p in model.outputs for n in p.get_names()}
        if not set(self.DECODER_INPUTS) <= names or not set(self.DECODER_OUTPUTS) <= out_names:
            raise DemoError(f"{decoder.name} does not look like a text-spotting decoder",
                            f"expected inputs {', '.join(self.DECODER_INPUTS)} and outputs "
                            f"{', '.join(self.DECODER_OUTPUTS)}; it has {describe_ports(model.inputs)} -> "
                            f"{describe_ports(model.outputs)}")
        self.batched = self._batch_words(model)
        compiled = compile_model(model, config)
        from ovdemo.common.models.remote import RemoteCompiled  # (loaded already when a server is in use)

        if isinstance(compiled, RemoteCompiled):
            raise DemoError(f"{decoder.name} is a model server's: the text-spotting decoder runs here one step at a "
                            "time", "give it as a file (or by its Open Model Zoo name)")
        self.decoder = compiled.create_infer_request()
        hidden = model.input("prev_hidden").get_partial_shape()
        self.hidden_shape = [d.get_length() if d.is_static else 1 for d in hidden]
        self.symbol_rank = model.input("prev_symbol").get_partial_shape().rank.get_length()

    @staticmethod
    def _batch_words(model: ov.Model) -> bool:
        """Let one decoder step serve every word of the frame: batch on axis 0, hidden state on axis 1."""
        shapes = {}
        for port in model.inputs:
            dims = list(port.get_partial_shape())
            axis = 1 if "prev_hidden" in port.get_names() else 0
            dims[axis] = ov.Dimension(-1)
            shapes[port] = ov.PartialShape(dims)
        try:
            model.reshape(shapes)
            return True
        except Exception:
            return False

    def bind(self, model: ov.Model) -> None:
        port = self.find(model, ("output",), only=True)
        if port is None:
            raise self.mismatch(model)
        self.output = port_key(port)

    def crops(self, image: np.ndarray, words: Detections, indices: np.ndarray) -> dict[str, np.ndarray]:
        return {self.stage.input_names[0]: words.data["features"][indices]}

    def read(self, outputs: ModelOutputs, count: int) -> tuple[list[str], np.ndarray]:
        """The encoder's outputs, then the decoder step by step. Each step needs the one before, so the steps
        run here, one synchronous request each, while other frames' requests go on."""
        encoded = outputs.array(self.output)
        encoded = encoded.reshape(count, encoded.shape[1], -1).transpose(0, 2, 1)  # (n, H*W, C)
        if self.batched:
            return self._decode(encoded)
        results = [self._decode(encoded[i:i + 1]) for i in range(count)]
        return [r[0][0] for r in results], np.concatenate([r[1] for r in results])

    def _decode(self, encoded: np.ndarray) -> tuple[list[str], np.ndarray]:
        n = len(encoded)
        hidden_shape = list(self.hidden_shape)
        hidden_shape[1] = n
        hidden = np.zeros(hidden_shape, np.float32)
        symbol = np.full(n, self.sos, np.float32)
        texts = [""] * n
        confidence = np.ones(n, np.float32)
        running = np.ones(n, bool)
        for _ in range(self.max_length):
            try:
                self.decoder.infer({"prev_symbol": symbol.reshape((n,) + (1,) * (self.symbol_rank - 1)),
                                    "prev_hidden": hidden, "encoder_outputs": encoded})
            except Exception as e:
                raise DemoError("text-spotting decoder failed", first_error_line(e)) from e
            probs = as_probabilities(self.decoder.get_tensor("output").data.reshape(n, -1), axis=1)
            best = probs.argmax(axis=1)
            confidence[running] *= probs[running, best[running]]
            running &= best != self.eos
            if not running.any():
                break
            for i in np.nonzero(running)[0]:
                texts[i] += self.alphabet[best[i]] if best[i] < len(self.alphabet) else "?"
            symbol = best.astype(np.float32)
            hidden = self.decoder.get_tensor("hidden").data.copy()
        return texts, confidence


def default_alphabet(resolved: ResolvedModel) -> list[str]:
    """The spec's alphabet (a string, one symbol per character), or its alphabet file next to the model."""
    params = resolved.spec.params if resolved.spec else {}
    if "alphabet" in params:
        return list(params["alphabet"])
    if "alphabet_file" in params:
        for folder in () if resolved.path is None else (resolved.path.parent, *resolved.path.parents):
            candidate = folder / params["alphabet_file"]
            if candidate.is_file():
                return read_alphabet(candidate)
        raise DemoError(f"{resolved.name} needs its character list {params['alphabet_file']}",
                        "pass it with --alphabet FILE")
    raise DemoError(f"no alphabet known for {resolved.name}", "pass the model's character list with --alphabet FILE")
