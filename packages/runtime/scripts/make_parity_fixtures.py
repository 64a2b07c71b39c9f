#!/usr/bin/env python3
"""PyTorch references for packages/runtime/test/architectures.test.ts.

Rebuilds the random-init checkpoints of test/random-model.ts bit for bit with numpy (the same counter
hash, scales and dtype rounding: the formula is documented at the top of random-model.ts), loads each
with transformers' AutoModelForCausalLM (float64, eager attention), and writes --out/<key>.json with
the prompt ids, the logits of every prompt position, and greedy ids + log-probabilities (KV-cached
decoding, argmax). Needs numpy, torch and transformers; a CUDA device is used when present.
(transformers forms RoPE angles in f32 even in a float64 model: ~1e-6 of the largest logit here.)

  python make_parity_fixtures.py --out fixtures/parity            # references (torch)
  python make_parity_fixtures.py --out /tmp/hf --weights-only     # just the HF folders (numpy only)
"""

import argparse
import json
import os
import tempfile

import numpy as np

M32 = 0xFFFFFFFF


def fmix32(h):
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def hash_u32(seed, t, i):
    """fmix32(seed ^ (t+1)*0x9E3779B1 ^ i*0x85EBCA6B) mod 2^32, i a uint32 array."""
    key = np.uint32((seed ^ ((t + 1) * 0x9E3779B1)) & M32)
    return fmix32(key ^ (np.asarray(i, dtype=np.uint32) * np.uint32(0x85EBCA6B)))


def unit(seed, t, n):
    """((hash >> 8) - 2^23) * 2^-23 for i = 0..n-1, in [-1, 1), as float64 (exact)."""
    h = hash_u32(seed, t, np.arange(n, dtype=np.uint32))
    return ((h >> np.uint32(8)).astype(np.int64) - 2**23).astype(np.float64) * 2.0**-23


