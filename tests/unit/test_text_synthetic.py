"""`ovdemo text` decoders on synthetic models with the real models' input/output names and shapes
(Open Model Zoo docs): text-detection-0004 (PixelLink), text-recognition-0012 (CTC, time-major) and the
text-spotting-0005 composite (detector, encoder, decoder run step by step until end-of-sequence)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import openvino.opset13 as ops
import pytest
from helpers import iou, one_line_error, run_ovdemo
from synthetic import unfit_model
from test_text_scenes import read_records

from ovdemo.demos.text.stages import ctc_greedy, ctc_symbols, read_alphabet

OMZ_ALPHANUMERIC = "0123456789abcdefghijklmnopqrstuvwxyz"
SPOTTING_ALPHABET = "  abcdefghijklmnopqrstuvwxyz0123456789"
CONFIDENT = 10.0  # logit of the chosen class; every other class 0
P_CHOSEN_37 = np.exp(CONFIDENT) / (np.exp(CONFIDENT) + 36)


def _named(node, name: str):
    node.output(0).get_tensor().set_names({name})
    return node


def _const(array) -> ov.Node:
    return ops.constant(np.asarray(array, np.float32))


def _zero_from(param) -> ov.Node:
    """0 * mean(input): keeps the input in the graph without changing constant outputs."""
    rank = len(param.get_partial_shape())
    mean = ops.reduce_mean(param, ops.constant(np.arange(rank, dtype=np.int64)), keep_dims=False)
    return ops.multiply(mean, _const(0.0))


def _save(model: ov.Model, root: Path, name: str) -> Path:
    path = root / name / "FP16" / f"{name}.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(path))
    return path


# --- PixelLink: two words side by side (touching, but not linked) and a speck too small to be a word --------
MAP_H, MAP_W = 192, 320
WORD_A = (40, 50, 40, 100)  # map rows y1:y2, cols x1:x2
WORD_B = (40, 50, 100, 160)
SPECK = (150, 152, 200, 203)


def pixellink_maps() -> tuple[np.ndarray, np.ndarray]:
    region = np.zeros((MAP_H, MAP_W), np.int32)
    for label, (y1, y2, x1, x2) in enumerate((WORD_A, WORD_B, SPECK), 1):
        region[y1:y2, x1:x2] = label
    segm = np.where(region[..., None] > 0, [-5.0, 5.0], [5.0, -5.0]).astype(np.float32)
    link = np.zeros((MAP_H, MAP_W, 8, 2), np.float32)
    padded = np.pad(region, 1)
    neighbours = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    for k, (dy, dx) in enumerate(neighbours):
        other = padded[1 + dy:1 + dy + MAP_H, 1 + dx:1 + dx + MAP_W]
        same = (region > 0) & (other == region)
        if (dy, dx) in ((0, 1), (0, -1), (1, 0), (-1, 0)):
            same &= region != 3  # the speck's pixels are not linked: each is its own (too small) word
        link[..., k, :] = np.where(same[..., None], [-5.0, 5.0], [5.0, -5.0])
    link[region == 3] = [5.0, -5.0]
    return segm[None], link.reshape(1, MAP_H, MAP_W, 16)


def pixellink_model(root: Path) -> Path:
    data = ops.parameter([1, 768, 1280, 3], ov.Type.f32, name="Placeholder")
    zero = _zero_from(data)
    segm, link = pixellink_maps()
    outputs = [ops.result(_named(ops.add(_const(link), zero), "model/link_logits_/add")),
               ops.result(_named(ops.add(_const(segm), zero), "model/segm_logits/add"))]
    return _save(ov.Model(outputs, [data], "text-detection-0004"), root, "text-detection-0004")


# --- text-recognition-0012: reads "hello" from a bright crop, "world" from a dark one ------------------------
def ctc_logits(steps: list[str], length: int = 30) -> np.ndarray:
    """[T, 37] logits choosing, per step, a character of OMZ_ALPHANUMERIC or '#' (the blank, last)."""
    logits = np.zeros((length, 37), np.float32)
    for t in range(length):
        symbol = steps[t] if t < len(steps) else "#"
        logits[t, 36 if symbol == "#" else OMZ_ALPHANUMERIC.index(symbol)] = CONFIDENT
    return logits


def recognizer_0012(root: Path) -> Path:
    data = ops.parameter([1, 32, 120, 1], ov.Type.f32, name="Placeholder")
    brightness = ops.reduce_mean(data, ops.constant(np.array([1, 2, 3], np.int64)), keep_dims=False)  # [N]
    bright = ops.sigmoid(ops.multiply(ops.subtract(ops.divide(brightness, _const(255.0)), _const(0.5)),
                                      _const(40.0)))
    bright = ops.unsqueeze(bright, ops.constant(np.array([0, 2], np.int64)))  # [1, N, 1]
    hello = _const(ctc_logits(list("hhe#ll#loo"))[:, None, :])  # repeats merge, a blank splits the two l's
    world = _const(ctc_logits(list("w#oorrl#d"))[:, None, :])
    out = ops.add(ops.multiply(bright, hello), ops.multiply(ops.subtract(_const(1.0), bright), world))
    model = ov.Model([ops.result(_named(out, "shadow/LSTMLayers/transpose_time_major"))], [data], "tr-0012")
    return _save(model, root, "text-recognition-0012")


def pixellink_frame(path: Path) -> Path:
    """1280x768 (4x the maps): word A bright, word B dark, on grey."""
    frame = np.full((768, 1280, 3), 128, np.uint8)
    for (y1, y2, x1, x2), value in ((WORD_A, 225), (WORD_B, 30)):
        frame[y1 * 4:y2 * 4, x1 * 4:x2 * 4] = value
    cv2.imwrite(str(path), frame)
    return path


def test_pixellink_words_read_by_ctc_recognizer(tmp_path):
    pixellink_model(tmp_path / "models")
    recognizer_0012(tmp_path / "models")
    frame = pixellink_frame(tmp_path / "frame.png")
    result = run_ovdemo("text", "-m", "text-detection-0004", "--models-dir", tmp_path / "models", "--offline",
                        "-i", frame, "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "t.jsonl")
    words = sorted(record["objects"], key=lambda w: w["bbox"][0])
    assert [w["text"] for w in words] == ["hello", "world"]  # the speck is dropped, A and B stay apart
    for word, (y1, y2, x1, x2) in zip(words, (WORD_A, WORD_B), strict=True):
        assert iou(word["bbox"], [x1 * 4, y1 * 4, x2 * 4, y2 * 4]) > 0.9, word
        assert word["text_confidence"] == pytest.approx(P_CHOSEN_37, abs=1e-3)
        assert word["confidence"] == pytest.approx(1.0, abs=1e-3)  # softmax of (-5, 5)


# --- text-spotting-0005: detector, encoder, decoder ------------------------------------------------------
SPOT_BOXES = [(100, 100, 400, 180, 0.95), (600, 400, 900, 500, 0.9)]  # in the 1280x768 input
SPOT_WORDS = ["cat", "dog7"]


def spotting_models(root: Path) -> None:
    image = ops.parameter([1, 3, 768, 1280], ov.Type.f32, name="image")
    zero = _zero_from(image)
    boxes = np.zeros((100, 5), np.float32)
    boxes[:2] = SPOT_BOXES
    masks = np.zeros((100, 28, 28), np.float32)
    masks[0] = 1.0
    masks[1, 7:21] = 1.0  # the middle half of the second box's height
    features = np.zeros((100, 64, 28, 28), np.float32)
    features[0], features[1] = 1.0, 2.0  # word ids, read back by the decoder
    outs = [("labels", np.zeros(100, np.float32)), ("boxes", boxes), ("masks", masks), ("text_features.0", features)]
    detector = ov.Model([ops.result(_named(ops.add(_const(v), zero), n)) for n, v in outs], [image], "det")
    _save(detector, root, "text-spotting-0005-detector")

    feats = ops.parameter([1, 64, 28, 28], ov.Type.f32, name="input")
    encoded = ops.concat([feats] * 4, axis=1)  # [1, 256, 28, 28]
    _save(ov.Model([ops.result(_named(encoded, "output"))], [feats], "enc"), root,
          "text-spotting-0005-recognizer-encoder")

    # decoder: the next symbol depends on the word id (encoder value) and the previous symbol
    prev_symbol = ops.parameter([1], ov.Type.f32, name="prev_symbol")
    encoder_outputs = ops.parameter([1, 784, 256], ov.Type.f32, name="encoder_outputs")
    prev_hidden = ops.parameter([1, 1, 256], ov.Type.f32, name="prev_hidden")
    word = ops.gather(ops.gather(encoder_outputs, ops.constant(np.int64(0)), ops.constant(np.int64(1))),
                      ops.constant(np.int64(0)), ops.constant(np.int64(1)))  # [N]
    is_word = ops.convert(ops.equal(ops.unsqueeze(word, ops.constant(np.int64(1))), _const([[1.0, 2.0]])),
                          ov.Type.f32)  # [N, 2]
    is_prev = ops.convert(ops.equal(ops.unsqueeze(prev_symbol, ops.constant(np.int64(1))),
                                    _const(np.arange(38)[None])), ov.Type.f32)  # [N, 38]
    pair = ops.reshape(ops.multiply(ops.unsqueeze(is_word, ops.constant(np.int64(2))),
                                    ops.unsqueeze(is_prev, ops.constant(np.int64(1)))),
                       ops.constant(np.array([-1, 76], np.int64)), False)
    table = np.zeros((2, 38, 38), np.float32)
    table[:, :, 1] = CONFIDENT  # anything else: end of sequence
    for w, text in enumerate(SPOT_WORDS):
        prev = 0
        for ch in text:
            table[w, prev, 1] = 0.0
            table[w, prev, SPOTTING_ALPHABET.index(ch, 2)] = CONFIDENT
            prev = SPOTTING_ALPHABET.index(ch, 2)
    logits = ops.matmul(pair, _const(table.reshape(76, 38)), False, False)
    hidden = ops.add(prev_hidden, _const(1.0))
    decoder = ov.Model([ops.result(_named(logits, "output")), ops.result(_named(hidden, "hidden"))],
                       [prev_symbol, encoder_outputs, prev_hidden], "dec")
    _save(decoder, root, "text-spotting-0005-recognizer-decoder")


def test_text_spotting_decoder_runs_until_end_of_sequence(tmp_path):
    spotting_models(tmp_path / "models")
    frame = tmp_path / "frame.png"
    cv2.imwrite(str(frame), np.full((384, 640, 3), 90, np.uint8))  # half the input size: boxes scale by 0.5
    result = run_ovdemo("text", "-m", "text-spotting-0005", "--models-dir", tmp_path / "models", "--offline",
                        "-i", frame, "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "t.jsonl")
    words = sorted(record["objects"], key=lambda w: w["bbox"][0])
    assert [w["text"] for w in words] == SPOT_WORDS
    p = np.exp(CONFIDENT) / (np.exp(CONFIDENT) + 37)
    for word, text, (*_, score) in zip(words, SPOT_WORDS, SPOT_BOXES, strict=True):
        assert word["text_confidence"] == pytest.approx(p ** (len(text) + 1), abs=1e-3)  # each symbol and the end
        assert word["confidence"] == pytest.approx(score, abs=1e-3)  # the CPU may run in f16
    assert iou(words[0]["bbox"], [50, 50, 200, 90]) > 0.9, words[0]
    assert iou(words[1]["bbox"], [300, 212.5, 450, 237.5]) > 0.8, words[1]  # the mask's band, not the box


# --- CTC decoding and alphabets ----------------------------------------------------------------------------
def test_ctc_greedy_merges_repeats_drops_blanks_and_averages_confidence():
    symbols, blank = ctc_symbols(list("ab"), 3, "first")
    assert (symbols, blank) == (["", "a", "b"], 0)
    probs = np.array([[[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.9, 0.1, 0.0], [0.3, 0.7, 0.0], [0.4, 0.0, 0.6]]])
    texts, conf = ctc_greedy(probs, symbols, blank)
    assert texts == ["aab"] and conf[0] == pytest.approx((0.9 + 0.7 + 0.6) / 3)


def test_paddleocr_keys_with_or_without_blank_and_space(models_dir, tmp_path):
    keys = models_dir / "ppocrv5" / "onnx" / "ppocr_keys_v5.txt"
    if not keys.is_file():
        pytest.skip(f"{keys} not available")
    full = read_alphabet(keys)  # this copy already lists "blank" first and the space last
    symbols, blank = ctc_symbols(full, 18385)
    assert blank == 0 and symbols[0] == "" and symbols[-1] == " " and symbols[1] == "\u3000"
    bare = tmp_path / "keys.txt"  # PaddleOCR's own dictionary: characters only
    bare.write_text("\n".join(full[1:-1]) + "\n", encoding="utf-8")
    assert ctc_symbols(read_alphabet(bare), 18385) == (symbols, blank)


def test_model_that_fits_no_text_detector_is_one_line_error(tmp_path):
    model = unfit_model(tmp_path / "unfit.xml")
    frame = pixellink_frame(tmp_path / "frame.png")
    result = run_ovdemo("text", "-m", model, "-i", frame, "--no-show", "--offline")
    assert result.returncode != 0
    assert "do not fit the text demo" in one_line_error(result)


def test_missing_alphabet_file_fails_before_any_output(tmp_path):
    frame = pixellink_frame(tmp_path / "frame.png")
    result = run_ovdemo("text", "-i", frame, "--alphabet", tmp_path / "nope.txt", "--json", tmp_path / "t.jsonl",
                        "--no-show", "--offline")
    assert result.returncode != 0
    assert "alphabet file not found" in one_line_error(result)
    assert not (tmp_path / "t.jsonl").exists()


def test_non_ascii_words_are_drawn_with_a_truetype_font_or_a_warning_naming_font():
    from ovdemo.common.draw import Style
    from ovdemo.demos.text.draw import Captioner, fontconfig_font

    font = fontconfig_font("é")
    if font is None:
        pytest.skip("no system font covering 'é' here")
    warnings = []
    drawn = np.zeros((60, 200, 3), np.uint8)
    Captioner(warn=warnings.append).draw(drawn, "café", 5, 40, (0, 255, 0), Style())
    fallback = np.zeros((60, 200, 3), np.uint8)
    Captioner(font_path="/nonexistent.ttf", warn=warnings.append).draw(fallback, "café", 5, 40, (0, 255, 0), Style())
    assert drawn.any() and fallback.any() and not np.array_equal(drawn, fallback)
    assert len(warnings) == 1 and "--font" in warnings[0]  # only the unusable font warned, once


def test_python_api_reads_the_words_the_command_writes(tmp_path):
    from ovdemo.common.engine.pipeline import Pipeline
    from ovdemo.demos.text.family import TextFamily

    pixellink_model(tmp_path / "models")
    recognizer_0012(tmp_path / "models")
    frame = pixellink_frame(tmp_path / "frame.png")
    family = TextFamily.create(TextFamily.build_options(
        {"model": "text-detection-0004", "input": str(frame), "models_dir": str(tmp_path / "models"), "offline": True}))
    (decoded,) = list(Pipeline(family, family.opts))
    words = decoded.result.objects
    assert sorted(words.data["text"]) == ["hello", "world"]
    assert words.data["quad"].shape == (2, 4, 2) and words.names == ("text",)
    result = run_ovdemo("text", "-m", "text-detection-0004", "--models-dir", tmp_path / "models", "--offline",
                        "-i", frame, "--json", tmp_path / "t.jsonl", "--no-show")
    assert result.returncode == 0, result.stderr
    (record,) = read_records(tmp_path / "t.jsonl")
    assert decoded.result.to_dict()["objects"] == record["objects"]


def test_old_flag_spellings_still_work(tmp_path):
    pixellink_model(tmp_path / "models")
    recognizer_0012(tmp_path / "models")
    frame = pixellink_frame(tmp_path / "frame.png")
    args = ("text", "-m", "text-detection-0004", "--models-dir", tmp_path / "models", "--offline", "-i", frame,
            "--no-show")
    result = run_ovdemo(*args, "--det-size", 640, "--json", tmp_path / "t.jsonl")  # now --input-size
    assert result.returncode == 0, result.stderr
    assert "--input-size applies" in result.stderr  # this detector's input size is fixed: said, not ignored
    assert sorted(w["text"] for w in read_records(tmp_path / "t.jsonl")[0]["objects"]) == ["hello", "world"]
    result = run_ovdemo(*args, "--recognizer", "text-recognition-0014")  # now --recognizer-model
    assert "text-recognition-0014" in one_line_error(result)
