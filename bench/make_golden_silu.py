"""make_golden_silu.py: tests/data/t5-tiny-silu, the golden backbone tensors of a gated-silu T5
(UL2's and Flan-UL2's feed_forward_proj) computed by transformers in float64.

A small random checkpoint (d_model 32, 2 heads x 16, d_ff 48, 2 encoder + 2 decoder layers, untied,
vocabulary 96; weights scaled like transformers' T5 init), a ragged batch past the near relative
buckets, and golden.safetensors with lst dump's names: logits, loss, encoder_tap.i, decoder_tap.i,
both last hidden states and the gradient of every parameter, from T5ForConditionalGeneration in
float64 (T5LayerNorm patched to take its variance in float64; transformers takes it in float32).
tests/test_golden_t5.c compares lst dump with it at the golden tolerances. Re-running writes the
same files (fixed seed).

  bench/.venv-peers/bin/python bench/make_golden_silu.py [--out tests/data/t5-tiny-silu]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "peers"))
import crosscheck as cc  # noqa: E402
import crosscheck_hf as xh  # noqa: E402
import safetensors_np as st  # noqa: E402
from transformers.models.t5 import modeling_t5  # noqa: E402

CASE = dict(name="t5-tiny-silu", d_model=32, num_heads=2, d_kv=16, d_ff=48, ffn="gated-silu", tie=False,
            enc=2, dec=2, B=2, Ts=40, Td=4, dec_mask=False)
VOCAB = 96


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(HERE), "tests", "data", "t5-tiny-silu"))
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.RandomState(2026)
    cfg = cc.hf_config(CASE, VOCAB)
    cfg["dropout_rate"] = 0.0
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    W = cc.random_checkpoint(CASE, rng, VOCAB)
    st.save(os.path.join(a.out, "model.safetensors"), {k: v.astype(np.float32) for k, v in W.items()})
    batch = cc.random_batch(CASE, rng, VOCAB)
    st.save(os.path.join(a.out, "batch.safetensors"), batch)
    modeling_t5.T5LayerNorm.forward = xh.layer_norm_in_dtype
    ref, _ = xh.hf_backbone(a.out, batch, torch.float64)
    st.save(os.path.join(a.out, "golden.safetensors"), {k: v.astype(np.float32) for k, v in ref.items()})
    print(f"make_golden_silu: {len(ref)} golden tensors in {a.out}; loss {ref['loss'][0]:.6f}")


if __name__ == "__main__":
    sys.exit(main())