def plan(c):
    """Every tensor in random-model.ts's tensorPlan() order: (name, shape, kind)."""
    h, inter, heads = c["hidden_size"], c["intermediate_size"], c["num_attention_heads"]
    kv = c.get("num_key_value_heads", heads)
    hd = c.get("head_dim", h // heads)
    vocab = c["vocab_size"]
    out = [("model.embed_tokens.weight", [vocab, h], "embed")]
    for layer in range(c["num_hidden_layers"]):
        p = f"model.layers.{layer}"
        a = f"{p}.self_attn"
        out += [
            (f"{p}.input_layernorm.weight", [h], "norm"),
            (f"{a}.q_proj.weight", [heads * hd, h], "linear"),
            (f"{a}.k_proj.weight", [kv * hd, h], "linear"),
            (f"{a}.v_proj.weight", [kv * hd, h], "linear"),
        ]
        if c["model_type"] == "qwen2":
            rows = (("q", heads * hd), ("k", kv * hd), ("v", kv * hd))
            out += [(f"{a}.{x}_proj.bias", [n], "bias") for x, n in rows]
        if c["model_type"] == "qwen3":
            out += [(f"{a}.q_norm.weight", [hd], "norm"), (f"{a}.k_norm.weight", [hd], "norm")]
        out += [
            (f"{a}.o_proj.weight", [h, heads * hd], "linear"),
            (f"{p}.post_attention_layernorm.weight", [h], "norm"),
            (f"{p}.mlp.gate_proj.weight", [inter, h], "linear"),
            (f"{p}.mlp.up_proj.weight", [inter, h], "linear"),
            (f"{p}.mlp.down_proj.weight", [h, inter], "linear"),
        ]
    out.append(("model.norm.weight", [h], "norm"))
    if c.get("tie_word_embeddings") is not True:
        out.append(("lm_head.weight", [vocab, h], "lm_head"))
    return out


def log2_scale(name, shape, kind):
    if kind in ("embed", "lm_head", "bias", "norm"):
        return {"embed": -4, "lm_head": -1, "bias": -2, "norm": -3}[kind]
    e = 0
    while 4**e < shape[1]:
        e += 1
    return 2 - e if (".q_proj." in name or ".k_proj." in name) else -e


def stored(seed, t, name, shape, kind, dtype):
    """(safetensors dtype, raw little-endian bytes) of tensor t."""
    u = unit(seed, t, int(np.prod(shape)))
    s = 2.0 ** log2_scale(name, shape, kind)
    v = (1.0 + u * s if kind == "norm" else u * s).astype(np.float32)  # one rounding from f64 (norms)
    if dtype == "F32":
        return v.astype("<f4").tobytes()
    if dtype == "F16":
        return v.astype("<f2").tobytes()  # round to nearest even
    b = v.view(np.uint32)
    bf16 = (b + np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)  # nearest even
    return bf16.astype("<u2").tobytes()


def write_hf(case, d):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(case["config"], f, indent=2)
    header, blobs, off = {}, [], 0
    for t, (name, shape, kind) in enumerate(plan(case["config"])):
        data = stored(case["seed"], t, name, shape, kind, case["dtype"])
        header[name] = {"dtype": case["dtype"], "shape": shape, "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + b"".join(blobs))


def prompt_ids(seed, vocab, n):
    return [int(x) % vocab for x in hash_u32(seed, 999, np.arange(n, dtype=np.uint32))]


# --- the cases of architectures.test.ts (keep in sync: same configs, seeds, dtypes, lengths) ---
def llama(**extra):
    c = dict(
        architectures=["LlamaForCausalLM"], model_type="llama", hidden_act="silu", hidden_size=64,
        intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        vocab_size=300, rms_norm_eps=1e-5, rope_theta=10000, max_position_embeddings=256,
        tie_word_embeddings=False, attention_bias=False, mlp_bias=False, bos_token_id=1, eos_token_id=2,
        torch_dtype="float32",
    )
    c.update(extra)
    return c


LLAMA3 = llama(rope_theta=500000, rope_scaling=dict(
    rope_type="llama3", factor=8, low_freq_factor=1, high_freq_factor=4, original_max_position_embeddings=64))
QWEN2 = dict(
    architectures=["Qwen2ForCausalLM"], model_type="qwen2", hidden_act="silu", hidden_size=64, intermediate_size=96,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, vocab_size=300, rms_norm_eps=1e-6,
    rope_theta=1000000, max_position_embeddings=512, tie_word_embeddings=True, use_sliding_window=False,
    sliding_window=4096, max_window_layers=2, bos_token_id=1, eos_token_id=2, torch_dtype="float32",
)
QWEN3 = dict(
    architectures=["Qwen3ForCausalLM"], model_type="qwen3", hidden_act="silu", hidden_size=64, intermediate_size=96,
    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, head_dim=32, vocab_size=300,
    rms_norm_eps=1e-6, rope_theta=1000000, max_position_embeddings=512, tie_word_embeddings=True,
    attention_bias=False, use_sliding_window=False, max_window_layers=2, bos_token_id=1, eos_token_id=2,
    torch_dtype="float32",
)
SMOLLM2_2L = llama(
    hidden_size=576, intermediate_size=1536, num_hidden_layers=2, num_attention_heads=9, num_key_value_heads=3,
    head_dim=64, vocab_size=49152, rms_norm_eps=1e-5, rope_theta=100000, max_position_embeddings=8192,
    tie_word_embeddings=True, bos_token_id=0, eos_token_id=0,
)
LLAMA_LINEAR = llama(num_key_value_heads=4, intermediate_size=160, rope_scaling=dict(rope_type="linear", factor=2))

CASES = [
    dict(key="llama3", config=LLAMA3, seed=1, dtype="F32"),
    dict(key="qwen2", config=QWEN2, seed=2, dtype="F32"),
    dict(key="qwen3", config=QWEN3, seed=3, dtype="F32"),
    dict(key="smollm2_2layers", config=SMOLLM2_2L, seed=4, dtype="F32", prompt_len=4, steps=32),
    dict(key="llama_linear", config=LLAMA_LINEAR, seed=5, dtype="F32"),
    dict(key="llama3_f16", config=LLAMA3, seed=6, dtype="F16"),
    dict(key="qwen3_bf16", config=QWEN3, seed=7, dtype="BF16"),
]


def reference(case, folder, device):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    version = tuple(int(x) for x in transformers.__version__.split(".")[:2])
    dtype_kw = "dtype" if version >= (4, 56) else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", **{dtype_kw: torch.float64})
    model = model.to(device).eval()
    ids = prompt_ids(case["seed"], case["config"]["vocab_size"], case.get("prompt_len", 12))
    with torch.no_grad():
        logits = model(torch.tensor([ids], device=device)).logits[0]
        x, past, greedy, logprobs = torch.tensor([ids], device=device), None, [], []
        for _ in range(case.get("steps", 32)):
            out = model(x, past_key_values=past, use_cache=True)
            past, last = out.past_key_values, out.logits[0, -1]
            tok = int(torch.argmax(last))
            greedy.append(tok)
            logprobs.append(float(torch.log_softmax(last, -1)[tok]))
            x = torch.tensor([[tok]], device=device)
    return {
        "key": case["key"], "seed": case["seed"], "dtype": case["dtype"], "config": case["config"],
        "prompt_ids": ids, "logits": logits.cpu().tolist(), "greedy_ids": greedy, "greedy_logprobs": logprobs,
        "torch": torch.__version__, "transformers": transformers.__version__, "compute": "float64 eager",
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--weights-only", action="store_true", help="write <out>/<key>/ HF folders, no torch")
    ap.add_argument("--only", nargs="*", help="case keys (default: all)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    cases = [c for c in CASES if not args.only or c["key"] in args.only]
    if args.weights_only:
        for c in cases:
            write_hf(c, os.path.join(args.out, c["key"]))
        return
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    for c in cases:
        with tempfile.TemporaryDirectory() as d:
            write_hf(c, d)
            result = reference(c, d, device)
        with open(os.path.join(args.out, f"{c['key']}.json"), "w") as f:
            json.dump(result, f)
        print(c["key"], "greedy", result["greedy_ids"])


if __name__ == "__main__":
    main()
