"""Build assets/catalog.json from the Open Model Zoo facts in ../shared/omz (run by `make catalog`).

    python assets/build_catalog.py ../shared/omz [-o assets/catalog.json]

Intel models (and composite-model stages) are ready-to-run OpenVINO IR: their files by precision. Public models
(catalog.json's `public.json` sibling) are their authors' originals, which ovdemo downloads and converts: their
`source` files, the small Open Model Zoo files their conversion runs (`code`, from `public_model_code/`, fetched
from Open Model Zoo's repository at the pinned commit) and the conversion facts as Open Model Zoo wrote them
(`conversion`: postprocessing, PyTorch-to-ONNX and Model Optimizer arguments). Each file keeps the URL written in
the source data, because OMZ published files under different release folders (2023.0, 2022.3, ...), so a URL can
never be rebuilt from a pattern. The output has one model per line so diffs stay readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SHARED_FILES = "shared"  # key for files every precision needs (vocab.txt, parameters.yml, ...)
OMZ_RAW = "https://raw.githubusercontent.com/openvinotoolkit/open_model_zoo/{commit}/{path}"
CODE_ROLES = ("imported by", "run by omz_converter", "helper called by")  # public_model_code files conversion uses


def summarise_demos(listings: list[dict]) -> list[dict]:
    """Fold the per-language models.lst matches into one entry per demo and architecture."""
    merged: dict[tuple, dict] = {}
    for item in listings:
        variant = {k: item[k] for k in ("at", "mode", "decoder_type") if k in item}
        key = (item["demo"], tuple(sorted(variant.items())))
        entry = merged.setdefault(key, {"demo": item["demo"], "langs": [], **variant})
        if item["lang"] not in entry["langs"]:
            entry["langs"].append(item["lang"])
    for entry in merged.values():
        entry["langs"].sort()
    return sorted(merged.values(), key=lambda e: (e["demo"], json.dumps(e, sort_keys=True)))


def files_by_precision(files: list[dict]) -> dict[str, list[dict]]:
    grouped: dict[str, list[dict]] = {}
    for f in files:
        grouped.setdefault(f["precision"] or SHARED_FILES, []).append(
            {"path": f["name"], "size": f["size"], "sha384": f["sha384"], "url": f["url"]}
        )
    return grouped


def base_entry(model: dict, folder: str, description: str) -> dict:
    """What every catalog entry has: name, folder, task, description, license, composite links, inputs."""
    entry = {
        "name": model["name"],
        "dir": folder,
        "task": model["task_type"],
        "description": description,
        "license": model["license"],
    }
    if model["composite"]:
        entry["composite"] = model["composite"]
    if model["stages"]:
        entry["stages"] = model["stages"]
    if model["input_info"]:
        entry["inputs"] = model["input_info"]
    return entry


def intel_entry(model: dict) -> dict:
    entry = base_entry(model, model["omz_dir"], model["description"])
    entry["demos"] = summarise_demos(model["demos"])
    entry["files"] = files_by_precision(model["files"])
    return entry


def public_dir(model: dict) -> str:
    return "/".join(["public", *([model["composite"]] if model["composite"] else []), model["name"]])


def code_files(manifest: dict) -> dict[str, list[dict]]:
    """Open Model Zoo's own files a public model's conversion needs, by model folder: paths relative to it
    (where `$config_dir` points), fetched from the pinned commit."""
    by_model: dict[str, list[dict]] = {}
    for f in manifest["files"]:
        if not f["role"].startswith(CODE_ROLES):
            continue
        folder, _, rel = f["path"].partition("/public/")[2].partition("/")
        url = OMZ_RAW.format(commit=manifest["commit"], path=f["path"])
        by_model.setdefault(folder, []).append({"path": rel, "size": f["size"], "sha384": f["sha384"], "url": url})
    return by_model


def public_entry(model: dict, code: dict[str, list[dict]]) -> dict:
    entry = base_entry(model, public_dir(model), "")
    entry["framework"] = model["framework"]
    if model.get("model_info"):
        entry["model_info"] = model["model_info"]
    if model.get("legacy"):
        entry["legacy"] = model["legacy"]["note"]
    entry["demos"] = summarise_demos(model["demos"])
    entry["files"] = {}
    entry["source"] = [{"path": f["name"], "size": f["size"], "sha384": f["sha384"], "url": f["url"],
                        **{k: f[k] for k in ("sha256", "original_url") if f.get(k)}} for f in model["files"]]
    if model["name"] in code:
        entry["code"] = code[model["name"]]
    conversion = {key: model[key] for key in ("postprocessing", "conversion_to_onnx_args", "model_optimizer_args")
                  if model.get(key)}
    if conversion:
        entry["conversion"] = conversion
    return entry


def check(models: list[dict]) -> None:
    names = {m["name"] for m in models}
    for m in models:
        for stage in m.get("stages", []):
            if stage not in names:
                raise SystemExit(f"{m['name']}: stage {stage} has no entry")
        if not m.get("stages") and not m["files"] and not m.get("source"):
            raise SystemExit(f"{m['name']}: no files")
        for files in m["files"].values():
            for f in files:
                if not f["url"].startswith("https://") or len(f["sha384"]) != 96:
                    raise SystemExit(f"{m['name']}: bad file record {f}")
        for f in m.get("source", []) + m.get("code", []):
            checksum = f["sha384"] or ("legacy" in m and f.get("sha256"))  # retinaface-resnet50: sha256 only
            if not f["url"].startswith(("https://", "http://")) or not checksum:
                raise SystemExit(f"{m['name']}: bad file record {f}")


def render(source: dict, models: list[dict]) -> str:
    header = {k: source[k] for k in ("source_repo", "tag", "commit")}
    lines = [json.dumps(m, separators=(",", ":"), ensure_ascii=False) for m in models]
    return (
        "{\"source\":" + json.dumps(header, separators=(",", ":"))
        + ",\"shared_files_key\":" + json.dumps(SHARED_FILES)
        + ",\"models\":[\n" + ",\n".join(lines) + "\n]}\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("omz_dir", type=Path, help="folder with the OMZ facts (catalog.json, public.json, "
                        "public_model_code/MANIFEST.json)")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("catalog.json"))
    args = parser.parse_args(argv)
    source = json.loads((args.omz_dir / "catalog.json").read_text(encoding="utf-8"))
    public = json.loads((args.omz_dir / "public.json").read_text(encoding="utf-8"))
    manifest = json.loads((args.omz_dir / "public_model_code" / "MANIFEST.json").read_text(encoding="utf-8"))
    code = code_files(manifest)
    models = [intel_entry(m) for m in source["models"]] + [public_entry(m, code) for m in public["models"]]
    check(models)
    args.output.write_text(render(source, models), encoding="utf-8")
    files = sum(len(fs) for m in models for fs in m["files"].values()) + sum(len(m.get("source", ())) for m in models)
    print(f"{args.output}: {len(models)} models, {files} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
