#!/usr/bin/python3
"""check_golden.py: the PyTorch peer (t5_lst_torch.py, float64) against the golden files.

For each model in tests/data/t5-tiny-{relu,gated}: the backbone dump vs golden.safetensors,
the LST dump (lst_side_init + lst_golden.json) vs lst_golden.safetensors, and the pruning
initialisation (magnitude, Fisher, Fisher importance) vs prune_golden.safetensors. Prints the
worst error per file in units of the tolerance of shared/golden/README.md; exits 1 if any
tensor is outside it (ratio > 1).

  /usr/bin/python3 bench/peers/check_golden.py [--data tests/data]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_np as st  # noqa: E402
import t5_lst_torch as peer  # noqa: E402

INPUTS = {"input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask", "labels"}


def tol_ratio(name, got, ref):
    """Max abs error in units of the README tolerance: 1e-4 x max|grad| for gradients (and
    importances), 1e-4 relative for AdamW losses, 1e-4 x max(1, max|value|) otherwise."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.shape != ref.shape:
        return float("inf")
    if ref.size == 0:
        return 0.0
    err = np.abs(got - ref)
    if np.isnan(err).any():
        return float("inf")
    base = name.split(".")[0]
    if base in ("grad", "fisher_importance"):
        tol = 1e-4 * np.abs(ref).max()
        e = err.max()
    elif base == "adamw_losses":
        tol = 1.0
        e = (err / (1e-4 * np.maximum(np.abs(ref), 1e-30))).max()
    else:
        tol = 1e-4 * max(1.0, np.abs(ref).max())
        e = err.max()
    if tol == 0:
        return 0.0 if e == 0 else float("inf")
    return float(e / tol)


def compare(got, ref, names=None):
    """Returns (worst ratio, worst name, [missing names], {name: ratio})."""
    worst, wname, missing, ratios = 0.0, "", [], {}
    for name in sorted(names if names is not None else ref):
        if name in INPUTS:
            continue
        if name not in got:
            missing.append(name)
            continue
        q = tol_ratio(name, got[name], ref[name])
        ratios[name] = q
        if not q <= worst:
            worst, wname = q, name
    return worst, wname, missing, ratios


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "tests", "data"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    ok = True
    rows = []
    for model in ("t5-tiny-relu", "t5-tiny-gated"):
        d = os.path.join(a.data, model)
        batch = os.path.join(d, "batch.safetensors")
        # backbone
        got = peer.run_dump(d, batch, out_dtype=np.float64)
        ref = st.load(os.path.join(d, "golden.safetensors"))
        rows.append((model, "golden.safetensors", *compare(got, ref)[:3],
                     sorted(set(got) - set(ref))))
        # LST
        got = peer.run_dump(d, batch, os.path.join(d, "lst_side_init.safetensors"),
                            os.path.join(d, "lst_golden.json"), out_dtype=np.float64)
        ref = st.load(os.path.join(d, "lst_golden.safetensors"))
        with open(os.path.join(d, "lst_golden.json")) as f:
            losses = json.load(f)["losses"]
        extra = sorted(set(got) - set(ref))
        rows.append((model, "lst_golden.safetensors", *compare(got, ref)[:3], extra))
        q = tol_ratio("adamw_losses", got["adamw_losses"], np.array(losses))
        rows.append((model, "lst_golden.json losses", q, "adamw_losses", [], []))
        # pruning init
        cfg, W = peer.load_model(d, torch.float64)
        b = peer.load_batch(batch, cfg)
        pref = st.load(os.path.join(d, "prune_golden.safetensors"))
        opts = peer.SideOpts(cfg, r=4)
        Wn = {k: v.numpy() for k, v in W.items()}
        for kind in ("magnitude", "fisher"):
            if kind == "magnitude":
                imp = {k: np.abs(v) for k, v in Wn.items()}
            else:
                imp = peer.fisher_importance(W, cfg, b)
                gi = {"fisher_importance." + k: v for k, v in imp.items()}
                rr = {k: v for k, v in pref.items() if k.startswith("fisher_importance.")}
                rows.append((model, "prune_golden fisher_importance.*", *compare(gi, rr)[:3], []))
            chain = peer.prune_init(Wn, imp, cfg, opts.r)
            gk = {f"{kind}.{k}": v for k, v in chain.items()}
            rr = {k: v for k, v in pref.items() if k.startswith(kind + ".")}
            rows.append((model, f"prune_golden {kind}.*", *compare(gk, rr)[:3], sorted(set(gk) - set(rr))))
    print(f"{'model':15s} {'file':34s} {'worst x tol':>11s}  tensor")
    for model, fname, worst, wname, missing, extra in rows:
        bad = not worst <= 1.0 or missing
        ok &= not bad
        print(f"{model:15s} {fname:34s} {worst:11.4f}  {wname}" + ("  FAIL" if bad else ""))
        if missing:
            print(f"   missing from the peer: {missing[:8]}{' ...' if len(missing) > 8 else ''}")
        if extra:
            print(f"   written by the peer, not in the golden file: {extra[:8]}{' ...' if len(extra) > 8 else ''}")
    print("golden check:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
