"""Open Model Zoo's public models by name: the catalog shows them; their originals download (from a real HTTP
server on loopback, laid out as the original URLs) and convert to IR once; what cannot convert says so in one line.

Test catalog entries (OVDEMO_CATALOG) stand for originals too big or gone: an archive laid out like the original
ssd_mobilenet_v2_coco tarball but holding the SSDLite graph of ../shared (with that archive's own checksum, and
ssd_mobilenet_v2_coco's real conversion facts), the PP-OCRv5 detector as an ONNX original, and a small PyTorch
network with Open Model Zoo's kind of model.py, patched source and zipped weights.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import openvino as ov
import pytest
from _http_mirror import Mirror
from click.testing import CliRunner
from helpers import iou, one_line_error, read_jsonl

from ovdemo.cli import cli
from ovdemo.common.models import catalog
from ovdemo.common.models.catalog import ASSETS
from ovdemo.common.models.fetch import RemoteFile, fetch

OMZ_RAW = "https://raw.githubusercontent.com/openvinotoolkit/open_model_zoo/e7df86da686d2e1600282422e54f66c2fecea160"
SSD_URL = "http://download.tensorflow.org/models/object_detection/ssd_mobilenet_v2_coco_2018_03_29.tar.gz"
SSD_MEMBER = "ssd_mobilenet_v2_coco_2018_03_29/frozen_inference_graph.pb"


def catalog_entry(name: str) -> dict:
    return next(e for e in json.loads((ASSETS / "catalog.json").read_text())["models"] if e["name"] == name)


def served(origins: Path, url: str, data: bytes, mirror: Mirror, path: str | None = None) -> dict:
    """Put `data` where the mirror serves `url`; its catalog file record."""
    local = origins / url.split("://", 1)[1]
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(data)
    return {"path": path or url.rsplit("/", 1)[-1], "size": len(data), "sha384": hashlib.sha384(data).hexdigest(),
            "url": mirror.url(url)}


@pytest.fixture
def public(tmp_path):
    """(mirror, origins folder, a function writing the test catalog and giving the environment of a user)."""
    origins = tmp_path / "origins"
    with Mirror(origins_dir=origins) as mirror:
        def environment(*entries: dict) -> dict[str, str]:
            catalog = tmp_path / "catalog.json"
            catalog.write_text(json.dumps({"models": list(entries)}))
            env = {k: v for k, v in os.environ.items() if k not in ("OVDEMO_MODELS_DIR", "OVDEMO_OFFLINE")}
            env.update(OVDEMO_CATALOG=str(catalog), OVDEMO_HOME=str(tmp_path / "home"), OVDEMO_FETCH_BACKOFF="0.01")
            return env

        yield mirror, origins, environment


def ovdemo(*args, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ovdemo", *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=300)


def run_cli(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def run_cli_env(env: dict[str, str], *args: str) -> str:
    """`ovdemo ARGS` in this process with `env` as the whole environment."""
    result = CliRunner().invoke(cli, list(args), env={**{k: None for k in os.environ}, **env},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


# -- the catalog

def test_info_shows_framework_files_sizes_licence_and_what_conversion_needs():
    ssd = run_cli("models", "info", "ssd_mobilenet_v2_coco")
    assert "framework:  TensorFlow" in ssd and "needs OpenVINO's TensorFlow front end" in ssd
    assert "ssd_v2_support.json has no equivalent: the model keeps its original outputs" in ssd
    assert "ssd_mobilenet_v2_coco.tar.gz  187.9 MB  http://download.tensorflow.org/" in ssd
    assert "tensorflow/models/master/LICENSE" in ssd and "runs in:    ovdemo detect (tf-od decoder)" in ssd
    assert "legacy:" in ssd and "image_tensor [1, 300, 300, 3] NHWC" in ssd

    pose = run_cli("models", "info", "single-human-pose-estimation-0001")
    assert "framework:  PyTorch" in pose and "single-human-pose-estimation-0001.tar.gz  152.0 MB" in pose
    torch_state = "torch (installed)" if importlib.util.find_spec("torch") else "pip install 'ovdemo[convert]'"
    assert torch_state in pose and "openvino_training_extensions" in pose and "ovdemo pose (top-down" in pose

    retina = run_cli("models", "info", "retinaface-resnet50")
    assert "framework:  MXNet" in retina and "conversion: not possible: OpenVINO" in retina
    assert "has no MXNet front end" in retina and "dead URL, known only by its sha256" in retina
    assert "instead:    use retinaface-resnet50-pytorch" in retina and "retinaface-R50.zip  109.6 MB" in retina
    assert "insightface/master/LICENSE" in retina and "ovdemo face (retinaface decoder)" in retina

    pytorch = run_cli("models", "info", "retinaface-resnet50-pytorch")
    assert f"model.py (Open Model Zoo's own)  0.9 kB  {OMZ_RAW}/models/public/retinaface-resnet50-pytorch/model.py" \
        in pytorch


def test_list_shows_public_models_and_what_they_need():
    rows = {line.split()[0]: line for line in run_cli("models", "list", "--task", "detection").splitlines()}
    assert "TensorFlow, converts" in rows["ssdlite_mobilenet_v2"] and "FP16 FP32" in rows["ssdlite_mobilenet_v2"]
    assert "MXNet, cannot convert" in rows["retinaface-resnet50"]
    assert "IR" in rows["person-detection-0202"].split()


# -- download and convert by name

@pytest.mark.slow  # converts a real graph
def test_tensorflow_archive_downloads_converts_once_and_detects(public, models_dir, images_dir, tmp_path):
    mirror, origins, environment = public
    graph = models_dir / "ssdlite_mobilenet_v2" / "tf" / "frozen_inference_graph.pb"
    archive = tmp_path / "ssd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(graph, SSD_MEMBER)
    entry = catalog_entry("ssd_mobilenet_v2_coco")
    entry["source"] = [served(origins, SSD_URL, archive.read_bytes(), mirror, entry["source"][0]["path"])]
    env = environment(entry)
    out = tmp_path / "d.jsonl"
    args = ("detect", "-m", "ssd_mobilenet_v2_coco", "-i", images_dir / "astronaut.png", "--json", out, "--no-show",
            "--infer-precision", "f32")
    first = ovdemo(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "converting ssd_mobilenet_v2_coco (TensorFlow) to OpenVINO IR FP16" in first.stderr
    assert len(mirror.requests) == 1
    (record,) = read_jsonl(out)
    people = [o for o in record["objects"] if o["label"] == "person"]
    assert len(people) == 1 and iou(people[0]["bbox"], (20, 60, 365, 512)) > 0.6, record["objects"]

    second = ovdemo(*args, env=env)
    assert second.returncode == 0, second.stderr
    assert "convert" not in second.stderr and "download" not in second.stderr and len(mirror.requests) == 1
    assert read_jsonl(out)[0]["objects"] == record["objects"]

    # the IR takes BGR 0..255 at the Model Optimizer's 300x300: the graph's own RGB input, reversed inside
    xml = tmp_path / "home" / "models" / "public" / "ssd_mobilenet_v2_coco" / "FP16" / "ssd_mobilenet_v2_coco.xml"
    core = ov.Core()
    ir = core.compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    original = core.read_model(graph)
    original.reshape([1, 300, 300, 3])
    plain = core.compile_model(original, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    bgr = cv2.resize(cv2.imread(str(images_dir / "astronaut.png")), (300, 300))
    ours = {n.split(":")[0]: v for p, v in ir(bgr[np.newaxis]).items() for n in p.get_names()}
    theirs = {n.split(":")[0]: v for p, v in plain(bgr[np.newaxis, :, :, ::-1].copy()).items() for n in p.get_names()}
    np.testing.assert_allclose(ours["detection_scores"][0, :5], theirs["detection_scores"][0, :5], atol=0.01)
    np.testing.assert_allclose(ours["detection_boxes"][0, :3], theirs["detection_boxes"][0, :3], atol=0.01)


@pytest.mark.slow  # converts a real graph
def test_onnx_original_converts_with_its_normalisation_inside(public, models_dir, images_dir, tmp_path):
    mirror, origins, environment = public
    ppocr = models_dir / "ppocrv5" / "onnx"
    if not (ppocr / "ppocrv5_det.onnx").is_file():
        pytest.skip("PP-OCRv5 is not in the shared models")
    source = served(origins, "https://example.org/ppocr/ppocrv5_det.onnx", (ppocr / "ppocrv5_det.onnx").read_bytes(),
                    mirror)
    entry = {"name": "ppocrv5_det", "dir": "public/ppocrv5_det", "task": "detection", "framework": "onnx",
             "license": "https://www.apache.org/licenses/LICENSE-2.0", "source": [source],
             "inputs": [{"name": "x", "shape": None, "layout": "NCHW"}],  # dynamic: kept so
             "conversion": {"model_optimizer_args": ["--input_model=$dl_dir/ppocrv5_det.onnx",
                                                     "--mean_values=x[123.675,116.28,103.53]",
                                                     "--scale_values=x[58.395,57.12,57.375]"]}}
    env = environment(entry)
    words = []
    for model in ("ppocrv5_det", ppocr / "ppocrv5_det.onnx"):  # by name, converted; then the original by path
        out = tmp_path / "t.jsonl"
        run = ovdemo("text", "-m", model, "--recognizer-model", ppocr / "ppocrv5_rec.onnx", "--alphabet",
                     ppocr / "ppocr_keys_v5.txt", "-i", images_dir / "page.png", "--json", out, "--no-show",
                     "--infer-precision", "f32", env=env)
        assert run.returncode == 0, run.stderr
        words.append([(o["text"], o["bbox"]) for o in read_jsonl(out)[0]["objects"]])
    assert len(mirror.requests) == 1
    assert "Region-based segmentation" in [text for text, _ in words[0]]
    assert [t for t, _ in words[0]] == [t for t, _ in words[1]]
    assert all(iou(a, b) > 0.95 for (_, a), (_, b) in zip(words[0], words[1], strict=True))


def test_a_failed_conversion_is_one_line_with_model_step_and_reason(public, images_dir):
    mirror, origins, environment = public
    source = served(origins, "https://example.org/broken/broken.onnx", b"not an ONNX graph" * 10, mirror)
    entry = {"name": "broken-onnx", "dir": "public/broken-onnx", "task": "detection", "framework": "onnx",
             "license": "", "source": [source],
             "conversion": {"model_optimizer_args": ["--input_model=$dl_dir/broken.onnx"]}}
    run = ovdemo("detect", "-m", "broken-onnx", "-i", images_dir / "astronaut.png", "--no-show",
                 env=environment(entry))
    assert run.returncode == 2
    line = [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")]
    assert len(line) == 1 and "Traceback" not in run.stderr, run.stderr
    assert line[0].startswith("error: cannot convert broken-onnx: openvino.convert_model of broken.onnx: ")
    assert "-m path/to/model.xml" in line[0]
    folder = Path(environment(entry)["OVDEMO_HOME"]) / "models" / "public" / "broken-onnx"
    assert not list(folder.glob("FP16/*.xml")) and not list(folder.glob("FP16/*.bin"))
    assert not list(folder.glob(".convert-*"))  # the scratch folder is gone


def test_mxnet_original_cannot_convert_in_one_line(images_dir, tmp_path):
    run = ovdemo("face", "-m", "retinaface-resnet50", "-i", images_dir / "astronaut.png", "--no-show",
                 env={**os.environ, "OVDEMO_HOME": str(tmp_path)})
    assert run.returncode == 2
    line = one_line_error(run)
    assert "cannot convert retinaface-resnet50: its original is MXNet" in line and "no MXNet front end" in line
    assert "use retinaface-resnet50-pytorch, or pass an IR converted elsewhere with -m" in line


def test_offline_names_the_download_command(images_dir, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if k != "OVDEMO_MODELS_DIR"}, "OVDEMO_HOME": str(tmp_path)}
    run = ovdemo("detect", "-m", "ssdlite_mobilenet_v2", "-i", images_dir / "astronaut.png", "--no-show", "--offline",
                 env=env)
    assert run.returncode == 2
    assert "run `ovdemo models download ssdlite_mobilenet_v2` first" in one_line_error(run)


# -- PyTorch originals

def test_pytorch_original_without_torch_says_how_to_get_it(images_dir, tmp_path):
    if importlib.util.find_spec("torch") is not None:
        pytest.skip("torch is installed here: the missing-extra message cannot show")
    run = ovdemo("pose", "-m", "single-human-pose-estimation-0001", "-i", images_dir / "astronaut.png", "--no-show",
                 env={**os.environ, "OVDEMO_HOME": str(tmp_path)})
    assert run.returncode == 2
    line = one_line_error(run)
    assert "cannot convert single-human-pose-estimation-0001: its PyTorch export needs torch" in line
    assert "pip install 'ovdemo[convert]'" in line


NETWORK = '''import torch
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, pretrained=True):
        super().__init__()
        if pretrained:
            raise RuntimeError("would download weights")
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        features = torch.relu(self.conv(x))
        return features, torch.sigmoid(self.head(features))
'''
OMZ_MODEL_PY = '''from torch import load

from nets.tiny import TinyNet


def create_model(weights):
    model = TinyNet()  # the authors' default (pretrained=True) is patched to False after the download
    model.load_state_dict(load(weights, map_location="cpu"))
    return model
'''
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.mark.slow  # converts a real graph
def test_pytorch_original_converts_as_open_model_zoo_did(public, images_dir, tmp_path):
    torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'ovdemo[convert]')")
    mirror, origins, environment = public
    sys.path.insert(0, str(tmp_path))
    (tmp_path / "tiny_net.py").write_text(NETWORK.replace("pretrained=True", "pretrained=False"))
    from tiny_net import TinyNet

    torch.manual_seed(0)
    net = TinyNet(False).eval()
    torch.save(net.state_dict(), tmp_path / "tiny.pth")
    with zipfile.ZipFile(tmp_path / "weights.zip", "w") as z:
        z.write(tmp_path / "tiny.pth", "tiny.pth")
    name = "tiny-net-pytorch"
    entry = {
        "name": name, "dir": f"public/{name}", "task": "classification", "framework": "pytorch", "license": "",
        "inputs": [{"name": "data", "shape": [1, 3, 32, 48], "layout": "NCHW"}],
        "source": [served(origins, "https://example.org/tiny/nets/tiny.py", NETWORK.encode(), mirror, "nets/tiny.py"),
                   served(origins, "https://example.org/tiny/nets/__init__.py", b"", mirror, "nets/__init__.py"),
                   served(origins, "https://example.org/tiny/weights.zip", (tmp_path / "weights.zip").read_bytes(),
                          mirror)],
        "code": [served(origins, f"{OMZ_RAW}/models/public/{name}/model.py", OMZ_MODEL_PY.encode(), mirror)],
        "conversion": {
            "postprocessing": [{"$type": "regex_replace", "file": "nets/tiny.py", "pattern": r"pretrained=True\)",
                                "replacement": "pretrained=False)"},
                               {"$type": "unpack_archive", "file": "weights.zip", "format": "zip"}],
            "conversion_to_onnx_args": ["--model-path=$dl_dir", "--model-path=$config_dir", "--model-name=create_model",
                                        "--import-module=model", '--model-param=weights=r"$dl_dir/tiny.pth"',
                                        "--input-shape=1,3,32,48", "--input-names=data",
                                        "--output-names=features,scores", f"--output-file=$conv_dir/{name}.onnx"],
            "model_optimizer_args": [f"--input_model=$conv_dir/{name}.onnx", f"--mean_values=data{MEAN}",
                                     f"--scale_values=data{STD}", "--reverse_input_channels", "--output=scores"]},
    }
    run = ovdemo("models", "path", name, "--precision", "FP32", env=environment(entry))
    assert run.returncode == 0, run.stderr
    xml = Path(run.stdout.strip())
    assert xml == tmp_path / "home" / "models" / "public" / name / "FP32" / f"{name}.xml"
    assert (tmp_path / "home" / "models" / "public" / name / "nets" / "tiny.py").read_text() == NETWORK  # untouched
    model = ov.Core().read_model(xml)
    assert [i.get_any_name() for i in model.inputs] == ["data"] and list(model.input(0).get_shape()) == [1, 3, 32, 48]
    assert [o.get_names() for o in model.outputs] == [{"scores"}]  # --output kept the one the demo reads
    bgr = cv2.resize(cv2.imread(str(images_dir / "astronaut.png")), (48, 32))
    ours = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})(
        bgr.transpose(2, 0, 1)[np.newaxis].astype(np.float32))[0]
    rgb = ((bgr[:, :, ::-1] - np.float32(MEAN)) / np.float32(STD)).astype(np.float32)
    with torch.no_grad():
        want = net(torch.from_numpy(rgb.transpose(2, 0, 1)[np.newaxis].copy()))[1].numpy()
    np.testing.assert_allclose(ours, want, atol=1e-4)


def test_open_model_zoo_helper_files_verify_against_the_shared_copies(public, tmp_path):
    """Every model.py / pre-convert.py the catalog names is fetched from Open Model Zoo's repository at the pinned
    commit and verified: served here from ../shared/omz/public_model_code, laid out as that repository."""
    mirror, origins, _ = public
    shared = Path(__file__).resolve().parents[3] / "shared" / "omz" / "public_model_code"
    if not (shared / "MANIFEST.json").is_file():
        pytest.skip("../shared/omz/public_model_code is not available")
    repository = origins / OMZ_RAW.split("://", 1)[1] / "models" / "public"
    repository.parent.mkdir(parents=True)
    repository.symlink_to(shared)
    files = [RemoteFile(mirror.url(f.url), tmp_path / "code" / m.name / f.path, f.size, f.sha384)
             for m in catalog.models().values() for f in m.code]
    assert len(files) >= 40 and all(f.url.startswith(f"{mirror.base}/raw.githubusercontent.com/") for f in files)
    assert fetch(files, "helper files") == len(files)
    retina = tmp_path / "code" / "retinaface-resnet50-pytorch" / "model.py"
    assert "def create_model(weights)" in retina.read_text()


def test_a_pre_convert_script_missing_its_package_says_which(public, images_dir):
    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("tensorflow is installed here")
    mirror, origins, environment = public
    script = b"import tensorflow as tf\n"  # as Open Model Zoo's pre-convert.py scripts do
    entry = {"name": "needs-tf", "dir": "public/needs-tf", "task": "classification", "framework": "tf",
             "license": "", "source": [served(origins, "https://example.org/needs-tf/weights.h5", b"h5", mirror)],
             "code": [served(origins, f"{OMZ_RAW}/models/public/needs-tf/pre-convert.py", script, mirror)],
             "conversion": {"model_optimizer_args": ["--saved_model_dir=$conv_dir/needs-tf.savedmodel"]}}
    assert "pre-convert.py, which needs the packages it imports" in run_cli_env(environment(entry), "models", "info",
                                                                                "needs-tf")
    run = ovdemo("detect", "-m", "needs-tf", "-i", images_dir / "astronaut.png", "--no-show", env=environment(entry))
    assert run.returncode == 2
    line = [ln for ln in run.stderr.splitlines() if ln.startswith("error: ")]
    assert line == ["error: cannot convert needs-tf: pre-convert.py: needs the Python package 'tensorflow': "
                    "pip install tensorflow, or pass an IR converted elsewhere with -m path/to/model.xml"], run.stderr
