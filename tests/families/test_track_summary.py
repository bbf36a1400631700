"""`ovdemo track`'s terminal output agrees with itself and with the video: the summary ends with each line's and
zone's totals, and every `-r` header counts exactly the object lines under it."""

from __future__ import annotations

import json
import re

import pytest
from helpers import read_jsonl, run_ovdemo, shared_env

pytestmark = pytest.mark.slow  # 230 frames of detection and re-identification

# In one-by-one-person-detection the first person stands near x = 450 from about frame 65, then walks out to the
# right between frames 180 and 200; nobody else reaches x = 550 before frame 230. Walking down a vertical line,
# 'in' is from its right (x < 550) to its left: that person crosses it 'in' once, enters the right strip once and
# has left it (unseen for over 2 s) by frame 230.
LINE, ZONE = "550,0,550,432", "550,0,768,0,768,432,550,432"


def test_summary_totals_and_raw_lines_agree(models_dir, videos_dir, tmp_path):
    records_path, metrics_path = tmp_path / "out.jsonl", tmp_path / "metrics.json"
    result = run_ovdemo("track", "-i", "one-by-one-person-detection", "--max-frames", "230", "--infer-every", "2",
                        "--line", LINE, "--zone", ZONE, "-r", "--json", records_path, "--metrics-json", metrics_path,
                        "--no-show", "--infer-precision", "f32", env=shared_env(models_dir, videos_dir))
    assert result.returncode == 0, result.stderr
    # the summary's last rows: the line's and the zone's totals, as the video has them
    assert re.search(r"line 0\s*│\s*in 1, out 0\s*│", result.stderr), result.stderr
    assert re.search(r"zone 0\s*│\s*1 entries, 1 exits, 0 inside\s*│", result.stderr), result.stderr
    assert json.loads(metrics_path.read_text())["notes"] == ["line 0: in 1, out 0",
                                                             "zone 0: 1 entries, 1 exits, 0 inside"]
    records = read_jsonl(records_path)
    final = records[-1]["counts"]
    assert sum(final["lines"][0]["in"].values()) == 1 and sum(final["lines"][0]["out"].values()) == 0
    assert (final["zones"][0]["entries"], final["zones"][0]["exits"], final["zones"][0]["occupancy"]) == (1, 1, 0)
    # -r: each header's count is the number of object lines under it, and the JSON's number of objects
    blocks = re.split(r"^(?=frame \d+:)", result.stdout, flags=re.M)[1:]
    assert len(blocks) == len(records) == 230
    for block, record in zip(blocks, records, strict=True):
        header, *lines = block.rstrip("\n").split("\n")
        counted = int(re.match(r"frame (\d+): (\d+) objects?", header)[2])
        objects = [ln for ln in lines if not ln.lstrip().startswith(("event ", "class ", "action ", "window "))]
        assert counted == len(objects) == len(record["objects"]), block
    assert sum(len(r["objects"]) for r in records) > 100  # people were there to count
    crossings = [e for r in records for e in r["events"] if e["type"] == "line_cross"]
    assert [(e["direction"], e["label"]) for e in crossings] == [("in", "person")]
    assert any(ln.strip().startswith("event type=line_cross") for ln in result.stdout.splitlines())
