"""The transformers reference for PRM scoring (the ProcessBench script's way): Qwen2Model in the
given dtype, one forward per trace (or right-padded batches), the Qwen PRM head applied by hand
in f32 at the `<extra_0>` separators.

usage: reference_prm.py PRM_DIR TRACES.json --out PROBS.jsonl [--batch 1,16] [--dtype bf16|f32]
       [--device cuda|cpu] [--limit N]
Prints a JSON summary (traces/s and tokens/s per batch size) on stdout.
"""
import argparse
import json
import sys
import time

import torch

from common import chat_tokenizer, load_qwen2, sync

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
SEP = "<extra_0>"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("prm_dir")
    ap.add_argument("traces")
    ap.add_argument("--out", required=True)
    ap.add_argument("--batch", default="1,16")
    ap.add_argument("--dtype", default="bf16")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    dtype = {"bf16": torch.bfloat16, "f32": torch.float32, "f16": torch.float16}[a.dtype]
    with open(a.traces) as f:
        traces = json.load(f)[: a.limit]
    tok = chat_tokenizer(a.prm_dir)
    sep = tok.convert_tokens_to_ids(SEP)
    inputs = []
    for t in traces:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": t["problem"]},
                    {"role": "assistant", "content": SEP.join(t["steps"]) + SEP}]
        text = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
        ids = tok.encode(text, add_special_tokens=False)
        inputs.append(ids)
    start = time.time()
    model, rest = load_qwen2(a.prm_dir, a.device, dtype, causal_lm=False)
    sync(a.device)
    load_seconds = time.time() - start
    head = {k: v.to(a.device, torch.float32) for k, v in rest.items() if k.startswith("score.")}

    def probs(hidden, ids):
        at = [i for i, x in enumerate(ids) if x == sep]
        rows = hidden[at].float()
        h = torch.relu(rows @ head["score.0.weight"].T + head["score.0.bias"])
        p = torch.softmax(h @ head["score.2.weight"].T + head["score.2.bias"], dim=-1)[:, 1]
        return p.tolist()

    @torch.no_grad()
    def run(batch, items):
        out = []
        for s in range(0, len(items), batch):
            group = items[s:s + batch]
            longest = max(len(x) for x in group)
            ids = torch.zeros((len(group), longest), dtype=torch.long, device=a.device)
            mask = torch.zeros((len(group), longest), dtype=torch.long, device=a.device)
            for i, x in enumerate(group):
                ids[i, : len(x)] = torch.tensor(x, device=a.device)
                mask[i, : len(x)] = 1
            hidden = model(input_ids=ids, attention_mask=mask if batch > 1 else None).last_hidden_state
            out.extend(probs(hidden[i], x) for i, x in enumerate(group))
        return out

    tokens = sum(len(x) for x in inputs)
    rows = []
    with open(a.out, "w") as f:
        for batch in [int(b) for b in a.batch.split(",")]:
            run(batch, inputs[:8])  # warm-up
            sync(a.device)
            start = time.time()
            scored = run(batch, inputs)
            sync(a.device)
            seconds = time.time() - start
            rows.append({"backend": f"transformers {a.device} {a.dtype} sdpa", "batch": batch,
                         "traces": len(inputs), "tokens": tokens, "seconds": seconds,
                         "traces_per_second": len(inputs) / seconds, "tokens_per_second": tokens / seconds,
                         "load_seconds": load_seconds})
            print(f"batch {batch}: {seconds:.2f} s, {len(inputs) / seconds:.2f} traces/s", file=sys.stderr, flush=True)
            for t, x, p in zip(traces, inputs, scored):
                f.write(json.dumps({"id": t["id"], "batch": batch, "tokens": len(x), "probs": p}) + "\n")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
