"""The transformers reference for `stepscope bench`: pp512 (one forward over 512 random tokens,
the LM head on the last position) and tg128 (greedy `generate` of 128 tokens after one token),
mean and sd over repetitions after one warm-up.

usage: reference_gen.py MODEL_DIR [--dtype bf16] [--device cuda] [-p 512] [-n 128] [-r 3]
       reference_gen.py MODEL_DIR --batch 1,4,16,64 [-p 256] [-n 64] [-r 1]

With --batch, the reference for `stepscope bench --batch`: for each B, B copies of one random
prompt of -p tokens, greedy `generate` of -n new tokens each; the decode time is generate's time
less a prefill of the same batch timed alone, and the aggregate decode speed is B·n over it.
"""
import argparse
import json
import statistics
import time

import torch

from common import load_qwen2, sync


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("-p", type=int, default=512)
    ap.add_argument("-n", type=int, default=128)
    ap.add_argument("-r", type=int, default=3)
    ap.add_argument("--batch", default=None, help="comma-separated batch sizes: batched decoding instead")
    a = ap.parse_args()
    dtype = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16}[a.dtype]
    model, _ = load_qwen2(a.model_dir, a.device, dtype, causal_lm=True)
    gen = torch.Generator().manual_seed(12345)
    vocab = model.config.vocab_size
    prompt = torch.randint(0, vocab, (1, a.p), generator=gen).to(a.device)

    @torch.no_grad()
    def pp():
        sync(a.device)
        t = time.time()
        model(input_ids=prompt, logits_to_keep=1)
        sync(a.device)
        return a.p / (time.time() - t)

    @torch.no_grad()
    def tg():
        sync(a.device)
        t = time.time()
        model.generate(input_ids=prompt[:, :1], max_new_tokens=a.n, min_new_tokens=a.n, do_sample=False,
                       pad_token_id=0)
        sync(a.device)
        return a.n / (time.time() - t)

    if a.batch:
        print(json.dumps(batched(model, prompt, a)))
        return
    rows = []
    for name, f in [(f"pp{a.p}", pp), (f"tg{a.n}", tg)]:
        f()
        runs = [f() for _ in range(max(1, a.r))]
        rows.append({"backend": f"transformers {a.device} {a.dtype} sdpa", "test": name,
                     "tokens_per_second": statistics.mean(runs),
                     "sd": statistics.stdev(runs) if len(runs) > 1 else 0.0, "runs": runs})
    print(json.dumps(rows))


def batched(model, prompt, a):
    rows = []
    for b in [int(x) for x in a.batch.split(",")]:
        prompts = prompt.expand(b, -1).contiguous()

        @torch.no_grad()
        def prefill():
            sync(a.device)
            t = time.time()
            model(input_ids=prompts, use_cache=True, logits_to_keep=1)
            sync(a.device)
            return time.time() - t

        @torch.no_grad()
        def whole():
            sync(a.device)
            t = time.time()
            model.generate(input_ids=prompts, attention_mask=torch.ones_like(prompts), max_new_tokens=a.n,
                           min_new_tokens=a.n, do_sample=False, pad_token_id=0)
            sync(a.device)
            return time.time() - t

        prefill(), whole()  # warm-up
        runs = []
        for _ in range(max(1, a.r)):
            pre, gen = prefill(), whole()
            runs.append(b * a.n / max(gen - pre, 1e-9))
        rows.append({"backend": f"transformers {a.device} {a.dtype} sdpa", "sequences": b, "n_prompt": prompt.shape[1],
                     "n_gen": a.n, "decode_tokens_per_second": statistics.mean(runs), "runs": runs})
    return rows


if __name__ == "__main__":
    main()
