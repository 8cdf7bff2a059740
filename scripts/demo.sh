#!/usr/bin/env bash
# The main job on bundled defaults: Ladder Side-Tuning of a tiny random T5
# (made here by `lst init`, the real 32128-token vocabulary) on SST-2 from
# the vendored GLUE files, then its metrics. A few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
LST=${LST:-build/lst}
OUT=${OUT:-demo}
mkdir -p "$OUT"
[ -f "$OUT/t5-tiny/model.safetensors" ] || $LST init --preset t5-tiny --out "$OUT/t5-tiny" --seed 0
RUN="$OUT/sst2-lst"
if [ -f "$RUN/metrics.json" ]; then
    echo "demo: $RUN already trained (remove it to train again)"
elif [ -f "$RUN/checkpoint.safetensors" ]; then
    $LST train --resume "$RUN"
else
    $LST train --model "$OUT/t5-tiny" --task sst2 --data data/glue --out "$RUN" \
        --r 4 --epochs 1 --max-steps 2000 --batch 32 --warmup 100 --fisher-samples 256 \
        --checkpoint-every 500 --seed 0
fi
echo "sst2 sentence: a gripping , funny and moving film ." | $LST predict --run "$RUN"
$LST eval --run "$RUN" --split test
echo "demo: run directory $RUN (metrics.json, log.csv, side.safetensors)"
