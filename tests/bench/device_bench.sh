#!/bin/bash
# The 16-core measurement of issue 22: ../shared/tools/device-bench/run.sh (raw OpenVINO against ovdemo end to end:
# detect with 1, 4 and 8 streams, track, pose) with each run's CPU per frame of the pipeline's threads, then the
# pipeline ceilings of tests/bench/bench_pipeline.py (null models: detect, track, pose; medians of 3 rounds).
# Under 8 minutes on 16 cores. From the project root, with the bundle built by make-bundle.sh:
#   ../shared/tools/device-bench/make-bundle.sh && bash tests/bench/device_bench.sh
# (on a device machine: carry .devbundle). Log and metrics land in $OUT (default .devbundle/out).
set -u
B=$PWD/.devbundle; O=${OUT:-$B/out}; mkdir -p "$O"; exec > >(tee "$O/log.txt") 2>&1
S=/tmp/site; [ -d "$S/openvino" ] || { mkdir -p "$S" && tar xJf "$B/ov312.tar.xz" -C "$S"; }
rm -rf /tmp/pkg && mkdir -p /tmp/pkg  # the checkout is the ovdemo package: a copy named ovdemo goes on PYTHONPATH
python3 -c "import shutil; shutil.copytree('.', '/tmp/pkg/ovdemo', ignore=shutil.ignore_patterns('.git', '.devbundle', '.venv', 'tests'))"
export PYTHONPATH=$S:/tmp/pkg PYTHONUNBUFFERED=1 OVDEMO_MODELS_DIR=$B/models OVDEMO_SAMPLES_DIR=$B/videos OVDEMO_HOME=/tmp/ovh
M=$B/models; V=$B/videos; PD=$M/person-detection-0202/FP16/person-detection-0202.xml
nproc; python3 -c "import openvino as ov; c=ov.Core(); print(ov.__version__, c.get_property('CPU','FULL_DEVICE_NAME'), c.get_property('CPU','OPTIMIZATION_CAPABILITIES'))"
raw() { python3 -c 'import sys; from openvino.tools.benchmark.main import main; sys.exit(main())' -m "$1" -d CPU -hint throughput -t "${2:-10}" 2>&1 | awk '/Throughput/ {print $(NF-1)}' | tail -1; }
# FPS, CPU ms per frame of the main / capture / request-waiting threads, and the stage means
fps() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(d['fps'], 'cpu/frame', d.get('cpu_ms_per_frame'), d.get('stages_ms'))" "$1"; }
ovd() { python3 -m ovdemo "$@"; }
for r in 1 2; do
  echo "raw $(raw "$PD")"
  ovd detect -m person-detection-0202 --precision FP16 -i "$V/people-detection.264" --loop --max-frames 6000 --no-show --metrics-json "$O/d$r.json" >/dev/null 2>&1
  echo "detect 1 stream: $(fps "$O/d$r.json")"
done
for k in 4 8; do
  a=(); for i in $(seq "$k"); do a+=(-i "$V/people-detection.264"); done
  ovd detect -m person-detection-0202 --precision FP16 "${a[@]}" --loop --max-frames 3000 --no-show --metrics-json "$O/s$k.json" >/dev/null 2>&1
  echo "detect $k streams: $(fps "$O/s$k.json")"
done
echo "raw reid $(raw "$M/person-reidentification-retail-0277/FP16/person-reidentification-retail-0277.xml")"
ovd track --reid-model person-reidentification-retail-0277 -i "$V/one-by-one-person-detection.mp4" --no-show --metrics-json "$O/t.json" >/dev/null 2>&1
echo "track: $(fps "$O/t.json")"
HP=$M/human-pose-estimation-0001/FP16-INT8/human-pose-estimation-0001.xml; echo "raw pose $(raw "$HP")"
ovd pose -i "$V/people-detection.264" --loop --max-frames 3000 --no-show --metrics-json "$O/p.json" >/dev/null 2>&1
echo "pose: $(fps "$O/p.json")"; echo "raw $(raw "$PD")"
# the pipeline's own ceiling: the same families on null models of their outputs, against decoding alone
BENCH_FAMILIES=detect,track,pose BENCH_FRAMES=${BENCH_FRAMES:-6000} python3 tests/bench/bench_pipeline.py
# several processes on one machine (--cpus, --workers): sums of FPS against one process
P=$(nproc); H=$((P/2)); Q=$((P/4)); N=${N:-3000}
det() { python3 -m ovdemo detect -m person-detection-0202 --precision FP16 -i "$V/people-detection.264" --loop --max-frames $N --no-show "$@" >/dev/null 2>&1; }
sum() { python3 -c "import json,sys; f=[json.load(open(a))['fps'] for a in sys.argv[1:]]; print(round(sum(f),1), f)" "$@"; }
det --metrics-json $O/one.json; echo "1 process: $(sum $O/one.json)"
det --cpus 0-$((H-1)) --metrics-json $O/h0.json & a=$!; det --cpus $H-$((P-1)) --metrics-json $O/h1.json & b=$!; wait $a $b; echo "2 x --cpus halves: $(sum $O/h0.json $O/h1.json)"
ps=(); for q in 0 1 2 3; do det --cpus $((q*Q))-$((q*Q+Q-1)) --metrics-json $O/q$q.json & ps+=($!); done; wait "${ps[@]}"; echo "4 x --cpus quarters: $(sum $O/q?.json)"
det --nthreads $H --metrics-json $O/n0.json & a=$!; det --nthreads $H --metrics-json $O/n1.json & b=$!; wait $a $b; echo "2 x --nthreads $H, no --cpus: $(sum $O/n0.json $O/n1.json)"
s=(); for i in $(seq 7); do s+=(-i "$V/people-detection.264"); done
det "${s[@]}" --max-frames $((N/4)) --metrics-json $O/s8.json; echo "8 streams, 1 process: $(sum $O/s8.json)"
det "${s[@]}" --max-frames $((N/4)) --workers 4 --metrics-json $O/w4.json; echo "8 streams, --workers 4: $(sum $O/w4.json)"
