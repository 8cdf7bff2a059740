"""bench_hf.py: the Hugging Face peers of `lst bench`: what users who do not pick lst run.

The model is transformers' T5ForConditionalGeneration loaded from an lst checkpoint directory
(`lst init --preset NAME --out DIR`), so both sides train the same weights; the vocabulary is
shrunk to the tokenizer's 32100 rows as lst does (LST-SPEC section 1). A training step is train
mode (dropout 0.1), forward, backward, gradient clipping at 1.0 and torch.optim.AdamW:
  --method full    every parameter, lr 3e-4
  --method lora    PEFT LoRA r 32 (alpha 32, dropout 0.1) on q and v, lr 3e-4
  --method prompt  PEFT prompt tuning, 100 virtual tokens, lr 0.3
  --method lst     hf_lst.LadderSide (r 8, every layer kept) beside the model, whose forward runs
                   under torch.no_grad(); lr 3e-3
One process per measurement; torch.set_num_threads(--threads), float32; one warm-up step, then
--steps timed steps. Prints one JSON object like bench_torch.py's: step_ms_median, step_ms_min,
tokens_per_s, peak_rss_bytes (ru_maxrss of the whole process), rss_after_import_bytes (the process
after importing torch, transformers and peft, before the model: the libraries' own share).

  bench/.venv-peers/bin/python bench/peers/bench_hf.py --model DIR --method lora --batch 16 \
      --src-len 128 --tgt-len 3 --steps 3
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is fetched from a hub: weights are lst's
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
import peft  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_lst import LadderSide  # noqa: E402

VOCAB = 32100
LR = {"full": 3e-4, "lora": 3e-4, "prompt": 0.3, "lst": 3e-3}


def rss_now():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def build(a):
    model = transformers.T5ForConditionalGeneration.from_pretrained(a.model, dtype=torch.float32)
    if model.config.vocab_size > VOCAB:
        model.resize_token_embeddings(VOCAB)
    side = None
    if a.method == "full":
        params = list(model.parameters())
    elif a.method == "lora":
        cfg = peft.LoraConfig(task_type=peft.TaskType.SEQ_2_SEQ_LM, r=a.lora_rank, lora_alpha=32,
                              lora_dropout=0.1, target_modules=["q", "v"])
        model = peft.get_peft_model(model, cfg)
        params = [p for p in model.parameters() if p.requires_grad]
    elif a.method == "prompt":
        cfg = peft.PromptTuningConfig(task_type=peft.TaskType.SEQ_2_SEQ_LM, num_virtual_tokens=a.prompt_len)
        model = peft.get_peft_model(model, cfg)
        params = [p for p in model.parameters() if p.requires_grad]
    else:
        model.requires_grad_(False)
        side = LadderSide(model.config, r=a.r)
        params = list(side.parameters())
        side.train()
    model.train()
    return model, side, params


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="lst checkpoint directory (config.json + model.safetensors)")
    ap.add_argument("--method", default="lst", choices=sorted(LR))
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--src-len", type=int, default=128)
    ap.add_argument("--tgt-len", type=int, default=3)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--r", type=int, default=8)
    ap.add_argument("--lora-rank", type=int, default=32)
    ap.add_argument("--prompt-len", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rss_import = rss_now()
    model, side, params = build(a)
    opt = torch.optim.AdamW(params, lr=LR[a.method], betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    gen = torch.Generator().manual_seed(1)
    B, T, D = a.batch, a.src_len, a.tgt_len
    times, losses = [], []
    for step in range(a.steps + 1):  # step 0 warms up
        ids = torch.randint(2, VOCAB, (B, T), generator=gen)
        labels = torch.randint(2, VOCAB, (B, D), generator=gen)
        batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
        t0 = time.perf_counter()
        loss = side(model, batch)["loss"] if side is not None else model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        dt = (time.perf_counter() - t0) * 1e3
        losses.append(loss.item())
        del loss
        if step:
            times.append(dt)
    med = statistics.median(times)
    print(json.dumps({
        "impl": f"transformers {transformers.__version__}, peft {peft.__version__}, torch {torch.__version__}",
        "model": a.model, "method": a.method, "batch": B, "src_len": T, "tgt_len": D, "steps": a.steps,
        "threads": a.threads, "step_ms_median": round(med, 3), "step_ms_min": round(min(times), 3),
        "tokens_per_s": round(B * (T + D) / (med / 1e3), 1),
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,  # KiB on Linux
        "rss_after_import_bytes": rss_import, "trainable_params": sum(p.numel() for p in params),
        "loss_first": losses[0], "loss_last": losses[-1],
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
