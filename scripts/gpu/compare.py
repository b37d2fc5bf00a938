"""Compares stepscope's PRM scores and speed with the transformers reference and writes the
report (markdown) of scripts/gpu-check.sh.

usage: compare.py WORK_DIR REPORT_DIR
Reads from WORK_DIR: stepscope_prm.json, reference_prm.json, stepscope_gen.json,
reference_gen.json (each optional), and from REPORT_DIR stepscope_probs.jsonl and
reference_probs.jsonl. Writes REPORT_DIR/results.json and prints the report.
"""
import json
import os
import sys

THRESHOLD = 0.5


def read_json(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def read_probs(path, key):
    runs = {}
    try:
        with open(path) as f:
            for line in f:
                r = json.loads(line)
                runs.setdefault(r[key], {})[r["id"]] = r
    except OSError:
        pass
    return runs


def first_error(probs):
    for i, p in enumerate(probs):
        if p is not None and p < THRESHOLD:
            return i
    return -1


def agreement(a, b):
    """max and mean |Δp| over steps, share of traces with the same first error, token mismatches."""
    diffs, same, n, token_mismatch = [], 0, 0, 0
    for tid, ra in a.items():
        rb = b.get(tid)
        if rb is None:
            continue
        n += 1
        token_mismatch += ra["tokens"] != rb["tokens"]
        pa, pb = ra["probs"], rb["probs"]
        if len(pa) == len(pb):
            diffs.extend(abs(x - y) for x, y in zip(pa, pb) if x is not None and y is not None)
        same += first_error(pa) == first_error(pb)
    return {"traces": n, "steps": len(diffs), "max_abs_diff": max(diffs, default=None),
            "mean_abs_diff": sum(diffs) / len(diffs) if diffs else None,
            "first_error_agreement": same / n if n else None, "token_count_mismatches": token_mismatch}


def agreement_table(title, pairs, store):
    """A markdown section comparing each (name, run, run) pair; the numbers also go to `store`."""
    fmt = lambda x, f: "–" if x is None else format(x, f)
    lines = [f"## {title}", "",
             "| comparison | traces | steps | max abs Δp | mean abs Δp | same first error | token-count mismatches |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, a, b in pairs:
        g = agreement(a, b)
        store[name] = g
        lines.append(f"| {name} | {g['traces']} | {g['steps']} | {fmt(g['max_abs_diff'], '.2e')} | "
                     f"{fmt(g['mean_abs_diff'], '.2e')} | {fmt(g['first_error_agreement'], '.2%')} | "
                     f"{g['token_count_mismatches']} |")
    return lines + [""]


def batched_generation(results):
    """Aggregate decode t/s per batch size, stepscope against transformers (issue 31)."""
    sb, rb = results["stepscope_gen_batch"] or [], results["reference_gen_batch"] or []
    if not (sb or rb):
        return []
    ours = {r["sequences"]: r["decode_tokens_per_second"] for r in sb}
    ref = {r["sequences"]: r["decode_tokens_per_second"] for r in rb}
    lines = ["## Batched decoding (Qwen2.5-1.5B shapes, random weights, bf16; prompt 256, 64 new tokens each)", "",
             "| sequences | transformers t/s (all) | stepscope t/s (all) | ratio |", "| ---: | ---: | ---: | ---: |"]
    ratio = {}
    for n in sorted(set(ours) | set(ref)):
        o, r = ours.get(n), ref.get(n)
        if o and r:
            ratio[n] = o / r
        cell = lambda v: f"{v:.1f}" if v else "n/a"
        lines.append(f"| {n} | {cell(r)} | {cell(o)} | {f'{ratio[n]:.2f}×' if n in ratio else 'n/a'} |")
    results["batched_generation_ratio"] = ratio
    if ours and ref:
        best = max(ours.values()) / max(ref.values())
        results["batched_generation_best_ratio"] = best
        lines += ["", f"stepscope ÷ transformers, each at its best batch size: {best:.2f}×", ""]
    return lines


def main():
    work, report = sys.argv[1], sys.argv[2]
    ours = read_probs(os.path.join(report, "stepscope_probs.jsonl"), "batch_tokens")
    ref = read_probs(os.path.join(report, "reference_probs.jsonl"), "batch")
    results = {name: read_json(os.path.join(work, name + ".json"))
               for name in ["stepscope_prm", "reference_prm", "stepscope_gen", "reference_gen",
                            "stepscope_gen_batch", "reference_gen_batch", "doctor"]}
    lines = ["# stepscope on the GPU: PRM parity and speed against transformers", ""]
    results["agreement"] = {}
    if 0 in ours and 1 in ref:
        pairs = [("stepscope one pass per trace vs transformers batch 1", ours[0], ref[1])]
        for b, run in ours.items():
            if b != 0:
                pairs.append((f"stepscope packed ≤ {b} tokens vs stepscope one pass per trace", run, ours[0]))
        for b, run in ref.items():
            if b != 1:
                pairs.append((f"transformers batch {b} vs transformers batch 1", run, ref[1]))
        lines += agreement_table("Per-step probabilities (Qwen2.5-Math-PRM-7B shapes, random weights)", pairs,
                                 results["agreement"])
    ours32 = read_probs(os.path.join(report, "stepscope_probs_f32.jsonl"), "batch_tokens")
    ref32 = read_probs(os.path.join(report, "reference_probs_f32.jsonl"), "batch")
    if 0 in ours32 and 1 in ref32:
        pairs = [("stepscope f32 vs transformers f32", ours32[0], ref32[1])]
        if 0 in ours:
            pairs.append(("stepscope bf16 vs transformers f32", ours[0], ref32[1]))
        if 1 in ref:
            pairs.append(("transformers bf16 vs transformers f32", ref[1], ref32[1]))
        lines += agreement_table("f32 parity, and each bf16 path against the f32 result", pairs, results["agreement"])
    sp, rp = results["stepscope_prm"] or [], results["reference_prm"] or []
    if sp or rp:
        lines += ["## PRM scoring throughput (same traces, same GPU, same run)", "",
                  "| backend | batching | traces/s | tokens/s | seconds |", "| --- | --- | ---: | ---: | ---: |"]
        for r in sp:
            mode = "one pass per trace" if r["batch_tokens"] == 0 else f"packed ≤ {r['batch_tokens']} tokens"
            lines.append(f"| {r['backend']} | {mode} | {r['traces_per_second']:.2f} | {r['tokens_per_second']:.0f} | {r['seconds']:.2f} |")
        for r in rp:
            lines.append(f"| {r['backend']} | batch {r['batch']} (padded) | {r['traces_per_second']:.2f} | {r['tokens_per_second']:.0f} | {r['seconds']:.2f} |")
        one = [r for r in sp if r["batch_tokens"] == 0]
        packed = [r for r in sp if r["batch_tokens"] != 0]
        r1 = [r for r in rp if r["batch"] == 1]
        rb = [r for r in rp if r["batch"] != 1]
        ratios = {}
        if one and r1:
            ratios["batch_1"] = one[0]["traces_per_second"] / r1[0]["traces_per_second"]
        if packed and rb:
            ratios["batched"] = max(r["traces_per_second"] for r in packed) / max(r["traces_per_second"] for r in rb)
        results["prm_speed_ratio"] = ratios
        lines += ["", "stepscope ÷ transformers (traces/s): " +
                  ", ".join(f"{k.replace('_', ' ')} {v:.2f}×" for k, v in ratios.items()), ""]
    sg, rg = results["stepscope_gen"] or [], results["reference_gen"] or []
    if sg or rg:
        lines += ["## Generation (Qwen2.5-1.5B shapes, random weights, bf16)", "",
                  "| backend | test | t/s |", "| --- | --- | ---: |"]
        for r in sg + rg:
            lines.append(f"| {r['backend']} | {r['test']} | {r['tokens_per_second']:.1f} ± {r['sd']:.1f} |")
        ratio = {}
        for r in sg:
            other = [x for x in rg if x["test"] == r["test"]]
            if other:
                ratio[r["test"]] = r["tokens_per_second"] / other[0]["tokens_per_second"]
        results["generation_speed_ratio"] = ratio
        lines += ["", "stepscope ÷ transformers: " + ", ".join(f"{k} {v:.2f}×" for k, v in ratio.items()), ""]
    lines += batched_generation(results)
    with open(os.path.join(report, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
