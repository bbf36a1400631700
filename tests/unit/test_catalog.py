"""The catalog against its source data, name lookups, the per-family defaults, samples and the CLI commands."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from _http_mirror import Mirror
from click.testing import CliRunner

from ovdemo.cli import cli
from ovdemo.common.errors import DemoError
from ovdemo.common.models import catalog
from ovdemo.common.models.resolve import resolve_model
from ovdemo.common.models.specs import ASSETS

REPO = Path(__file__).resolve().parents[2]
OMZ = REPO.parent / "shared" / "omz"


@pytest.fixture(scope="module")
def omz_source() -> dict:
    if not (OMZ / "catalog.json").is_file():
        pytest.skip("the Open Model Zoo facts (../shared/omz) are not available")
    return json.loads((OMZ / "catalog.json").read_text())


def test_generator_reproduces_the_committed_catalog(omz_source, tmp_path):
    out = tmp_path / "catalog.json"
    subprocess.run([sys.executable, str(REPO / "assets" / "build_catalog.py"), str(OMZ), "-o", str(out)], check=True)
    assert out.read_text() == (REPO / "assets" / "catalog.json").read_text(), "run `make catalog` and commit"


def test_every_file_keeps_its_published_url_and_checksum(omz_source):
    models = catalog.models()
    public = json.loads((OMZ / "public.json").read_text())["models"]
    assert len(models) == len(omz_source["models"]) + len(public) == 153 + 125
    for entry in public:
        model = models[entry["name"]]
        assert model.public and model.framework == entry["framework"] and model.dir.startswith("public/")
        assert [(f.path, f.url, f.size, f.sha384) for f in model.source] == [
            (f["name"], f["url"], f["size"], f["sha384"]) for f in entry["files"]]
    for entry in omz_source["models"]:
        model = models[entry["name"]]
        ours = {f.path: f for files in model.files.values() for f in files}
        assert len(ours) == len(entry["files"])
        for f in entry["files"]:
            assert (ours[f["name"]].url, ours[f["name"]].size, ours[f["name"]].sha384) == (f["url"], f["size"],
                                                                                          f["sha384"])
    releases = {f.url.split("/open_model_zoo/")[1].split("/")[0]
                for m in models.values() for fs in m.files.values() for f in fs}
    assert {"2023.0", "2022.3"} <= releases


def test_composites_fetch_all_their_stages(tmp_path):
    spotter = catalog.get_model("text-spotting-0005")
    stages = [leaf.name for leaf in catalog.leaves(spotter)]
    assert stages == ["text-spotting-0005-detector", "text-spotting-0005-recognizer-encoder",
                      "text-spotting-0005-recognizer-decoder"]
    files = [rf for leaf in catalog.leaves(spotter) for rf in catalog.remote_files(leaf, "FP16", tmp_path)]
    assert len(files) == 6 and files[-1].dest.suffix == ".xml"
    assert tmp_path / "intel/text-spotting-0005/text-spotting-0005-detector/FP16/text-spotting-0005-detector.xml" in [
        f.dest for f in files]
    # shared aux files (no precision) come with every precision
    formula = catalog.get_model("formula-recognition-medium-scan-0001-im2latex-encoder")
    assert any(f.path == "vocab.json" for f in formula.files_for("FP16"))


def test_precision_fallback_and_strict_choice():
    int8_only = catalog.get_model("bert-small-uncased-whole-word-masking-squad-int8-0002")
    assert catalog.choose_precision(int8_only, "FP16") == "FP16-INT8"
    with pytest.raises(DemoError, match="has no FP16 files"):
        catalog.choose_precision(int8_only, "FP16", strict=True)


def test_unknown_name_suggests_close_ones():
    with pytest.raises(DemoError) as err:
        resolve_model("person-detecton-0202")
    assert "person-detection-0202" in str(err.value) and "not in the Open Model Zoo catalog" in str(err.value)


def test_models_dir_is_used_as_is_before_the_cache(models_dir):
    # the shared person-detection-0202 is an older release than the catalog's: used as it is, never checked
    found = resolve_model("person-detection-0202", models_dir, offline=True)
    assert found.path == models_dir / "person-detection-0202" / "FP16" / "person-detection-0202.xml"


@pytest.mark.parametrize("layout", ["intel/action-recognition-0001/{stage}", "action-recognition-0001/{stage}",
                                    "{stage}"])
def test_composite_stages_are_found_in_every_models_dir_layout(tmp_path, layout):
    stage = "action-recognition-0001-decoder"
    xml = tmp_path / layout.format(stage=stage) / "FP16" / f"{stage}.xml"
    xml.parent.mkdir(parents=True)
    xml.write_text("<net/>")
    assert resolve_model(stage, tmp_path, offline=True).path == xml


def test_family_defaults_are_catalog_models():
    for family, entry in catalog.families().items():
        for name in entry["models"]:
            assert name in catalog.models(), f"{family}: {name}"
    assert catalog.families()["detect"]["models"] == ["person-detection-0202"]


def test_samples_catalog_matches_the_shared_videos(videos_dir):
    samples = catalog.samples()
    assert {"one-by-one-person-detection", "car-detection", "bottle-detection"} <= set(samples)
    for sample in samples.values():
        if sample.bundled:  # drawn by ovdemo and shipped in assets/ (issue 26): the entry matches the shipped file
            shipped = ASSETS / sample.file
            assert sample.url == "" and shipped.stat().st_size == sample.size
            assert hashlib.sha384(shipped.read_bytes()).hexdigest() == sample.sha384
            continue
        assert sample.url == f"https://github.com/intel-iot-devkit/sample-videos/raw/master/{sample.file}"
        local = videos_dir / sample.file
        assert local.stat().st_size == sample.size
        assert hashlib.sha384(local.read_bytes()).hexdigest() == sample.sha384
    assert "CC BY 4.0" in catalog.samples_attribution() and "Intel" in catalog.samples_attribution()


def test_samples_download_through_a_mirror(videos_dir, monkeypatch):
    monkeypatch.delenv("OVDEMO_SAMPLES_DIR", raising=False)
    with Mirror(samples_dir=videos_dir) as mirror:
        monkeypatch.setenv("OVDEMO_SAMPLE_BASE_URL", mirror.base + "/samples")
        with pytest.raises(DemoError, match="ovdemo samples download asl-thanks"):
            catalog.sample_path("asl-thanks", offline=True)
        path = catalog.sample_path("asl-thanks")
        assert path == catalog.samples_cache() / "asl-thanks.mkv"
        assert path.read_bytes() == (videos_dir / "asl-thanks.mkv").read_bytes()
        assert catalog.sample_path("asl-thanks", offline=True) == path and len(mirror.requests) == 1
    monkeypatch.setenv("OVDEMO_SAMPLES_DIR", str(videos_dir))
    assert catalog.sample_path("car-detection.mp4") == videos_dir / "car-detection.mp4"


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_models_list_filters(monkeypatch):
    monkeypatch.delenv("OVDEMO_MODELS_DIR", raising=False)
    detection = run("models", "list", "--task", "detection", "--names").output.split()
    assert "person-detection-0202" in detection and "human-pose-estimation-0001" not in detection
    pose = run("models", "list", "--demo", "pose", "--names").output.split()
    assert "human-pose-estimation-0001" in pose and "person-detection-0202" not in pose
    assert "person-detection-0202" in run("models", "list", "--demo", "detect", "--names").output.split()
    assert run("models", "list", "--downloaded", "--names").output == ""


def test_models_info_shows_precisions_sizes_and_demos():
    out = run("models", "info", "person-detection-0202").output
    assert "task:       detection" in out and "image [1, 3, 512, 512] NCHW" in out
    assert "FP16        3.9 MB" in out and "object_detection_demo" in out and "LICENSE" in out


def test_models_path_and_download_offline_errors(monkeypatch):
    monkeypatch.delenv("OVDEMO_MODELS_DIR", raising=False)
    with pytest.raises(DemoError, match="ovdemo models download face-detection-retail-0004"):
        run("models", "path", "face-detection-retail-0004", "--offline")
    with pytest.raises(DemoError, match="unknown demo family 'nope'"):
        run("models", "download", "--for", "nope")
