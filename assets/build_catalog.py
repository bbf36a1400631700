"""Build assets/catalog.json from the Open Model Zoo facts in ../shared/omz (run by `make catalog`).

    python assets/build_catalog.py ../shared/omz [-o assets/catalog.json]

Only Intel models (and composite-model stages) go in: they are ready-to-run OpenVINO IR. Each file keeps the
URL written in the source data, because OMZ published files under different release folders (2023.0, 2022.3,
...), so a URL can never be rebuilt from a pattern. The output has one model per line so diffs stay readable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SHARED_FILES = "shared"  # key for files every precision needs (vocab.txt, parameters.yml, ...)


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


def convert(model: dict) -> dict:
    entry = {
        "name": model["name"],
        "dir": model["omz_dir"],
        "task": model["task_type"],
        "description": model["description"],
        "license": model["license"],
    }
    if model["composite"]:
        entry["composite"] = model["composite"]
    if model["stages"]:
        entry["stages"] = model["stages"]
    if model["input_info"]:
        entry["inputs"] = model["input_info"]
    entry["demos"] = summarise_demos(model["demos"])
    entry["files"] = files_by_precision(model["files"])
    return entry


def check(models: list[dict]) -> None:
    names = {m["name"] for m in models}
    for m in models:
        for stage in m.get("stages", []):
            if stage not in names:
                raise SystemExit(f"{m['name']}: stage {stage} has no entry")
        if not m.get("stages") and not m["files"]:
            raise SystemExit(f"{m['name']}: no files")
        for files in m["files"].values():
            for f in files:
                if not f["url"].startswith("https://") or len(f["sha384"]) != 96:
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
    parser.add_argument("omz_dir", type=Path, help="folder with the OMZ facts (catalog.json)")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("catalog.json"))
    args = parser.parse_args(argv)
    source = json.loads((args.omz_dir / "catalog.json").read_text(encoding="utf-8"))
    models = [convert(m) for m in source["models"]]
    check(models)
    args.output.write_text(render(source, models), encoding="utf-8")
    files = sum(len(fs) for m in models for fs in m["files"].values())
    print(f"{args.output}: {len(models)} models, {files} files", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
