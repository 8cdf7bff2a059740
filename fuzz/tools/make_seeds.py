#!/usr/bin/env python3
"""Writes the hand-made seed inputs of fuzz/corpus/ (run from the repository
root; python3 standard library only). Real files from tests/data and data/
are copied as they are; the rest are small, valid examples of each format
so that the fuzzers start past the first checks, and the inputs that once
crashed a target (crash-*). The hash-named files next to them are what long
runs found, merged in with `fuzz_<target> -merge=1 fuzz/corpus/<target>
build-fuzz/corpus/<target>`."""
import json, os, shutil, struct

C = "fuzz/corpus"


def put(target, name, data):
    d = os.path.join(C, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def copy(target, name, src):
    os.makedirs(os.path.join(C, target), exist_ok=True)
    shutil.copyfile(src, os.path.join(C, target, name))


def st(tensors, meta=None):
    """safetensors bytes from [(name, dtype, shape, raw bytes)]."""
    hdr, off, blob = {}, 0, b""
    for name, dt, shape, raw in tensors:
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blob += raw
    if meta is not None:
        hdr["__metadata__"] = meta
    h = json.dumps(hdr, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def i64(*v): return struct.pack("<%dq" % len(v), *v)
def i32(*v): return struct.pack("<%di" % len(v), *v)
def f32(*v): return struct.pack("<%df" % len(v), *v)


# ---- safetensors
for m in ("t5-tiny-relu", "t5-tiny-gated"):
    copy("safetensors", m + "-batch.safetensors", "tests/data/%s/batch.safetensors" % m)
put("safetensors", "dtypes.safetensors", st([
    ("a", "F32", [2, 2], f32(1, 2, 3, 4)), ("b", "F16", [3], b"\x00\x3c\x00\xc0\x01\x00"),
    ("c", "BF16", [1], b"\x80\x3f"), ("d", "I64", [1], i64(-5)), ("e", "I32", [2], i32(7, 8)),
    ("f", "U8", [3], b"xyz")], {"format": "pt"}))
put("safetensors", "empty-tensors.safetensors", st([
    ("z", "F32", [0, 4], b""), ("s", "F32", [], f32(2.5)), ("w\"e\\ird\u00e9", "I32", [1, 1, 1], i32(3))]))
put("safetensors", "empty-header.safetensors", st([], {}))

# ---- batch
for m in ("t5-tiny-relu", "t5-tiny-gated"):
    copy("batch", m + ".safetensors", "tests/data/%s/batch.safetensors" % m)
put("batch", "labels-only.safetensors", st([
    ("input_ids", "I64", [1, 4], i64(5, 6, 7, 1)), ("labels", "I64", [1, 3], i64(8, 1, -100))]))
put("batch", "i32-masks.safetensors", st([
    ("input_ids", "I32", [2, 3], i32(4, 5, 1, 9, 1, 0)), ("attention_mask", "I32", [2, 3], i32(1, 1, 1, 1, 1, 0)),
    ("decoder_input_ids", "I32", [2, 2], i32(0, 3, 0, 4)), ("decoder_attention_mask", "I32", [2, 2], i32(1, 1, 1, 0)),
    ("labels", "I32", [2, 2], i32(3, 1, 4, -100))]))
put("batch", "no-labels.safetensors", st([
    ("input_ids", "I64", [1, 2], i64(3, 1)), ("decoder_input_ids", "I64", [1, 1], i64(0))]))

# found by fuzz_batch: a refused file leaked what lst_st_open had taken
put("batch", "crash-leak-failed-open", b"\x08\x00\x00\x00\x00\x00\x00")

# ---- config.json
copy("t5_config", "tiny-relu.json", "tests/data/t5-tiny-relu/config.json")
copy("t5_config", "tiny-gated.json", "tests/data/t5-tiny-gated/config.json")
copy("t5_config", "t5-base.json", "data/t5/config.json")
put("t5_config", "v11.json", json.dumps({
    "model_type": "t5", "d_model": 8, "d_ff": 12, "d_kv": 4, "num_heads": 2, "num_layers": 2,
    "num_decoder_layers": 1, "vocab_size": 40, "dense_act_fn": "gelu_new", "is_gated_act": True,
    "tie_word_embeddings": False, "dropout_rate": 0.0, "layer_norm_epsilon": 1e-5}))
put("t5_config", "empty-object.json", "{}")

# ---- side config: two bytes of backbone layer counts (n - 1), then the JSON
for m in ("t5-tiny-relu", "t5-tiny-gated"):
    with open("tests/data/%s/lst_golden.json" % m, "rb") as f:
        put("side_config", m + "-lst_golden.json", b"\x02\x02" + f.read())
put("side_config", "init.json", b"\x0b\x0b" + json.dumps({
    "r": 8, "encoder_side_layers": [1, 2, 3, 5, 6, 7, 9, 10, 11], "decoder_side_layers": None,
    "init": "fisher", "gate_T": 0.5, "adamw": {"lr": 3e-3, "steps": 0}}).encode())
put("side_config", "minimal.json", b"\x00\x00{}")

# ---- GLUE / custom data: byte 0 = loader (0 tsv, 1 jsonl, 2.. tasks) + 10 x truncation
SEP = "\n#SPLIT#\n"


def head(path, n):
    with open(path, encoding="utf-8") as f:
        return "".join(f.readline() for _ in range(n))


put("glue", "sst2", bytes([3]) + (head("data/glue/SST-2/train.tsv", 6) + SEP +
                                  head("data/glue/SST-2/dev.tsv", 5)).encode())
put("glue", "rte", bytes([8 + 30]) + (head("data/glue/RTE/train.tsv", 3) + SEP +
                                      head("data/glue/RTE/dev.tsv", 4)).encode())
put("glue", "cola", bytes([2]) + "gj04\t1\t\tThe book was read.\ngj04\t0\t*\tRead the book was.\n".encode())
put("glue", "mnli", bytes([6]) + (
    "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\t"
    "sentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
    "0\t1\t1e\tslate\tb\tb\tp\tp\tP.\tH.\tneutral\tneutral\n").encode())
put("glue", "stsb", bytes([9]) + (
    "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
    "0\tmain-captions\tMSRvid\t2012test\t0001\tnone\tnone\tA plane.\tAn air plane.\t4.45\n").encode())
put("glue", "mrpc", bytes([4]) + "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n1\t1\t2\tA.\tB.\r\n".encode())
put("glue", "custom-tsv", bytes([0]) + "id\tsource\ttarget\n1\tIs it \"so\"? \tyes\n2\tnot really\tno".encode())
lines = head("tests/data/tokenizer/t5_glue_samples.jsonl", 3).splitlines()
put("glue", "custom-jsonl", bytes([21]) + "".join(
    json.dumps({"source": json.loads(l)["text"], "target": "y\u00e9s"}) + "\n" for l in lines).encode())

# ---- tokenizer: model inputs as the GLUE formatting makes them
for i, l in enumerate(head("tests/data/tokenizer/t5_glue_samples.jsonl", 4).splitlines()):
    put("tokenizer", "sample%d" % i, json.loads(l)["text"])
put("tokenizer", "unicode", "caf\u00e9 \u00fcber \u65e5\u672c <extra_id_0> \U0001F600\t  x\u00a0y")
put("tokenizer", "ids", i32(3, 12600, 7142, 10, 32099, 1, 0, 5))

# ---- options: NUL-separated argv of lst train
for name, args in {
    "full": ["--model", "M", "--task", "sst2", "--out", "R", "--r", "8", "--side-layers", "1,2,3",
             "--lr", "3e-3", "--epochs", "20", "--batch", "100", "--seed", "0", "--quiet"],
    "resume": ["--resume", "R", "--quiet"],
    "help": ["--model", "M", "--help"],
    "flags": ["--model", "M", "--full-vocab", "--no-backbone-dropout", "--max-steps", "1099511627776"],
}.items():
    put("args", name, "\0".join(args))
