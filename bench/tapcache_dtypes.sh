#!/bin/sh
# bench/tapcache_dtypes.sh: what a bf16 or f16 tap cache does to a run (issue 15). The demo's
# tiny SST-2 setting (t5-tiny random backbone, r 4) on the first MAX_TRAIN training examples for
# EPOCHS epochs, so every example's taps are read from the cache EPOCHS - 1 times; for each seed,
# the backbone in eval mode with an f32 cache (exact: the run without a cache), then bf16, then
# f16. Prints per run the final and mean training loss, the validation and test accuracy, and per
# dtype the mean and spread over the seeds, and the largest difference from f32 in the loss curve.
#
#   bench/tapcache_dtypes.sh                    seeds 0 1 2, 4000 examples, 6 epochs
#   SEEDS="0 1" MAX_TRAIN=2000 EPOCHS=4 bench/tapcache_dtypes.sh
set -eu
{
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
SEEDS=${SEEDS:-0 1 2}
MAX_TRAIN=${MAX_TRAIN:-4000}
EPOCHS=${EPOCHS:-6}
WORK=${WORK:-$(mktemp -d)}
[ -f "$WORK/tiny/config.json" ] || "$LST_BIN" init --preset t5-tiny --out "$WORK/tiny" --seed 0 >/dev/null
for seed in $SEEDS; do
    for dt in f32 bf16 f16; do
        echo "tapcache_dtypes: seed $seed, $dt" >&2
        rm -rf "$WORK/run-$seed-$dt"
        "$LST_BIN" train --model "$WORK/tiny" --task sst2 --r 4 --batch 32 --epochs "$EPOCHS" \
            --max-train "$MAX_TRAIN" --warmup 100 --fisher-samples 256 --no-backbone-dropout \
            --seed "$seed" --tap-cache memory --tap-cache-dtype "$dt" --quiet \
            --out "$WORK/run-$seed-$dt" >/dev/null
    done
done
python3 - "$WORK" $SEEDS <<'PY'
import csv, json, statistics, sys
work, seeds = sys.argv[1], sys.argv[2:]
def run(seed, dt):
    d = f"{work}/run-{seed}-{dt}"
    m = json.load(open(d + "/metrics.json"))
    loss = [float(r["loss"]) for r in csv.DictReader(open(d + "/log.csv"))]
    return {"val": m["validation"]["score"], "test": m["test"]["score"], "loss": loss}
R = {(s, dt): run(s, dt) for s in seeds for dt in ("f32", "bf16", "f16")}
print("seed dtype  final loss  mean loss  max |loss - f32 loss|  validation  test")
for s in seeds:
    for dt in ("f32", "bf16", "f16"):
        r, f = R[(s, dt)], R[(s, "f32")]
        dev = max(abs(a - b) for a, b in zip(r["loss"], f["loss"]))
        print(f"{s:4s} {dt:5s} {r['loss'][-1]:11.4f} {statistics.mean(r['loss']):10.4f} {dev:22.5f}"
              f" {r['val']:11.2f} {r['test']:5.2f}")
print("dtype  validation mean (min-max)   test mean (min-max)")
for dt in ("f32", "bf16", "f16"):
    v = [R[(s, dt)]["val"] for s in seeds]
    t = [R[(s, dt)]["test"] for s in seeds]
    print(f"{dt:5s}  {statistics.mean(v):6.2f} ({min(v):.2f}-{max(v):.2f})      "
          f"{statistics.mean(t):6.2f} ({min(t):.2f}-{max(t):.2f})")
PY
}
