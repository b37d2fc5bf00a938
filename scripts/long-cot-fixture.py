#!/usr/bin/env python3
"""Writes a deterministic long chain-of-thought trace (native JSONL, one record) for the scale
measurements of issue 32: a `<think>` block of UNITS units (about 60 tokens each, so 500 units
are about 30k tokens) with a reflection ("Wait", "Hmm", "Actually", ...) every few units and a
new approach ("Alternatively", "Let me try") every few dozen, then a short answer.

    scripts/long-cot-fixture.py OUT.jsonl [UNITS]   (default 500)
"""
import json
import random
import sys

out = sys.argv[1]
units = int(sys.argv[2]) if len(sys.argv) > 2 else 500
rng = random.Random(32)
words = ("so the total of the boxes is then each row holds more apples than before and we "
         "count them again carefully with the numbers given in the problem statement").split()
reflections = ["Wait,", "Hmm,", "Actually,", "Let me double-check:", "But wait,"]
shifts = ["Alternatively,", "Let me try another way:"]

def filler(n):
    return " ".join(rng.choice(words) for _ in range(n))

parts = []
for i in range(units):
    a, b = rng.randint(10, 999), rng.randint(10, 999)
    if i > 0 and i % 40 == 0:
        lead = rng.choice(shifts)
    elif i > 0 and i % 5 == 0:
        lead = rng.choice(reflections)
    else:
        lead = "Next,"
    parts.append(f"{lead} {filler(30)}. We compute {a} + {b} = {a + b}, and {filler(8)}.")
answer = "The answer is \\boxed{42}."
row = {
    "stepscope": 1,
    "id": f"long-cot-{units}",
    "problem": "A long problem: " + filler(40) + "?",
    "solution": "<think>\n" + "\n\n".join(parts) + "\n</think>\n\n" + answer,
    "reference_answer": "42",
    "generator": "scripts/long-cot-fixture.py",
}
with open(out, "w") as f:
    f.write(json.dumps(row) + "\n")
