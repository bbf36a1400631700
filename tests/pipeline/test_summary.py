"""What a run says and draws, read as a user reads it (issue 26, items 4-6): summaries whose stage times fit in the
run, a still image summed up by its latency, stderr that is a file never wrapped, stages named by role; captions that
name their values within their box; `ovdemo models list` as a table of what the families run."""

from __future__ import annotations

import json
import re
import shutil

import cv2
import numpy as np
import pytest
from conftest import model_path
from helpers import read_jsonl, run_ovdemo, shared_env

import ovdemo
from ovdemo.common.draw import Style, attribute_parts, caption_head, caption_lines, text_width
from ovdemo.common.results import Result

PEOPLE = "person-attributes-recognition-crossroad-0230"
ROW = re.compile(r"^│\s*(.+?)\s*│\s*(.*?)\s*│$")


def summary_rows(stderr: str) -> dict[str, str]:
    """The summary table's rows, name -> value (stage rows keep their indent off)."""
    table = stderr[stderr.index("ovdemo summary"):]
    return {m[1]: m[2] for line in table.splitlines() if (m := ROW.match(line))}


def test_a_still_image_is_summed_up_by_its_latency_with_stages_named_by_role(models_dir, images_dir, tmp_path):
    for name in ("face-detection-retail-0004", "landmarks-regression-retail-0009", "head-pose-estimation-adas-0001"):
        model_path(models_dir, name)
    model_path(models_dir, "age-gender-recognition-retail-0013", "FP16-INT8")
    metrics = tmp_path / "metrics.json"
    # stderr is a pipe here, and COLUMNS says 60: a width guessed for a file, which must not wrap anything
    result = run_ovdemo("face", "-m", "face-detection-retail-0004", "-i", images_dir / "astronaut.png", "--age-gender",
                        "--head-pose", "--no-show", "--metrics-json", metrics,
                        env={**shared_env(models_dir), "COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    (header,) = [line for line in result.stderr.splitlines() if line.startswith("face: ")]
    assert header.endswith("astronaut.png 512x512, one image") and len(header) > 80, header  # one line, unwrapped
    assert "FPS" not in result.stderr, result.stderr
    rows = summary_rows(result.stderr)
    assert "throughput" not in rows, rows
    assert rows["frames"] == "1" and re.fullmatch(r"\d+\.\d ms", rows["latency"]), rows
    assert not {"wall time", "latency mean / p50 / p95", "frames dropped"} & set(rows), rows
    stages = {"landmarks", "age-gender", "head-pose"}
    assert stages | {f"{s} wait" for s in stages} <= set(rows), rows
    assert not any("retail" in name or "adas" in name for name in rows), rows  # roles, never model names
    figures = json.loads(metrics.read_text())
    assert stages <= set(figures["stages_ms"]) and not any("-00" in key for key in figures["stages_ms"])
    for stage in stages:
        assert 0 < figures["stages_ms"][stage] <= figures["latency_ms"]["mean"], figures
        assert rows[stage] == f"{figures['stages_ms'][stage]:.2f} ms"


@pytest.mark.slow
def test_a_stage_of_parallel_requests_takes_no_more_than_its_frame(models_dir, images_dir, tmp_path):
    """page.png: its 8 lines go to the recognizer in several requests at once (grouped by width); the stage's time is
    the wall time they took together, never their sum (which came to 3 times the frame's whole latency)."""
    det = models_dir / "ppocrv5" / "onnx" / "ppocrv5_det.onnx"
    if not det.is_file():
        pytest.skip(f"PP-OCRv5 is not in {models_dir}")
    out = tmp_path / "page.jsonl"
    result = run_ovdemo("text", "-m", det, "--alphabet", det.parent / "ppocr_keys_v5.txt", "-i",
                        images_dir / "page.png", "--no-show", "--json", out, env=shared_env(models_dir))
    assert result.returncode == 0, result.stderr
    (record,) = read_jsonl(out)
    timings = record["timings_ms"]
    assert len(record["objects"]) >= 6  # lines of text, read in several requests at once
    assert 0 < timings["recognize"] <= timings["latency"], timings
    assert timings["recognize"] + timings["recognize wait"] <= timings["latency"], timings
    assert float(summary_rows(result.stderr)["latency"].split()[0]) == pytest.approx(timings["latency"], abs=0.1)


def test_stream_rows_keep_each_source_on_one_line(models_dir, videos_dir, tmp_path):
    """Two inputs with long paths, stderr a pipe: the header names each in full, on its own line, and the
    per-stream table gives each one row that names the file whole."""
    model_path(models_dir, "person-detection-0202")
    deep = tmp_path / ("a-folder-whose-name-is-long-enough-to-push-a-path-past-eighty-columns" * 2)
    deep.mkdir()
    names = ["preview-people-detection.gif", "preview-worker-zone-detection.gif"]
    for name in names:
        shutil.copy(videos_dir / name, deep / name)
    result = run_ovdemo("detect", "-m", "person-detection-0202", "-i", deep / names[0], "-i", deep / names[1],
                        "--max-frames", 3, "--no-show", env={**shared_env(models_dir), "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    for k, name in enumerate(names):
        assert f"  stream {k}: {deep / name} " in [line[:len(f'  stream {k}: {deep / name} ')] for line in lines]
        (row,) = [line for line in lines if re.match(rf"│\s+{k} │", line)]
        assert f"│ {name} " in row and "…" not in row, row
    assert rows_of_one_width(result.stderr[result.stderr.index("per stream"):])


def rows_of_one_width(table: str) -> bool:
    """Every line of a drawn table as wide as its top border (none folded onto a next line)."""
    lines = [line for line in table.splitlines()[1:] if line.strip()]
    return len({len(line) for line in lines}) == 1


@pytest.fixture(scope="module")
def shoppers(models_dir, videos_dir):
    """Frame 5 of the store aisle: two shoppers, their attributes, as the command line finds them."""
    model_path(models_dir, "person-detection-retail-0013")
    patch = pytest.MonkeyPatch()
    patch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    model_path(models_dir, PEOPLE)
    cap = cv2.VideoCapture(str(videos_dir / "preview-store-aisle-detection.gif"))
    for _ in range(6):
        ok, frame = cap.read()
    assert ok
    predictor = ovdemo.load("person-detection-retail-0013", classify=(PEOPLE,), offline=True)
    result = predictor(frame)
    yield frame, result, predictor.family
    predictor.close()
    patch.undo()


def test_attribute_captions_name_their_values_within_the_box(shoppers):
    frame, result, family = shoppers
    people = result.objects
    assert len(people) >= 2
    style = Style.for_frame(frame.shape[1], frame.shape[0])
    names = ("sex", "bag", "backpack", "hat", "sleeves", "pants", "hair", "coat_jacket")
    for i in range(len(people)):
        attributes = people.data["attributes"][i]
        parts = attribute_parts(attributes)
        assert parts == [f"{name.replace('_', ' ')}: {attributes[name]['label']}" for name in names], parts
        assert any(p in ("bag: no", "bag: yes") for p in parts) and any(p.startswith("sleeves: ") for p in parts)
        x1, _, x2, _ = people.xyxy[i]
        width = int(round(x2 - x1)) + style.thickness
        lines = caption_lines(caption_head(people, i, style), parts, width, style)
        assert all(text_width(line, style) <= width for line in lines), (width, lines)
        # every word there, whole and in order: nothing cut mid-word, nothing lost
        words = " ".join([caption_head(people, i, style), *parts]).split()
        assert " ".join(lines).replace(",", "").split() == words, lines

        # drawn alone on the frame: nothing lands left or right of the box (its line's width aside)
        drawn = frame.copy()
        family.draw(drawn, Result(people[np.array([i])]), style.for_image(drawn))
        columns = np.flatnonzero((drawn != frame).any(axis=(0, 2)))
        margin = style.thickness + 1
        assert x1 - margin <= columns.min() and columns.max() <= x2 + margin, (columns.min(), columns.max(), x1, x2)


def test_an_unsure_action_caption_shows_the_action_scored_highest(models_dir, videos_dir, monkeypatch):
    """preview-classroom.gif, frame 9: the second student from the left sits, and the model scores `standing`
    highest, under the 0.75 threshold: the JSON keeps the default `sitting`; the caption shows `standing?`."""
    model_path(models_dir, "person-detection-action-recognition-0005")
    cap = cv2.VideoCapture(str(videos_dir / "preview-classroom.gif"))
    for _ in range(10):
        ok, frame = cap.read()
    monkeypatch.setenv("OVDEMO_MODELS_DIR", str(models_dir))
    predictor = ovdemo.load("person-detection-action-recognition-0005", offline=True)
    people = predictor(frame).objects
    shown = predictor.family.shown_actions(people)
    actions = [a["action"] for a in people.data["attributes"]]
    stood_in = [k for k, a in enumerate(actions) if a["label"] == "sitting" and max(a["scores"].values()) >
                a["scores"]["sitting"]]
    assert stood_in, actions  # the case this is about is on this frame
    for action, (name, score) in zip(actions, shown, strict=True):
        best = max(action["scores"], key=action["scores"].get)
        if action["label"] == "sitting":
            assert name.rstrip("?") == best and score == action["scores"][best], (action, name, score)
        else:
            assert (name.rstrip("?"), score) == (action["label"], action["confidence"])
        assert name.endswith("?") == (score < 0.75), (name, score)
    for k in stood_in:
        assert shown[k][0] != "sitting?" and shown[k][1] > actions[k]["confidence"]
    predictor.close()


def test_models_list_is_a_table_of_what_the_families_run(models_dir):
    result = run_ovdemo("models", "list", env=shared_env(models_dir))
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["model", "family", "task", "format", "precisions", "(*", "on", "disk)", "where"]
    columns = [header.index(word) for word in ("family", "task", "format", "precisions")]
    for row in rows:  # every column starts where its header does, whatever the names' lengths
        assert all(row[c - 2:c] == "  " and row[c] != " " for c in columns), row
    families = {row[columns[0]:columns[1]].strip() for row in rows}
    assert families <= {"detect", "face", "track", "pose", "segment", "text", "action", "--classify",
                        "detect?", "pose?", "segment?", "text?", "action?"}, families
    tasks = {row[columns[1]:columns[2]].strip() for row in rows}
    assert not {"text_to_speech", "question_answering", "machine_translation"} & tasks, tasks
    (row,) = [r for r in rows if r.startswith("person-attributes-recognition-crossroad-0230 ")]
    assert row[columns[0]:columns[1]].strip() == "--classify"
    (row,) = [r for r in rows if r.startswith("person-detection-0202 ")]
    assert row[columns[0]:columns[1]].strip() == "detect" and row.endswith("local"), row
    left_out = int(re.search(r"\((\d+) models no ovdemo family runs are not listed: --all lists them\)",
                             result.stderr)[1])
    every = run_ovdemo("models", "list", "--all", env=shared_env(models_dir))
    assert every.returncode == 0 and "not listed" not in every.stderr
    header_all, *rows_all = every.stdout.splitlines()
    assert len(rows_all) == len(rows) + left_out
    tts = [r for r in rows_all if " text_to_speech " in r]
    assert tts and all(re.search(r"\s-\s+text_to_speech ", r) for r in tts), tts[:3]
    assert run_ovdemo("models", "list", "--task", "speech", env=shared_env(models_dir)).stdout == ""
