"""Greedy generation speed: mindgpt with the key/value cache vs recomputing the context (and HF openai-gpt).

    python benchmarks/bench_generate.py [--pretrained DIR] [--output benchmarks/results/generate.json]

Without --pretrained the model is randomly initialized with the default pretraining shape (4 layers x 256,
vocab 4,096) but n_positions=512, so that 32 + 256 tokens fit. Each setting is run once to compile, then
timed; tokens/s counts new tokens over all rows. Cached and uncached outputs must agree token for token.
If torch and transformers are importable, HF's OpenAIGPTLMHeadModel.generate runs on the same weights
(it has no cache: it recomputes the prefix for every token); otherwise that column is skipped with a note.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile

import numpy as np
import mindspore as ms

from mindgpt import GPTConfig, GPTLMHeadModel
from mindgpt.generate import generate

try:
    from benchmarks.common import machine, timed
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from common import machine, timed

SETTINGS = [(32, 256), (16, 64)]  # (prompt tokens, new tokens)


def median_timed(run, repeats: int) -> tuple[float, object]:
    """The median seconds of `repeats` calls of `run()`, and what the last returned: one call is a few seconds
    of decoding, and on a shared host a few seconds can land in a slow spell."""
    times = [timed(run) for _ in range(repeats)]
    return statistics.median(seconds for seconds, _ in times), times[-1][1]


def bench_mindgpt(model, prompts: list[list[int]], new: int, use_cache: bool,
                  warmup_new: int | None = None, repeats: int = 1) -> tuple[float, list]:
    """mindgpt's greedy `generate`, timed (the median of `repeats` runs) after a compiling warm-up of
    `warmup_new` tokens (default: `new`; 0: none). With the cache 2 warm-up tokens compile both steps; without it
    the compiled width is prompt + new, so a shorter warm-up does not cover it."""
    def run(n=new):
        return generate(model, prompts, max_new_tokens=n, use_cache=use_cache)

    if warmup_new != 0:
        run(new if warmup_new is None else warmup_new)
    return median_timed(run, repeats)


def bench_hf(directory: str, prompts: list[list[int]], new: int) -> tuple[float, list] | str:
    try:
        import torch
        from transformers import OpenAIGPTLMHeadModel
    except ImportError as e:
        return f"skipped: {e}"
    torch.set_num_threads(os.cpu_count() or 1)
    # HF's openai-gpt knows the tanh GELU as "gelu" only; mindgpt's default name for it is "gelu_new"
    model = OpenAIGPTLMHeadModel.from_pretrained(directory, afn="gelu").eval()
    return bench_hf_model(model, prompts, new)


def bench_hf_model(model, prompts: list[list[int]], new: int, warmup_new: int | None = None,
                   repeats: int = 1) -> tuple[float, list]:
    """HF greedy `generate` of `new` tokens per prompt, timed (the median of `repeats` runs) after one warm-up
    call of `warmup_new` tokens."""
    import torch

    ids = torch.tensor(prompts)

    def run(n=new):
        with torch.no_grad():
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                                 do_sample=False, eos_token_id=None, pad_token_id=0)
        return out.tolist()

    run(new if warmup_new is None else warmup_new)
    return median_timed(run, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrained", help="a model directory (default: random weights, see above)")
    parser.add_argument("--batch-size", type=int, default=1)
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "generate.json"))
    args = parser.parse_args()
    ms.set_context(mode=ms.GRAPH_MODE)
    ms.set_device("CPU")
    if args.pretrained:
        model = GPTLMHeadModel.from_pretrained(args.pretrained)
    else:
        ms.set_seed(0)
        model = GPTLMHeadModel(GPTConfig.from_preset("4x256", vocab_size=4096,
                                                     n_positions=512))
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as weights:
        model.save_pretrained(weights)
        for prompt_len, new in SETTINGS:
            if prompt_len + new > model.config.n_positions:
                print(f"skip {prompt_len}+{new}: more than n_positions={model.config.n_positions}")
                continue
            prompts = rng.integers(0, model.config.vocab_size, (args.batch_size, prompt_len)).tolist()
            cached_s, cached = bench_mindgpt(model, prompts, new, use_cache=True)
            full_s, full = bench_mindgpt(model, prompts, new, use_cache=False)
            tokens = args.batch_size * new
            row = {"prompt_tokens": prompt_len, "new_tokens": new, "batch_size": args.batch_size,
                   "cached_tokens_per_s": tokens / cached_s, "uncached_tokens_per_s": tokens / full_s,
                   "speedup": full_s / cached_s, "cached_equals_uncached": cached == full}
            hf = bench_hf(weights, prompts, new)
            if isinstance(hf, str):
                row["hf_note"] = hf
            else:
                row.update(hf_tokens_per_s=tokens / hf[0], hf_equals_mindgpt=hf[1] == cached)
            rows.append(row)
    result = {"machine": machine(mindspore=ms.__version__),
              "model": {k: model.config.to_dict()[k] for k in ("n_layer", "n_embd", "n_head", "vocab_size",
                                                                "n_positions")},
              "weights": args.pretrained or "random", "results": rows}
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(f"{'prompt':>6} {'new':>4} {'cached tok/s':>12} {'uncached tok/s':>14} {'speedup':>7} {'HF tok/s':>9} "
          f"{'same tokens':>11}")
    for r in rows:
        hf = f"{r['hf_tokens_per_s']:9.1f}" if "hf_tokens_per_s" in r else f"{'-':>9}"
        same = r["cached_equals_uncached"] and r.get("hf_equals_mindgpt", True)
        print(f"{r['prompt_tokens']:6d} {r['new_tokens']:4d} {r['cached_tokens_per_s']:12.1f} "
              f"{r['uncached_tokens_per_s']:14.1f} {r['speedup']:6.1f}x {hf} {str(same):>11}")
    print(f"written to {args.output}")


if __name__ == "__main__":
    main()
