#!/bin/sh
# bench/builds.sh: one lst build against another on the same machine, in the same run: training
# step time and peak RSS of `lst bench`, rounds alternating (A, B, A, B, ...) so that the
# machine's other tenants weigh on both alike, each build's median over the rounds and the
# ratio B / A (and of each build's fastest step over all rounds, the figure least moved by
# other tenants); and `lst plan`'s predicted peak against B's measured RSS. A refactoring that
# must not cost speed or memory is checked with it (the architecture issue: within 3%).
#
#   OLD=/path/to/old/lst bench/builds.sh            A = $OLD, B = build/lst (this tree)
#   ROUNDS=5 STEPS=3 OLD=... NEW=... bench/builds.sh
#   CONFIGS="t5-small:lst:16:128:3" OLD=... bench/builds.sh   (model:method:B:T:D; lst-bf16
#                                                              = lst --backbone-dtype bf16)
#
# A tree at another commit builds with: git worktree add /tmp/old COMMIT && make -C /tmp/old
set -eu
cd "$(dirname "$0")/.."
OLD=${OLD:?set OLD to the lst binary to compare against}
NEW=${NEW:-build/lst}
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-3}
THREADS=${THREADS:-2}
CONFIGS=${CONFIGS:-"t5-small:lst:16:128:3 t5-small:lst-bf16:16:128:3 t5-small:full:16:128:3 t5-base:lst:8:128:3 t5-base:lst-bf16:8:128:3"}
for b in "$OLD" "$NEW"; do
    "$b" bench --help >/dev/null 2>&1 || { echo "builds: $b has no 'bench' subcommand" >&2; exit 1; }
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "builds: A=$OLD B=$NEW, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $ROUNDS rounds of $STEPS steps" >&2
for c in $CONFIGS; do
    IFS=: read -r model method B T D <<EOF
$c
EOF
    extra=""
    if [ "$method" = lst-bf16 ]; then method=lst; extra="--backbone-dtype bf16"; fi
    args="--model $model --method $method --batch $B --src-len $T --tgt-len $D"
    i=1
    while [ "$i" -le "$ROUNDS" ]; do
        for side in A B; do
            bin=$OLD
            [ $side = B ] && bin=$NEW
            echo "builds: $side $args $extra (round $i)" >&2
            OMP_NUM_THREADS=$THREADS "$bin" bench $args $extra --steps "$STEPS" --json | tail -n 1 \
                > "$tmp/$c.$side.$i" || echo '{"error": "bench failed"}' > "$tmp/$c.$side.$i"
        done
        i=$((i + 1))
    done
    OMP_NUM_THREADS=$THREADS "$NEW" plan $args $extra --json > "$tmp/$c.plan" 2>/dev/null \
        || echo '{}' > "$tmp/$c.plan"
done

python3 - "$tmp" "$ROUNDS" $CONFIGS <<'PY'
import json, statistics, sys
tmp, rounds, configs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
def load(p):
    try:
        with open(p) as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {"error": "unreadable"}
print("%-26s %11s %11s %7s %8s %10s %10s %7s %9s" % ("config", "A step ms", "B step ms", "B/A",
      "min B/A", "A RSS MiB", "B RSS MiB", "B/A", "plan/RSS"))
for c in configs:
    runs = {s: [load("%s/%s.%s.%d" % (tmp, c, s, i)) for i in range(1, rounds + 1)] for s in "AB"}
    if any("error" in r for s in "AB" for r in runs[s]):
        print("%-26s a bench failed: %s" % (c, [r.get("error") for s in "AB" for r in runs[s]]))
        continue
    step = {s: statistics.median(r["step_ms_median"] for r in runs[s]) for s in "AB"}
    rss = {s: statistics.median(r["peak_rss_bytes"] for r in runs[s]) / 2**20 for s in "AB"}
    per_round = [b["step_ms_median"] / a["step_ms_median"] for a, b in zip(runs["A"], runs["B"])]
    # each side's fastest step over every round: the least disturbed by other tenants
    fastest = {s: min(r["step_ms_min"] for r in runs[s]) for s in "AB"}
    total = load("%s/%s.plan" % (tmp, c)).get("total")
    plan = total / 2**20 if total else None
    print("%-26s %11.1f %11.1f %7.3f %8.3f %10.1f %10.1f %7.3f %9s" % (
        c, step["A"], step["B"], step["B"] / step["A"], fastest["B"] / fastest["A"], rss["A"],
        rss["B"], rss["B"] / rss["A"],
        "%.3f" % (plan / rss["B"]) if plan else "-"))
    print("%-26s per-round step ratios B/A: %s" % ("", " ".join("%.3f" % r for r in per_round)))
PY
