#!/bin/sh
# bench/run.sh: lst against its PyTorch peers on the same machine, same shapes, one after the
# other (never concurrently): training step time, tokens/s and peak memory, with their ratios
# and the targets of the CPU performance issue. `make bench` runs it. Two sets of rows:
#  - the spec peer (bench/peers/bench_torch.py: our own PyTorch T5 + LST on Debian's torch 1.13,
#    the exactness peer), on random weights of the preset's shape (CONFIGS);
#  - the Hugging Face peers (bench/peers/bench_hf.py on the environment of bench/setup-peers.sh:
#    transformers' T5ForConditionalGeneration, PEFT LoRA and prompt tuning, LST on HF modules),
#    on the checkpoint `lst init --preset MODEL` writes, which both sides load (HF_CONFIGS);
#    lst's LST is also set against each HF baseline.
#
#   bench/run.sh                 the configurations below, STEPS timed steps each (default 3)
#   STEPS=5 bench/run.sh         more steps
#   ROUNDS=3 bench/run.sh        each configuration measured 3 times, lst and peer alternating;
#                                each side's median over the rounds, and the per-round ratio range
#                                (the machine's other tenants move single runs by 10-15%)
#   QUICK=1 bench/run.sh         t5-tiny shapes only: a smoke test of the harness
#   CONFIGS="t5-base:lst:8:128:3" bench/run.sh   chosen spec-peer configurations (model:method:B:T:D;
#                                method lst-bf16 = lst with --backbone-dtype bf16); CONFIGS= for none
#   HF_CONFIGS="t5-small:16:128:3:lst,lora" bench/run.sh   chosen HF configurations
#                                (model:B:T:D[:methods], methods among lst, full, lora, prompt;
#                                default all four); HF_CONFIGS= for none
#   LST_BIN=build/lst PYTHON=/usr/bin/python3 PYTHON_HF=bench/.venv-peers/bin/python THREADS=2 \
#       OUT=results.jsonl bench/run.sh
#
# lst side: $LST_BIN bench --model PRESET|DIR --method M --batch B --src-len T --tgt-len D
#           --steps N --json
# peers:    $PYTHON bench/peers/bench_torch.py, $PYTHON_HF bench/peers/bench_hf.py (the same
#           options; float32, THREADS threads)
set -eu
# The whole script is one compound command, parsed before it runs: editing this file during a
# long run (git checkout, an editor) cannot make the running shell read shifted text.
{
cd "$(dirname "$0")/.."
LST_BIN=${LST_BIN:-build/lst}
PYTHON=${PYTHON:-/usr/bin/python3}
PYTHON_HF=${PYTHON_HF:-bench/.venv-peers/bin/python}
STEPS=${STEPS:-3}
ROUNDS=${ROUNDS:-1}
THREADS=${THREADS:-2}
OUT=${OUT:-}

if [ -n "${CONFIGS+set}" ]; then
    : # given: model:method:batch:source:target ..., e.g. CONFIGS="t5-base:lst:8:128:3"
elif [ "${QUICK:-0}" = 1 ]; then
    CONFIGS="t5-tiny:lst:8:64:3 t5-tiny:full:8:64:3"
else
    # model:method:batch:source:target
    # lst-bf16: LST with the optional bf16 frozen backbone (lst bench --backbone-dtype bf16)
    # against the same float32 peer
    CONFIGS="t5-small:lst:16:128:3 t5-small:lst-bf16:16:128:3 t5-small:full:16:128:3 t5-base:lst:8:128:3 t5-base:lst-bf16:8:128:3"
fi
if [ -n "${HF_CONFIGS+set}" ]; then
    :
elif [ "${QUICK:-0}" = 1 ]; then
    HF_CONFIGS="t5-tiny:8:64:3"
else
    # model:batch:source:target[:methods]: every method on t5-small, LST on t5-base
    HF_CONFIGS="t5-small:16:128:3 t5-base:8:128:3:lst"
fi

if [ -n "$CONFIGS" ] && ! "$PYTHON" -c 'import torch' 2>/dev/null; then
    echo "bench: $PYTHON cannot import torch (Debian: apt-get install python3-torch); CONFIGS= skips the spec peer" >&2
    exit 1
fi
if [ -n "$HF_CONFIGS" ] && ! "$PYTHON_HF" -c 'import transformers, peft' 2>/dev/null; then
    echo "bench: $PYTHON_HF cannot import transformers and peft (run bench/setup-peers.sh): no HF rows" >&2
    HF_CONFIGS=""
fi
have_lst=1
if ! "$LST_BIN" bench --help >/dev/null 2>&1; then
    echo "bench: '$LST_BIN bench' is not available: measuring the peers only" >&2
    have_lst=0
fi

if [ $have_lst = 0 ] && [ -n "$HF_CONFIGS" ]; then
    echo "bench: the HF rows need '$LST_BIN init' for their checkpoint: no HF rows" >&2
    HF_CONFIGS=""
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
echo "bench: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), load $(cut -d' ' -f1-3 /proc/loadavg), $STEPS timed steps after 1 warm-up, peer threads $THREADS" >&2

# measure NAME LST_ARGS PEER_PYTHON PEER_SCRIPT PEER_ARGS: one lst process, then one peer process
measure() {
    name=$1 largs=$2 py=$3 script=$4 pargs=$5
    if [ $have_lst = 1 ]; then
        echo "bench: lst  $largs (round $i)" >&2
        OMP_NUM_THREADS=$THREADS "$LST_BIN" bench $largs --json | tail -n 1 > "$tmp/$name.lst.$i" \
            || echo '{"error": "lst bench failed"}' > "$tmp/$name.lst.$i"
    else
        echo '{}' > "$tmp/$name.lst.$i"
    fi
    echo "bench: peer $script $pargs (round $i)" >&2
    "$py" "$script" $pargs --threads "$THREADS" 2>"$tmp/$name.peer.$i.err" | tail -n 1 > "$tmp/$name.peer.$i" \
        || { tail -n 3 "$tmp/$name.peer.$i.err" >&2; echo '{"error": "peer failed"}' > "$tmp/$name.peer.$i"; }
}

for c in $CONFIGS; do
    IFS=: read -r model method B T D <<EOF
$c
EOF
    extra=""
    if [ "$method" = lst-bf16 ]; then method=lst; extra="--backbone-dtype bf16"; fi
    args="--model $model --method $method --batch $B --src-len $T --tgt-len $D --steps $STEPS"
    i=1
    while [ $i -le "$ROUNDS" ]; do
        measure "$c" "$args $extra" "$PYTHON" bench/peers/bench_torch.py "$args"
        i=$((i + 1))
    done
done

hf_names=""
for c in $HF_CONFIGS; do
    IFS=: read -r model B T D methods <<EOF
$c
EOF
    methods=$(echo "${methods:-lst,full,lora,prompt}" | tr , ' ')
    ck="$tmp/ckpt-$model"  # one checkpoint that both sides load: identical weights
    "$LST_BIN" init --preset "$model" --out "$ck" >/dev/null
    i=1
    while [ $i -le "$ROUNDS" ]; do
        for m in $methods; do
            args="--model $ck --method $m --batch $B --src-len $T --tgt-len $D --steps $STEPS"
            measure "hf:$model:$m:$B:$T:$D" "$args" "$PYTHON_HF" bench/peers/bench_hf.py "$args"
        done
        i=$((i + 1))
    done
    for m in $methods; do hf_names="$hf_names hf:$model:$m:$B:$T:$D"; done
    rm -rf "$ck"
done

"$PYTHON" - "$tmp" "$OUT" "$ROUNDS" "$CONFIGS" "$hf_names" <<'PY'
import json, statistics, sys
tmp, out, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
configs, hf_names = sys.argv[4].split(), sys.argv[5].split()
# targets from the CPU performance issue: ratio lst / peer must be at most this
TARGETS = {("lst", "step"): 0.25, ("lst", "rss"): 0.5, ("full", "step"): 0.5,
           ("lst-bf16", "step"): 0.25, ("lst-bf16", "rss"): 0.5}
HF_NAME = {"full": "HF full", "lora": "PEFT LoRA r32 q,v", "prompt": "PEFT prompt 100", "lst": "LST on HF T5"}


def load(p):
    try:
        with open(p) as f:
            return json.loads(f.read() or "{}")
    except (OSError, ValueError):
        return {"error": "unparsable output"}


def fmt(v, scale=1.0, digits=0):
    return "-" if v is None else f"{v / scale:,.{digits}f}"


def combine(runs):
    """One side's rounds: the median of each number (the first error, if any)."""
    for r in runs:
        if "error" in r:
            return r
    out = dict(runs[0])
    for k, v in runs[0].items():
        if isinstance(v, (int, float)) and all(isinstance(r.get(k), (int, float)) for r in runs):
            out[k] = statistics.median(r[k] for r in runs)
    return out


def runs(name, who):
    return [load(f"{tmp}/{name}.{who}.{i}") for i in range(1, rounds + 1)]


records = []


def row(label, ls, ps, targets=(None, None)):
    """One table row: lst's rounds ls against a peer's rounds ps (per-round ratios: same round)."""
    l, p = combine(ls), combine(ps)
    per_round = [a["step_ms_median"] / b["step_ms_median"] for a, b in zip(ls, ps)
                 if a.get("step_ms_median") and b.get("step_ms_median")]
    rng = f"{min(per_round):.2f}-{max(per_round):.2f}" if len(per_round) > 1 else "-"
    records.append({"row": label, "rounds": rounds, "lst": l, "peer": p, "lst_rounds": ls, "peer_rounds": ps})
    for who, d in (("lst", l), ("peer", p)):
        if "error" in d:
            print(f"bench: {label}: {who}: {d['error']}", file=sys.stderr)

    def ratio(key):
        a, b = l.get(key), p.get(key)
        return a / b if a is not None and b else None

    def verdict(r, t):
        return ("", "") if t is None or r is None else (f"<= {t}", "met" if r <= t else "MISSED")

    rs, rr = ratio("step_ms_median"), ratio("peak_rss_bytes")
    ts, vs = verdict(rs, targets[0])
    tr, vr = verdict(rr, targets[1])
    return [label, fmt(l.get("step_ms_median"), 1, 1), fmt(p.get("step_ms_median"), 1, 1), fmt(rs, 1, 3), rng, ts, vs,
            fmt(l.get("peak_rss_bytes"), 2**20, 1), fmt(p.get("peak_rss_bytes"), 2**20, 1), fmt(rr, 1, 3), tr, vr,
            fmt(l.get("tokens_per_s")), fmt(p.get("tokens_per_s")), fmt(l.get("peak_bytes"), 2**20, 1)]


def table(title, rows, peer):
    if not rows:
        return
    head = ["configuration", "lst ms", f"{peer} ms", "ratio", "rounds", "target", "met?",
            "lst RSS MiB", f"{peer} RSS MiB", "ratio", "target", "met?", "lst tok/s", f"{peer} tok/s", "lst planned MiB"]
    w = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = lambda r: "  ".join(str(x).rjust(w[i]) if i else str(x).ljust(w[i]) for i, x in enumerate(r))
    print(title)
    print(line(head))
    print("  ".join("-" * x for x in w))
    for r in rows:
        print(line(r))
    print()


spec_rows = []
for c in configs:
    model, method, B, T, D = c.split(":")
    spec_rows.append(row(f"{model} {method} B{B} T{T} D{D}", runs(c, "lst"), runs(c, "peer"),
                         (TARGETS.get((method, "step")), TARGETS.get((method, "rss")))))
table("lst against the spec peer (bench_torch.py, Debian torch)", spec_rows, "peer")

hf_rows = []
by_shape = {}
for n in hf_names:
    _, model, m, B, T, D = n.split(":")
    by_shape.setdefault((model, B, T, D), {})[m] = n
for (model, B, T, D), ms in by_shape.items():
    shape = f"{model} B{B} T{T} D{D}"
    for m, n in ms.items():  # like for like: lst's method against its HF/PEFT counterpart
        hf_rows.append(row(f"{shape}: lst {m} / {HF_NAME[m]}", runs(n, "lst"), runs(n, "peer")))
    if "lst" in ms:  # lst's LST against each HF baseline: what switching to lst's LST buys
        for m, n in ms.items():
            if m != "lst":
                hf_rows.append(row(f"{shape}: lst lst / {HF_NAME[m]}", runs(ms["lst"], "lst"), runs(n, "peer")))
table("lst against the Hugging Face peers (bench_hf.py: transformers + PEFT on PyPI torch, same checkpoint)",
      hf_rows, "HF")

print("step = forward + backward + clip + AdamW, median of the timed steps; RSS = whole-process peak"
      " (ru_maxrss); tokens/s = batch x (source + target) / median step; ratio = lst / peer")
print(f"{rounds} round(s), lst and peer alternating: figures are each side's median over the rounds;"
      " 'rounds' is the range of the per-round step ratios")
if hf_rows:
    imp = [r["peer"].get("rss_after_import_bytes") for r in records if r["peer"].get("rss_after_import_bytes")]
    if imp:
        print(f"HF peers' RSS includes {statistics.median(imp) / 2**20:,.0f} MiB resident after importing torch,"
              " transformers and peft, before any model (PyPI's torch is the CUDA build)")
if out:
    with open(out, "a") as f:
        for rec in records:
            f.write(json.dumps(rec) + "\n")
PY
exit
}
