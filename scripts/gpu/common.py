"""Shared by the transformers reference scripts: load a Qwen2 body from our random checkpoints."""
import glob
import json
import os

import torch
from safetensors.torch import load_file


def load_qwen2(model_dir, device, dtype, causal_lm):
    """Qwen2Model (or Qwen2ForCausalLM) from config.json and the safetensors shards; returns the
    model and the tensors it did not take (a reward head)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Model

    config = Qwen2Config.from_pretrained(model_dir)
    config._attn_implementation = "sdpa"
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config) if causal_lm else Qwen2Model(config)
    finally:
        torch.set_default_dtype(previous)
    state = {}
    for f in sorted(glob.glob(os.path.join(model_dir, "*.safetensors"))):
        state.update(load_file(f, device=str(device)))
    rest = {}
    mine = {}
    for k, v in state.items():
        if causal_lm:
            mine[k] = v
        elif k.startswith("model."):
            mine[k[len("model."):]] = v
        else:
            rest[k] = v
    missing, unexpected = model.load_state_dict(mine, strict=False)
    missing = [m for m in missing if not m.endswith("lm_head.weight")]
    if missing or unexpected:
        raise SystemExit(f"{model_dir}: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if causal_lm and config.tie_word_embeddings:
        model.lm_head.weight = model.model.embed_tokens.weight
    model.eval()
    return model, rest


def chat_tokenizer(model_dir):
    """The folder's tokenizer.json with the chat template of tokenizer_config.json."""
    from transformers import PreTrainedTokenizerFast

    with open(os.path.join(model_dir, "tokenizer_config.json")) as f:
        cfg = json.load(f)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    tok.chat_template = cfg.get("chat_template")
    return tok


def sync(device):
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
