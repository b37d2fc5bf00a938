"""Random-weight checkpoints with the exact shapes of real models, for scripts/gpu-check.sh.

usage: make_checkpoints.py OUT TOKENIZER_DIR [--tiny] [--device=cpu] [--only=prm7b|qwen1.5b]

OUT/prm7b:    Qwen2ForProcessRewardModel with Qwen2.5-Math-PRM-7B's config (28 layers, hidden
              3584, 28 heads / 4 KV heads, intermediate 18944, vocab 152064, the 2-layer `score`
              head), bf16 safetensors in shards with an index.
OUT/qwen1.5b: Qwen2ForCausalLM with Qwen2.5-1.5B's config (tied embeddings), bf16.
Both get TOKENIZER_DIR's tokenizer.json and tokenizer_config.json (written by
`stepscope models tokenizer qwen2.5-coder-0.5b --add-special '<extra_0>'`).
--tiny: the same files with small shapes (to try the pipeline on a CPU).
Weights are N(0, gain²/fan_in), norms 1, the embedding N(0, 1); see `normal` for why not
transformers' N(0, 0.02): the PRM's probabilities must vary from step to step for the
first-error comparison to mean anything.
"""
import json
import os
import shutil
import sys
import time

import torch
from safetensors.torch import save_file

PRM_7B = dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
              intermediate_size=18944, vocab_size=152064, max_position_embeddings=4096, rope_theta=10000.0,
              tie_word_embeddings=False)
QWEN_15B = dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                intermediate_size=8960, vocab_size=151936, max_position_embeddings=32768, rope_theta=1000000.0,
                tie_word_embeddings=True)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=128)


def config_json(shape, architecture):
    c = dict(shape)
    c.update(model_type="qwen2", architectures=[architecture], hidden_act="silu", rms_norm_eps=1e-6,
             torch_dtype="bfloat16", use_sliding_window=False, sliding_window=None, attention_dropout=0.0,
             bos_token_id=151643, eos_token_id=151645, initializer_range=0.02, use_cache=True)
    if architecture == "Qwen2ForProcessRewardModel":
        c["num_labels"] = 2
    return c


def tensors(shape, gen, device, prm):
    h, ff, v = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
    hd = h // shape["num_attention_heads"]
    kv = shape["num_key_value_heads"] * hd

    def normal(*dims, gain=1.0):
        # gain / sqrt(fan in): the same statistics at every width, so the tiny version behaves
        # like the real one; q and k get gain 2 so attention is peaked and the hidden state at a
        # step's separator depends on that step (with N(0, 0.02) every separator scores alike).
        std = gain / dims[-1] ** 0.5 if len(dims) == 2 else 0.1
        t = torch.empty(*dims, dtype=torch.bfloat16, device=device)
        return t.normal_(0.0, std, generator=gen)

    def ones(n):
        return torch.ones(n, dtype=torch.bfloat16, device=device)

    yield "model.embed_tokens.weight", normal(v, h, gain=h ** 0.5)
    for i in range(shape["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", ones(h)
        yield p + "post_attention_layernorm.weight", ones(h)
        yield p + "self_attn.q_proj.weight", normal(h, h, gain=2.0)
        yield p + "self_attn.q_proj.bias", normal(h)
        yield p + "self_attn.k_proj.weight", normal(kv, h, gain=2.0)
        yield p + "self_attn.k_proj.bias", normal(kv)
        yield p + "self_attn.v_proj.weight", normal(kv, h)
        yield p + "self_attn.v_proj.bias", normal(kv)
        yield p + "self_attn.o_proj.weight", normal(h, h)
        yield p + "mlp.gate_proj.weight", normal(ff, h)
        yield p + "mlp.up_proj.weight", normal(ff, h)
        yield p + "mlp.down_proj.weight", normal(h, ff)
    yield "model.norm.weight", ones(h)
    if prm:
        yield "score.0.weight", normal(h, h)
        yield "score.0.bias", normal(h)
        yield "score.2.weight", normal(2, h, gain=2.0)
        yield "score.2.bias", torch.tensor([-0.25, 0.25], dtype=torch.bfloat16, device=device)
    elif not shape["tie_word_embeddings"]:
        yield "lm_head.weight", normal(v, h)


def write(out, shape, architecture, tokenizer_dir, device, seed):
    os.makedirs(out, exist_ok=True)
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    prm = architecture == "Qwen2ForProcessRewardModel"
    shard, shard_bytes, shards, weight_map = {}, 0, [], {}

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            name = f"model-{len(shards) + 1:05d}.safetensors"
            save_file(shard, os.path.join(out, name), metadata={"format": "pt"})
            shards.append(name)
            for k in shard:
                weight_map[k] = name
            shard, shard_bytes = {}, 0

    for name, t in tensors(shape, gen, device, prm):
        shard[name] = t.cpu()
        shard_bytes += t.numel() * 2
        if shard_bytes >= 4 << 30:
            flush()
    flush()
    total = sum(os.path.getsize(os.path.join(out, s)) for s in shards)
    with open(os.path.join(out, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config_json(shape, architecture), f, indent=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(tokenizer_dir, name), out)
    return total


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 2:
        sys.exit(__doc__)
    out, tokenizer_dir = args
    tiny = "--tiny" in sys.argv
    device = "cuda" if torch.cuda.is_available() and "--device=cpu" not in sys.argv else "cpu"
    only = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--only=")]
    report = {}
    for name, shape, arch, seed in [("prm7b", PRM_7B, "Qwen2ForProcessRewardModel", 1),
                                    ("qwen1.5b", QWEN_15B, "Qwen2ForCausalLM", 2)]:
        if only and name not in only:
            continue
        shape = dict(shape, **TINY) if tiny else shape
        start = time.time()
        size = write(os.path.join(out, name), shape, arch, tokenizer_dir, device, seed)
        report[name] = {"bytes": size, "seconds": round(time.time() - start, 1)}
        print(f"{name}: {size / 2**30:.2f} GiB in {time.time() - start:.1f} s", file=sys.stderr, flush=True)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
